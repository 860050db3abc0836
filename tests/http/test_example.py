"""examples/server/app.lua: the JSON API with storage, the static page and the WebSocket echo."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import websockets

from hypelua.http import lua_app

EXAMPLE = Path(__file__).parents[2] / "examples" / "server" / "app.lua"


def test_example_server(tmp_path: Path, serve: Any) -> None:
    db = str(tmp_path / "todo.db")
    app = lua_app(EXAMPLE, database=db)
    with serve(app) as base:
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "<h1>Todos</h1>" in page.text
        r = httpx.post(base + "/api/todos", json={"title": "milk"})
        assert r.status_code == 201
        todo = r.json()
        assert httpx.post(base + "/api/todos", json={"title": ""}).status_code == 422
        assert httpx.get(base + "/api/todos").json() == [todo]
        assert httpx.patch(base + f"/api/todos/{todo['id']}", json={"done": True}).json()["done"] is True
        assert "x-served-by" in httpx.get(base + f"/api/todos/{todo['id']}").headers

        async def echo() -> None:
            async with websockets.connect(base.replace("http", "ws") + "/echo") as ws:
                assert await ws.recv() == "connected"
                await ws.send("hi")
                assert await ws.recv() == "echo: hi"

        asyncio.run(echo())
    app.close()
    # committed rows survive a restart
    app = lua_app(EXAMPLE, database=db)
    with serve(app) as base:
        rows = httpx.get(base + "/api/todos").json()
        assert [(t["title"], t["done"]) for t in rows] == [("milk", True)]
        assert httpx.delete(base + f"/api/todos/{rows[0]['id']}").status_code == 204
        assert httpx.get(base + f"/api/todos/{rows[0]['id']}").status_code == 404
    app.close()
