"""Fixtures: an isolated HYPE_HOME and a live registry server on 127.0.0.1 (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hype_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hype-home"
    monkeypatch.setenv("HYPE_HOME", str(home))
    monkeypatch.delenv("HYPE_REGISTRY", raising=False)
    monkeypatch.delenv("HYPE_TOKEN", raising=False)
    return home


class LiveRegistry:
    def __init__(self, url: str, storage: Path, token: str) -> None:
        self.url, self.storage, self.token = url, storage, token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[LiveRegistry]:
    import uvicorn

    from hypelua.pm._server import create_app

    storage = tmp_path / "registry-storage"
    token = "s3cret-token"
    port = _free_port()
    config = uvicorn.Config(create_app(storage, token=token), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("registry server did not start")
        time.sleep(0.01)
    try:
        yield LiveRegistry(f"http://127.0.0.1:{port}", storage, token)
    finally:
        server.should_exit = True
        thread.join(10)
