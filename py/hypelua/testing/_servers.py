"""Real peers for tests (AGENTS: "a mock stands in for none of them"): Redis on a free port,
``hype serve`` in a subprocess.  Used by tests/ and playwright/."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s} s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def redis_server(timeout_s: float = 10.0) -> Iterator[str]:
    """Debian's ``redis-server`` on a free port (no persistence); yields ``redis://127.0.0.1:PORT``.

    Raises:
        FileNotFoundError: ``redis-server`` is not installed (``./build.sh deps`` installs it).
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server is not installed (./build.sh deps)")
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", d], stdout=subprocess.DEVNULL)
        try:
            _wait_port(port, proc, timeout_s, "redis-server")
            yield f"redis://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def hype_serve(app: str, cwd: str | os.PathLike[str], *args: str, port: int | None = None,
               timeout_s: float = 30.0) -> Iterator[str]:
    """``python -m hypelua serve APP`` in ``cwd`` (this checkout's ``py/`` first on the path);
    yields the base URL; SIGTERM, then SIGKILL, on exit."""
    port = port or free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "py") if (root / "py").is_dir()
                                                                      else "", os.environ.get("PYTHONPATH", "")]))}
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "serve", app, "--port", str(port),
                             "--log-level", "warning", *args], cwd=cwd, env=env)
    try:
        _wait_port(port, proc, timeout_s, f"hype serve {app}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
