"""Fixtures: an isolated HYPE_HOME and a live registry server on 127.0.0.1 (uvicorn in a thread)."""

from __future__ import annotations

import socket
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
    from hypelua.pm._server import create_app, running_in_thread

    storage = tmp_path / "registry-storage"
    token = "s3cret-token"
    with running_in_thread(create_app(storage, token=token)) as url:
        yield LiveRegistry(url, storage, token)
