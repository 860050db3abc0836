"""A real uvicorn server on 127.0.0.1 and a free port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn until the block ends; yields ``http://127.0.0.1:PORT``."""
    import uvicorn

    port = free_port()
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="session")
def serve() -> Any:
    """``with serve(app) as base_url: ...`` (see :func:`running`)."""
    return running
