"""LiveView: bytes on the wire, server diff time, memory per session, 1,000 WebSocket clients, events/s.

    .venv/bin/python bench/bench_live.py [--clients 1000] [--events 2000] [--rounds 200] [--lua]

In process (one Session, no transport):

* **one cell** of a 200-row table (3 cells per row) changes: the reply frame's bytes (target
  <= 300 B) against the table's full HTML (Livewire's baseline, measured here), and the
  initial join frame;
* **server diff time** for that change: the event handled, the table re-rendered (change
  tracking skips nothing here: the rows assign changed) and diffed, median over
  ``--rounds`` (target <= 2 ms), against rendering the full HTML of the same table with
  the same template engine (what a server without diffs would do), same run;
* the same for a **Lua view** (``--lua``, both Lua back-ends when available);
* **memory per session**: ``tracemalloc`` over 200 joined counter sessions and 50 joined
  200-row sessions.

Over the network: ``hype serve`` (one uvicorn worker, a subprocess) with a counter view;
``--clients`` WebSocket clients each load the page, join and stay connected; the server's
RSS growth divided by the clients is the memory per connected session; then every client
sends events as fast as replies come (``--events`` in total): events/s for the process,
against a bare Starlette WebSocket echo endpoint in the same uvicorn setup (baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "py"))

from hypelua import live  # noqa: E402

TABLE = ('<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
         '<td>{{ row.email }}</td><td>{{ row.v }}</td></tr>{% end %}</table>')


class Table(live.LiveView):
    template = TABLE
    events = ("set",)

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(rows=[{"id": i, "name": f"Person {i}", "email": f"person{i}@example.com", "v": i * 7}
                          for i in range(200)])

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        rows = self.assigns["rows"]
        i = payload["i"]
        rows[i] = {**rows[i], "v": payload["v"]}
        self.assign(rows=rows)


class Counter(live.LiveView):
    template = '<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(count=self.assigns["count"] + 1)


LUA_TABLE = '''
local live = require("hype.live")
return live.view{
  template = [[TEMPLATE]],
  events = { "set" },
  mount = function(self)
    local rows = {}
    for i = 0, 199 do
      rows[#rows + 1] = { id = i, name = "Person " .. i, email = "person" .. i .. "@example.com", v = i * 7 }
    end
    self:assign{ rows = rows }
  end,
  handle_event = function(self, event, payload)
    local rows = self.assigns.rows
    local row = rows[payload.i + 1]
    rows[payload.i + 1] = { id = row.id, name = row.name, email = row.email, v = payload.v }
    self:assign{ rows = rows }
  end,
}
'''.replace("TEMPLATE", TABLE)


def wire(frame: Any) -> int:
    return len(json.dumps(frame, separators=(",", ":")).encode())


async def _session_case(factory: Any, rounds: int) -> dict[str, Any]:
    s = live.Session(factory, push=lambda f: None)
    join = await s.handle({"v": 1, "t": "join", "ref": 1, "path": "/"})
    assert join is not None and join["status"] == "ok", join
    html = live.to_html(join["rendered"])
    times, sizes = [], []
    for n in range(rounds):
        payload = {"i": n % 200, "v": f"v{n}"}
        frame = json.dumps({"v": 1, "t": "event", "ref": n + 2, "event": "set", "payload": payload})
        t0 = time.perf_counter()
        reply = await s.handle(frame)
        out = json.dumps(reply, separators=(",", ":"))
        times.append(time.perf_counter() - t0)
        sizes.append(len(out.encode()))
        await asyncio.sleep(0)
    # baseline: the full HTML of the same table with the compiled Python renderer (no diff, no
    # session): what a server sending whole pages (Livewire before deltas) computes per event
    from hypelua.live._render import Context

    render_table = live.compile_python(live.compile_template(TABLE))
    rows = [{"id": i, "name": f"Person {i}", "email": f"person{i}@example.com", "v": i * 7} for i in range(200)]
    base = []
    for _ in range(max(20, rounds // 4)):
        t0 = time.perf_counter()
        live.to_html(render_table({"rows": rows}, Context()))
        base.append(time.perf_counter() - t0)
    await s.close("leave")
    return {"join_bytes": wire(join), "html_bytes": len(html.encode()), "event_bytes": statistics.median(sizes),
            "event_ms": statistics.median(times) * 1e3, "event_p90_ms": sorted(times)[int(len(times) * 0.9)] * 1e3,
            "full_html_ms": statistics.median(base) * 1e3}


async def _memory_case(factory: Any, n: int) -> tuple[float, list[live.Session]]:
    """(Python bytes per joined session, the sessions: kept alive for the caller's measures)."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sessions = []
    for i in range(n):
        s = live.Session(factory, push=lambda f: None)
        await s.handle({"v": 1, "t": "join", "ref": 1, "path": "/"})
        await s.handle({"v": 1, "t": "event", "ref": 2, "event": "inc" if factory is Counter else "set",
                        "payload": {"i": i % 200, "v": "x"}})
        sessions.append(s)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(st.size_diff for st in after.compare_to(before, "filename")) / n, sessions


def _lua_factories() -> list[tuple[str, Any]]:
    try:
        from hypelua.live import load_view  # the Lua view loader (issue 10)
    except ImportError:
        return []
    from hypelua import Runtime

    out = []
    for backend in ("lupa", "ctypes"):
        try:
            d = tempfile.mkdtemp()
            Path(d, "table.lua").write_text(LUA_TABLE)
            rt = Runtime(backend=backend, project_root=d)
            out.append((backend, load_view(rt, "table.lua")))
        except Exception as exc:  # a back-end not built here is skipped, with the reason
            print(f"  (Lua {backend}: skipped: {exc})")
    return out


async def _lua_memory_case(backend: str, n: int) -> tuple[float, float]:
    """(Lua heap KiB, Python KiB) per joined 200-row Lua session, on one runtime."""
    from hypelua import Runtime
    from hypelua.live import load_view

    d = tempfile.mkdtemp()
    Path(d, "table.lua").write_text(LUA_TABLE)
    rt = Runtime(backend=backend, project_root=d)
    factory = load_view(rt, "table.lua")
    heap = "collectgarbage(); collectgarbage(); return collectgarbage('count')"
    lua0 = rt.execute(heap)[0]
    py, sessions = await _memory_case(factory, n)
    lua1 = rt.execute(heap)[0]
    del sessions
    return (lua1 - lua0) / n, py / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER_APP = '''
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from hypelua import live

class Counter(live.LiveView):
    template = '<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>'
    def mount(self, params, session): self.assign(count=0)
    def handle_event(self, event, payload): self.assign(count=self.assigns["count"] + 1)

app = live.app({"/": Counter})

async def echo(ws):
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            await ws.send_text(text)
    except Exception:
        pass

echo_app = Starlette(routes=[WebSocketRoute("/_hype/live/ws", echo)])
'''


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _start(cwd: str, target: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "py"), "HYPE_SECRET_KEY": "bench"}
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "serve", target, "--port", str(port),
                             "--log-level", "warning"], cwd=cwd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{target} did not start")


async def _clients(port: int, n: int, events: int, live_protocol: bool) -> dict[str, float]:
    import httpx
    import websockets

    from hypelua.live._app import read_root

    sem = asyncio.Semaphore(50)
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=50))

    async def open_one() -> Any:
        async with sem:
            path = tok = ""
            if live_protocol:
                path, tok, _ = read_root((await client.get(f"http://127.0.0.1:{port}/")).text)
            conn = await websockets.connect(f"ws://127.0.0.1:{port}/_hype/live/ws", max_queue=None)
            await conn.send(json.dumps({"v": 1, "t": "join", "ref": 1, "path": path, "session": tok}))
            await conn.recv()
            return conn

    t0 = time.perf_counter()
    conns = await asyncio.gather(*(open_one() for _ in range(n)))
    await client.aclose()
    connect_s = time.perf_counter() - t0
    per_client = max(1, events // n)
    frame = json.dumps({"v": 1, "t": "event", "ref": 2, "event": "inc", "payload": {}})

    async def drive(conn: Any) -> None:
        for _ in range(per_client):
            await conn.send(frame)
            await conn.recv()

    t0 = time.perf_counter()
    await asyncio.gather(*(drive(c) for c in conns))
    elapsed = time.perf_counter() - t0
    return {"conns": conns, "connect_s": connect_s, "events_per_s": per_client * n / elapsed}  # type: ignore[dict-item]


async def _network(clients: int, events: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        Path(d, "bench_live_app.py").write_text(SERVER_APP)
        for name, target in (("live", "bench_live_app:app"), ("echo", "bench_live_app:echo_app")):
            port = _free_port()
            proc = _start(d, target, port)
            try:
                await asyncio.sleep(0.5)
                rss0 = _rss_kb(proc.pid)
                res = await _clients(port, clients, events, name == "live")
                rss1 = _rss_kb(proc.pid)
                out[name] = {"events_per_s": res["events_per_s"], "connect_s": res["connect_s"],
                             "rss_per_client_kb": (rss1 - rss0) / clients}
                await asyncio.gather(*(c.close() for c in res["conns"]))  # type: ignore[attr-defined]
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--lua", action="store_true", help="also measure the Lua view of the same table")
    ap.add_argument("--no-network", action="store_true")
    args = ap.parse_args()

    print("one cell changed in a 200-row table (3 cells/row):")
    cases: list[tuple[str, Any]] = [("python", Table)]
    if args.lua:
        cases += [(f"lua/{b}", f) for b, f in _lua_factories()]
    for name, factory in cases:
        r = asyncio.run(_session_case(factory, args.rounds))
        ratio = r["html_bytes"] / r["event_bytes"]
        print(f"  {name:11s} reply {r['event_bytes']:.0f} B (target <= 300) vs full HTML {r['html_bytes']} B "
              f"({ratio:.0f}x smaller); join {r['join_bytes']} B")
        base = f" vs full HTML render {r['full_html_ms']:.2f} ms ({r['event_ms'] / r['full_html_ms']:.2f}x)"
        print(f"  {name:11s} server time for the event (render + diff + reply JSON) "
              f"median {r['event_ms']:.2f} ms, p90 {r['event_p90_ms']:.2f} ms (target <= 2){base}")
    print("memory per joined session (tracemalloc):")
    print(f"  counter    {asyncio.run(_memory_case(Counter, 200))[0] / 1024:.1f} KiB")
    print(f"  200-row    {asyncio.run(_memory_case(Table, 50))[0] / 1024:.1f} KiB")
    if args.lua:
        for name, _ in cases[1:]:
            backend = name.split("/")[1]
            lua_kb, py_kb = asyncio.run(_lua_memory_case(backend, 50))
            print(f"  200-row Lua ({backend}): {lua_kb:.1f} KiB Lua heap + {py_kb:.1f} KiB Python")
    if args.no_network:
        return
    print(f"{args.clients} WebSocket clients on one hype serve process (counter view):")
    net = asyncio.run(_network(args.clients, args.events))
    lv, echo = net["live"], net["echo"]
    print(f"  held {args.clients} sessions; connect+join all in {lv['connect_s']:.1f} s; "
          f"server RSS +{lv['rss_per_client_kb']:.1f} KiB per connected session "
          f"(bare WebSocket echo: +{echo['rss_per_client_kb']:.1f} KiB)")
    print(f"  events/s: {lv['events_per_s']:.0f} (bare Starlette WebSocket echo: {echo['events_per_s']:.0f}; "
          f"{lv['events_per_s'] / echo['events_per_s']:.2f}x)")


if __name__ == "__main__":
    main()
