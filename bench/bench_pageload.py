"""Page load -> first result: bare Pyodide worker vs hypelua (SPEC 4, issue 2).

In ONE headless Chromium run, alternating, N fresh page loads (each in a new
browser context: empty HTTP cache and IndexedDB) of

  (i)  dist/web/bare-pyodide/  a module worker: loadPyodide() + ``1+1``
  (ii) dist/web/demo/?autorun  <script src=hypelua.js>, ``Hype.load()`` -> first ``run('return 1')``

Each page records ``performance.now()`` (ms since navigation start) when the
result arrives.  Prints the medians and the ratio (target <= 1.25x), and with
``--append`` adds the figures to bench/RESULTS.md.

    .venv/bin/python bench/bench_pageload.py [-n 5] [--append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from hypelua._devserver import start_in_thread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]
HEADING = "## Page load to first Lua result (issue 2)"
TARGET = 1.25


def measure(browser, url: str) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(180_000)
        page.goto(url)
        page.wait_for_function("() => window.benchResult !== undefined")
        result = page.evaluate("() => window.benchResult")
        if not result or "error" in result:
            raise RuntimeError(f"{url}: {result}")
        return result
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=5, help="page loads per variant (>= 3)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "web")
    parser.add_argument("--append", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.n < 3:
        parser.error("-n must be >= 3")
    if not (args.dist / "manifest.json").is_file():
        parser.error(f"{args.dist} is not built: run ./build.sh dist")

    from playwright.sync_api import sync_playwright

    server, base = start_in_thread(args.dist, "127.0.0.1", 0)
    bare: list[float] = []
    hype: list[float] = []
    phases: list[dict] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            version = browser.version
            # one warm-up of each (OS file cache, Chromium start-up), not counted
            measure(browser, base + "bare-pyodide/")
            measure(browser, base + "demo/?autorun&db=bench-warmup")
            for i in range(args.n):
                b = measure(browser, base + "bare-pyodide/")
                h = measure(browser, base + f"demo/?autorun&db=bench-{i}")
                assert b["value"] == 2 and h["value"] == [1], (b, h)
                bare.append(b["ms"])
                hype.append(h["ms"])
                phases.append(h.get("timings", {}))
                print(f"run {i + 1}/{args.n}: bare {b['ms']:.0f} ms, hypelua {h['ms']:.0f} ms", flush=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    mb, mh = statistics.median(bare), statistics.median(hype)
    ratio = mh / mb
    phase_med = {k: statistics.median(p[k] for p in phases if k in p) for k in phases[0]} if phases else {}
    verdict = "meets" if ratio <= TARGET else "misses"
    runs_b = ", ".join(f"{x:.0f}" for x in bare)
    runs_h = ", ".join(f"{x:.0f}" for x in hype)
    print(f"bare Pyodide worker page -> 1+1:      median {mb:.0f} ms  (n={args.n}: {runs_b})")
    print(f"hypelua Hype.load -> run('return 1'):  median {mh:.0f} ms  (n={args.n}: {runs_h})")
    print(f"ratio {ratio:.2f}x ({verdict} the <= {TARGET}x target)")
    if phase_med:
        print("hypelua worker phases (median ms since worker start): "
              + ", ".join(f"{k} {v:.0f}" for k, v in phase_med.items()))

    if args.append:
        lines = [
            f"### {dt.date.today().isoformat()} — Chromium {version}, {platform.machine()}, "
            f"{os.cpu_count()} cores",
            "",
            "Command: `.venv/bin/python bench/bench_pageload.py -n "
            f"{args.n} --append` (after `./build.sh dist`); fresh browser context per load, "
            "medians of page navigation start -> result.",
            "",
            "| page | median | runs (ms) |",
            "|---|---|---|",
            f"| bare Pyodide module worker: `loadPyodide` + `1+1` | {mb:.0f} ms | "
            f"{', '.join(f'{x:.0f}' for x in bare)} |",
            f"| hypelua: `Hype.load()` -> `run('return 1')` | {mh:.0f} ms | "
            f"{', '.join(f'{x:.0f}' for x in hype)} |",
            "",
            f"Ratio **{ratio:.2f}x** ({verdict} the <= {TARGET}x target, no snapshot yet).",
        ]
        if phase_med:
            lines += ["", "hypelua worker phases, median ms since the worker started: "
                      + ", ".join(f"`{k}` {v:.0f}" for k, v in phase_med.items()) + "."]
        append_section(ROOT / "bench" / "RESULTS.md", "\n".join(lines) + "\n")
        print("appended to bench/RESULTS.md")
    return 0


def append_section(path: Path, block: str) -> None:
    """Append ``block`` at the end of the HEADING section (created if missing)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}"
    else:
        start = text.index(HEADING) + len(HEADING)
        nxt = text.find("\n## ", start)
        end = len(text) if nxt == -1 else nxt + 1
        section = text[:end].rstrip("\n") + "\n\n" + block
        text = section + ("\n" + text[end:] if nxt != -1 else "")
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
