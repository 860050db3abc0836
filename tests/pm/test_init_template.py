"""``hype init --template live``: the scaffolded LiveView app serves and works over the protocol."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from hypelua.live._app import read_root

ROOT = Path(__file__).resolve().parents[2]


def _hype(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Page:
    def __init__(self, base: str, path: str) -> None:
        self.html = httpx.get(base + path).text
        self.path, self.token, self.ws = read_root(self.html)
        self.base = base
        self.ref = 0

    async def __aenter__(self) -> Page:
        self.conn = await websockets.connect(self.base.replace("http", "ws") + self.ws)
        r = await self.call("join", path=self.path, session=self.token)
        assert r["status"] == "ok", r
        self.rendered = r["rendered"]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.conn.close()

    async def call(self, t: str, **fields: Any) -> dict[str, Any]:
        self.ref += 1
        await self.conn.send(json.dumps({"v": 1, "t": t, "ref": self.ref, **fields}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.conn.recv(), 10))
            if frame.get("ref") == self.ref:
                return frame


def test_init_live_scaffolds_a_working_app(tmp_path: Path) -> None:
    out = _hype("init", "--template", "live", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"app.lua", "views", "hype.json", "README.md", ".gitignore"}
    manifest = json.loads((tmp_path / "hype.json").read_text())
    assert manifest["main"] == "app.lua" and manifest["scripts"]["start"] == "hype serve app.lua"
    again = _hype("init", "--template", "live", cwd=tmp_path)
    assert again.returncode == 1 and "MANIFEST_EXISTS" in again.stderr  # never overwrites silently
    other = tmp_path / "other"
    other.mkdir()
    (other / "app.lua").write_text("-- mine")
    clash = _hype("init", "--template", "live", cwd=other)
    assert clash.returncode == 1 and "FILE_EXISTS" in clash.stderr and (other / "app.lua").read_text() == "-- mine"

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "serve", "app.lua", "--port", str(port),
                             "--log-level", "warning"], cwd=tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "hype serve did not start"
                time.sleep(0.1)

        async def main() -> None:
            async with Page(base, "/counter?start=5") as p:
                r = await p.call("event", event="inc", payload={})
                assert r["status"] == "ok" and json.dumps(r["diff"]).count("6") == 1
            async with Page(base, "/todos") as p:
                r = await p.call("event", event="add", payload={"title": "ab"})
                assert r["status"] == "ok" and "too short" in json.dumps(r["diff"])  # next to the field
                r = await p.call("event", event="add", payload={"title": "buy milk"})
                await asyncio.sleep(0.2)
            async with Page(base, "/todos") as p:  # stored: a new page sees it
                assert "buy milk" in json.dumps(p.rendered)
            async with Page(base, "/table?page=2") as p:
                assert "Item 21" in json.dumps(p.rendered) and "Items, page " in json.dumps(p.rendered)
                r = await p.call("event", event="bump", payload={"key": "item-021"})
                assert r["status"] == "ok" and len(json.dumps(r["diff"])) < 200, r
                r = await p.call("patch", url="/table?page=3")
                assert "Item 41" in json.dumps(r["diff"])

        asyncio.run(main())
    finally:
        proc.terminate()
        proc.wait(15)
