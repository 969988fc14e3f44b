"""The bubblewrap command builder and the run-with-limits loop.

Layout inside the sandbox: the host's /usr, /bin, /lib*, /etc and the Python installation are
mounted read-only; the work tree is bound read-write at its own path (so tracebacks name real
paths); /tmp is a private tmpfs; everything else of the host (/root, /home, /work, ...) is absent.
All namespaces are unshared, network included.
"""

from __future__ import annotations

import enum
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_SYSTEM_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class ExecStatus(str, enum.Enum):
    """Outcome of one sandboxed process; infra failure, failure and timeout are distinct."""

    OK = "ok"  # exited 0
    FAILED = "failed"  # exited non-zero
    TIMEOUT = "timeout"  # wall-clock limit hit; process group killed
    MEMORY = "memory"  # killed by the memory limit (best effort: MemoryError / SIGKILL)
    INFRA_ERROR = "infra_error"  # the sandbox itself could not start


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 60.0
    memory_mb: int = 2048
    max_output_bytes: int = 4_000_000


@dataclass
class SandboxResult:
    status: ExecStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    detail: str = ""
    argv: list[str] = field(default_factory=list)


def bwrap_available() -> bool:
    return shutil.which("bwrap") is not None


def _python_roots() -> list[str]:
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    # A venv's interpreter is a symlink into the base installation; both must be visible.
    roots.add(os.path.realpath(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))))
    return sorted(r for r in roots if os.path.isdir(r))


def build_command(
    argv: list[str],
    *,
    workdir: Path,
    ro_paths: tuple[str, ...] = (),
    rw_paths: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    links: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for p in _SYSTEM_RO:
        if os.path.exists(p):
            cmd += ["--ro-bind", p, p] if not os.path.islink(p) else ["--symlink", os.readlink(p), p]
    # tmpfs first: later binds may live under /tmp (a venv, a scratch copy) and must stay visible.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for p in [*_python_roots(), *ro_paths]:
        cmd += ["--ro-bind", p, p]
    for p in (str(workdir), *rw_paths):
        cmd += ["--bind", p, p]
    for alias, target in links:  # e.g. /repo -> the work tree, the path an agent's prompt promises
        cmd += ["--symlink", target, alias]
    cmd += ["--chdir", str(workdir), "--clearenv"]
    base_env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "TZ": "UTC",
    }
    for k, v in {**base_env, **(env or {})}.items():
        cmd += ["--setenv", k, v]
    return [*cmd, "--", *argv]


def limit_prefix(limits: SandboxLimits) -> list[str]:
    """util-linux `prlimit` in front of bwrap sets the limits the sandboxed tree inherits.

    Not a `preexec_fn`: that forces a real fork() in which C-level atfork handlers run (gRPC's, once
    Beam's SDK harness has loaded it, abort the child); without it CPython uses vfork and exec.
    """
    mem = limits.memory_mb * 1024 * 1024
    return ["prlimit", f"--as={mem}", "--core=0", f"--fsize={512 * 1024 * 1024}", "--"]


def _decode(data: bytes, cap: int) -> str:
    text = data[:cap].decode("utf-8", errors="replace")
    return text + (f"\n[... {len(data) - cap} bytes truncated]" if len(data) > cap else "")


def run_sandboxed(
    argv: list[str],
    *,
    workdir: Path,
    limits: SandboxLimits = SandboxLimits(),
    ro_paths: tuple[str, ...] = (),
    rw_paths: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    links: tuple[tuple[str, str], ...] = (),
) -> SandboxResult:
    """Run `argv` in a fresh sandbox rooted at `workdir`; never raises for the child's behaviour."""
    if not bwrap_available():
        return SandboxResult(ExecStatus.INFRA_ERROR, None, "", "", 0.0, "bwrap not found on PATH")
    cmd = limit_prefix(limits) + build_command(argv, workdir=Path(workdir), ro_paths=ro_paths, rw_paths=rw_paths,
                                               env=env, links=links)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return SandboxResult(ExecStatus.INFRA_ERROR, None, "", "", 0.0, f"could not start bwrap: {exc}", cmd)
    try:
        out, err = proc.communicate(input=stdin, timeout=limits.timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    duration = time.monotonic() - start
    stdout = _decode(out, limits.max_output_bytes)
    stderr = _decode(err, limits.max_output_bytes)
    if timed_out:
        return SandboxResult(ExecStatus.TIMEOUT, None, stdout, stderr, duration,
                             f"wall-clock limit {limits.timeout_s}s exceeded", cmd)
    rc = proc.returncode
    if rc != 0 and stderr.startswith(("bwrap:", "prlimit:")):
        return SandboxResult(ExecStatus.INFRA_ERROR, rc, stdout, stderr, duration, stderr.strip()[:500], cmd)
    if rc == -signal.SIGKILL or "MemoryError" in stderr[-2000:]:
        status = ExecStatus.MEMORY if rc != 0 else ExecStatus.OK
        return SandboxResult(status, rc, stdout, stderr, duration, "memory limit" if rc else "", cmd)
    return SandboxResult(ExecStatus.OK if rc == 0 else ExecStatus.FAILED, rc, stdout, stderr, duration, "", cmd)
