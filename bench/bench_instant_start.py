"""Instant start (issue 12): page load -> first Lua result with the build-time memory
snapshot, against a bare Pyodide worker, in ONE headless Chromium run.

Variants, each a page navigation until its result (``performance.now()``, ms since the
navigation started), medians of ``-n`` rounds run interleaved:

* ``bare`` — ``dist/web/bare-pyodide/``: a module worker, ``loadPyodide()`` + ``1+1``;
* ``plain`` — ``demo/?autorun&nosnapshot``: ``Hype.load()`` -> ``run('return 1')`` without the snapshot;
* ``snapshot`` — the same with the snapshot;
* ``no-coop`` — the snapshot from a server without COOP/COEP (no cross-origin isolation).

"cold": a fresh browser context (empty HTTP cache, Cache Storage and IndexedDB); "warm": a
second page in the same context (HTTP cache and the snapshot in Cache Storage).  The target
(SPEC, issue 12): hypelua with the snapshot <= 0.25x bare Pyodide.

    ./build.sh dist && .venv/bin/python bench/bench_instant_start.py [-n 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from hypelua._devserver import start_in_thread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]
TARGET = 0.25


def load(page: Any, url: str) -> dict:
    page.goto(url)
    page.wait_for_function("() => window.benchResult !== undefined")
    result = page.evaluate("() => window.benchResult")
    if not result or "error" in result:
        raise RuntimeError(f"{url}: {result}")
    return result


def cold_and_warm(browser: Any, url: str) -> tuple[dict, dict]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(180_000)
        cold = load(page, url)
        warm_page = context.new_page()
        warm_page.set_default_timeout(180_000)
        warm = load(warm_page, url)
        return cold, warm
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=5, help="rounds (>= 3)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "web")
    args = parser.parse_args(argv)
    if not (args.dist / "manifest.json").is_file():
        parser.error(f"{args.dist} is not built: run ./build.sh dist")
    from playwright.sync_api import sync_playwright

    isolated, base = start_in_thread(args.dist, "127.0.0.1", 0)
    plain_server, plain_base = start_in_thread(args.dist, "127.0.0.1", 0, isolated=False)
    variants = {
        "bare": base + "bare-pyodide/",
        "plain": base + "demo/?autorun&nosnapshot&db=bench-plain",
        "snapshot": base + "demo/?autorun&db=bench-snap",
        "no-coop": plain_base + "demo/?autorun&db=bench-nocoop",
    }
    times: dict[str, dict[str, list[float]]] = {k: {"cold": [], "warm": []} for k in variants}
    modes: dict[str, set[str]] = {k: set() for k in variants}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            version = browser.version
            for url in variants.values():      # warm-up (OS file cache), not counted
                cold_and_warm(browser, url)
            for i in range(args.n):
                for name, url in variants.items():
                    cold, warm = cold_and_warm(browser, url)
                    times[name]["cold"].append(cold["ms"])
                    times[name]["warm"].append(warm["ms"])
                    modes[name].add(str(cold.get("snapshot")))
                print(f"round {i + 1}/{args.n}: " + ", ".join(
                    f"{k} {v['cold'][-1]:.0f}/{v['warm'][-1]:.0f}" for k, v in times.items()), flush=True)
            browser.close()
    finally:
        for s in (isolated, plain_server):
            s.shutdown()
            s.server_close()

    med = {k: {w: statistics.median(v[w]) for w in ("cold", "warm")} for k, v in times.items()}
    print(f"Chromium {version}; medians of {args.n}, ms from navigation to the result (cold / warm)")
    for name in variants:
        ratio_c = med[name]["cold"] / med["bare"]["cold"]
        ratio_w = med[name]["warm"] / med["bare"]["warm"]
        print(f"  {name:9s} {med[name]['cold']:7.0f} / {med[name]['warm']:7.0f}   "
              f"vs bare {ratio_c:.2f}x / {ratio_w:.2f}x   (worker boot: {', '.join(sorted(modes[name]))})")
    best = min(med["snapshot"]["cold"] / med["bare"]["cold"], med["snapshot"]["warm"] / med["bare"]["warm"])
    print(f"snapshot vs bare Pyodide: best {best:.2f}x (target <= {TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
