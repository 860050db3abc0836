"""HTTP throughput of ``hype serve``: Lua routes against Starlette routes and a raw ASGI callable.

    .venv/bin/python bench/bench_http.py [--duration 5] [--rounds 3] [--connections 32] [--threads 1]

Every server is ``python -m hypelua serve APP --log-level warning`` (so the same uvicorn
flags for all: uvicorn's ``auto`` choices, i.e. httptools and uvloop when installed, no
access log), one worker unless the case says ``x2``, all started by this script in a
temporary directory and left idle while another is measured.  ``wrk`` (Debian package)
measures each case for ``--duration`` seconds; the rounds interleave the cases (each
round in a rotated order) and the figures are medians over the rounds.

Cases: plain-text hello as a raw ASGI callable, a Starlette route and a Lua route; a 1 KB
JSON echo (POST) as a Starlette and a Lua route; a Lua route reading one row from storage;
the Lua and Starlette hello with ``--workers 2``.  Prints req/s, p50/p99 latency and the
ratios Lua/Starlette (targets: hello >= 0.7, JSON echo >= 0.7).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

PY_APPS = '''
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


starlette_app = Starlette(routes=[Route("/", hello), Route("/echo", echo, methods=["POST"])])


async def raw_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
'''

LUA_APP = '''
local http = require("hype.http")
local app = http.app()
local bench = storage.table("bench")
if bench.row1 == nil then bench.row1 = { name = "Ann", age = 31, tags = { "a", "b" } } end

app:get("/", function(req, res) res:send("hello") end)
app:post("/echo", function(req, res) res:json(req:json()) end)
app:get("/row", function(req, res) res:json(bench.row1) end)

return app
'''

#: wrk's report as one JSON line (wrk's own text rounds and mixes units)
WRK_REPORT = '''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"socket_errors": %d, "non_2xx": %d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
'''


def echo_body() -> str:
    """A JSON object of 1024 bytes (compact)."""
    doc: dict[str, object] = {"id": 12345, "name": "hypelua", "tags": ["lua", "python", "asgi"], "pad": ""}
    doc["pad"] = "x" * (1024 - len(json.dumps(doc, separators=(",", ":"))))
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text) == 1024
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m hypelua serve APP`` in ``cwd`` (own session, so killpg reaches its workers)."""

    def __init__(self, cwd: Path, app: str, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "py"), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hypelua", "serve", app, "--port", str(self.port), "--workers", str(workers),
             "--log-level", "warning", "--database", str(cwd / "bench.db")],
            cwd=cwd, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                httpx.get(self.url + "/", timeout=5)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit(f"server on {self.url} did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wrk(url: str, script: Path, args: argparse.Namespace, duration: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "-s", str(script), url],
        capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1e3,
            "p99_ms": r["p99_us"] / 1e3, "errors": r["socket_errors"] + r["non_2xx"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run ./build.sh deps (or apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="bench_http."))
    servers: dict[str, Server] = {}
    try:
        (work / "bench_apps.py").write_text(PY_APPS)
        (work / "app.lua").write_text(LUA_APP)
        body = echo_body()
        get = work / "get.lua"
        get.write_text(WRK_REPORT)
        post = work / "post.lua"
        post.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                        'wrk.headers["Content-Type"] = "application/json"\n' + WRK_REPORT)

        specs = {"raw": ("bench_apps:raw_app", 1), "starlette": ("bench_apps:starlette_app", 1),
                 "lua": ("app.lua", 1), "starlette x2": ("bench_apps:starlette_app", 2), "lua x2": ("app.lua", 2)}
        for name, (app, workers) in specs.items():
            servers[name] = Server(work, app, workers)
        for server in servers.values():
            server.wait_ready()

        # the responses are right before they are timed
        for name in ("starlette", "lua"):
            url = servers[name].url
            assert httpx.get(url + "/").text == "hello", name
            echoed = httpx.post(url + "/echo", content=body, headers={"content-type": "application/json"})
            assert echoed.status_code == 200 and echoed.json() == json.loads(body), name
        assert httpx.get(servers["raw"].url + "/").text == "hello"
        assert httpx.get(servers["lua"].url + "/row").json()["name"] == "Ann"

        cases = [  # (label, server, path, wrk script)
            ("hello  raw ASGI", "raw", "/", get),
            ("hello  Starlette", "starlette", "/", get),
            ("hello  Lua", "lua", "/", get),
            ("echo   Starlette (1 KB JSON POST)", "starlette", "/echo", post),
            ("echo   Lua (1 KB JSON POST)", "lua", "/echo", post),
            ("row    Lua (one storage row as JSON)", "lua", "/row", get),
            ("hello  Starlette --workers 2", "starlette x2", "/", get),
            ("hello  Lua --workers 2", "lua x2", "/", get),
        ]
        for _label, server, path, script in cases:  # warm-up
            wrk(servers[server].url + path, script, args, 1)
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in cases}
        for r in range(args.rounds):
            for label, server, path, script in cases[r % len(cases):] + cases[:r % len(cases)]:
                runs[label].append(wrk(servers[server].url + path, script, args, args.duration))
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = {label: {k: statistics.median(run[k] for run in rs) for k in ("rps", "p50_ms", "p99_ms")}
           for label, rs in runs.items()}
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, {args.rounds} interleaved rounds "
          f"(medians), {os.cpu_count()} CPUs, one uvicorn worker unless --workers 2")
    print(f"  {'case':40s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}   req/s of each round")
    for label, m in med.items():
        rounds = " ".join(f"{run['rps']:.0f}" for run in runs[label])
        errors = sum(run["errors"] for run in runs[label])
        note = f"   ({errors:.0f} errors)" if errors else ""
        print(f"  {label:40s} {m['rps']:9.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f}   {rounds}{note}")

    def ratio(a: str, b: str) -> float:
        return med[a]["rps"] / med[b]["rps"]

    hello, echo = ratio("hello  Lua", "hello  Starlette"), ratio("echo   Lua (1 KB JSON POST)",
                                                                    "echo   Starlette (1 KB JSON POST)")
    print("ratios (req/s):")
    print(f"  Lua hello / Starlette hello      {hello:.2f}x   target >= 0.7: {'met' if hello >= 0.7 else 'NOT met'}")
    print(f"  Lua echo / Starlette echo        {echo:.2f}x   target >= 0.7: {'met' if echo >= 0.7 else 'NOT met'}")
    print(f"  Starlette hello / raw ASGI       {ratio('hello  Starlette', 'hello  raw ASGI'):.2f}x")
    print(f"  Lua storage row / Lua hello      {ratio('row    Lua (one storage row as JSON)', 'hello  Lua'):.2f}x")
    print(f"  Lua --workers 2 / 1 worker       {ratio('hello  Lua --workers 2', 'hello  Lua'):.2f}x")
    print(f"  Starlette --workers 2 / 1 worker {ratio('hello  Starlette --workers 2', 'hello  Starlette'):.2f}x")


if __name__ == "__main__":
    main()
