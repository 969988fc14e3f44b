"""The default pipeline through Beam's portable path, the shape of Flink with SDK worker sidecars:
PortableRunner + embedded job server + an EXTERNAL worker pool running in a separate process from a
separate virtual environment that has only the built wheel installed. Its output must equal the
direct run's, byte for byte."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracemill.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--quiet", "--set", "grading.timeout_s=4"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    work = tmp_path_factory.mktemp("portable")
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("tracemill-*.whl")
    venv = work / "worker-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True)
    port = _free_port()
    # The pool starts SDK workers as `python` from PATH: the worker venv must come first. Its cwd is
    # outside the source tree, so workers can only import tracemill from the wheel.
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": ""}
    log = (work / "pool.log").open("w")  # closed after the pool stops
    pool = subprocess.Popen([str(venv / "bin" / "python"), "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        pool.kill()
        pytest.fail(f"worker pool did not start: {(work / 'pool.log').read_text()[-2000:]}")
    yield port, venv
    pool.kill()
    pool.wait()
    log.close()


def test_worker_venv_imports_tracemill_from_the_wheel(worker_pool):
    _, venv = worker_pool
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import tracemill, schemas; print(tracemill.__file__)"],
                         cwd="/", capture_output=True, text=True, check=True).stdout
    assert "site-packages" in out and str(ROOT) not in out


def test_portable_run_equals_direct_run(worker_pool, tmp_path):
    port, _ = worker_pool
    direct, portable = tmp_path / "direct", tmp_path / "portable"
    assert main(["sft-mix", "--out", str(direct), *ARGS]) == 0
    assert main(["sft-mix", "--out", str(portable), *ARGS, "--runner=PortableRunner", "--job_endpoint=embed",
                 "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}"]) == 0
    files = sorted(p.relative_to(direct) for p in direct.rglob("*") if p.is_file()
                   and p.name not in ("run_info.json", "audit.duckdb") and "timings" not in p.parts)
    assert len(files) > 20
    for rel in files:
        assert (portable / rel).read_bytes() == (direct / rel).read_bytes(), rel
