"""The sandbox is real: bubblewrap with no network, a read-only system and hidden host folders."""

import sys

import pytest

from tracemill.sandbox import ExecStatus, SandboxLimits, run_sandboxed
from tracemill.sandbox import bwrap as bwrap_mod

pytestmark = pytest.mark.sandbox


def py(code: str, tmp_path, **kw):
    return run_sandboxed([sys.executable, "-c", code], workdir=tmp_path, **kw)


def test_runs_and_captures_output(tmp_path):
    res = py("print('hello')", tmp_path)
    assert res.status == ExecStatus.OK and res.stdout.strip() == "hello"


def test_workdir_is_writable_and_persists(tmp_path):
    assert py("open('out.txt', 'w').write('x')", tmp_path).status == ExecStatus.OK
    assert (tmp_path / "out.txt").read_text() == "x"


def test_network_is_unreachable(tmp_path):
    res = py("import socket; socket.create_connection(('127.0.0.1', 22), timeout=2)", tmp_path)
    assert res.status == ExecStatus.FAILED
    assert "ConnectionRefused" in res.stderr or "Network is unreachable" in res.stderr


def test_system_is_read_only(tmp_path):
    res = py("open('/usr/evil', 'w')", tmp_path)
    assert res.status == ExecStatus.FAILED and "Read-only file system" in res.stderr


def test_host_files_outside_the_mounts_are_hidden(tmp_path):
    # Only the system, the Python installation (a venv may live under the project) and the work tree
    # are mounted; the project's own sources and home folders are not.
    this_file = __file__
    res = py(f"import os; print(os.path.exists({this_file!r}), os.path.exists('/home'))", tmp_path)
    assert res.stdout.split() == ["False", "False"]


def test_timeout_kills_the_whole_process_group(tmp_path):
    res = py("import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)", tmp_path,
             limits=SandboxLimits(timeout_s=1.0))
    assert res.status == ExecStatus.TIMEOUT
    assert res.duration_s < 10


def test_memory_limit(tmp_path):
    res = py("x = bytearray(1500 * 1024 * 1024)", tmp_path, limits=SandboxLimits(memory_mb=400))
    assert res.status == ExecStatus.MEMORY


def test_environment_is_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    res = py("import os; print(os.environ.get('OPENAI_API_KEY'))", tmp_path)
    assert res.stdout.strip() == "None"


def test_missing_bwrap_is_an_infra_error(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap_mod.shutil, "which", lambda name: None)
    res = py("print(1)", tmp_path)
    assert res.status == ExecStatus.INFRA_ERROR and "bwrap" in res.detail
