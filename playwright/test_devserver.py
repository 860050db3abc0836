"""hypelua._devserver: headers, MIME types, redirect (no browser needed)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypelua._devserver import start_in_thread


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    for name, body in {"a.mjs": b"export {}", "b.wasm": b"\0asm", "c.whl": b"PK", "d.json": b"{}",
                       "hype-sw.js": b"//"}.items():
        (tmp_path / name).write_bytes(body)
    (tmp_path / "playground").mkdir()
    (tmp_path / "playground" / "index.html").write_text("<!doctype html>")
    server, url = start_in_thread(tmp_path)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_mime_types_and_isolation_headers(served: str) -> None:
    expected = {"a.mjs": "text/javascript", "b.wasm": "application/wasm",
                "c.whl": "application/zip", "d.json": "application/json"}
    for name, mime in expected.items():
        with urllib.request.urlopen(served + name) as r:
            assert r.headers["Content-Type"] == mime
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_service_worker_may_control_the_whole_origin(served: str) -> None:
    with urllib.request.urlopen(served + "hype-sw.js?prefix=/api/") as r:
        assert r.headers["Service-Worker-Allowed"] == "/" and r.headers["Content-Type"] == "text/javascript"
    with urllib.request.urlopen(served + "a.mjs") as r:
        assert r.headers["Service-Worker-Allowed"] is None


def test_root_redirects_to_playground(served: str) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(served)
    assert info.value.code == 302 and info.value.headers["Location"] == "/playground/"
    with urllib.request.urlopen(served) as r:  # followed
        assert r.read() == b"<!doctype html>"


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"build\.sh dist"):
        start_in_thread(tmp_path / "nope")
