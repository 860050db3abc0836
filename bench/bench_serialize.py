"""Serialise / revive a ~10 KB Lua function through an external table.

Target (SPEC 4, PRD): serialising a 10 KB function < 1 ms natively (PRD: < 20 ms).
Baseline measured in the same run: raw ``string.dump`` of the same function
through lupa (what any persistence must do at least).

    .venv/bin/python bench/bench_serialize.py [--backend lupa|ctypes] [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import lupa.lua54 as lupa

from hypelua import Runtime


def make_source(target_bytes: int = 10_000) -> str:
    """A function whose string.dump is about ``target_bytes`` long."""
    lines = ["function(x)", "  local acc = 0"]
    i = 0
    while True:
        lines.append(f"  if x > {i} then acc = acc + math.sin(x * {i}) * {i + 0.5} end")
        i += 1
        if i % 20 == 0:
            src = "\n".join([*lines, "  return acc", "end"])
            rt = lupa.LuaRuntime(encoding=None)
            size = len(rt.eval(f"string.dump({src})"))
            if size >= target_bytes:
                return src


def timeit(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000.0  # ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="lupa")
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    src = make_source()

    raw = lupa.LuaRuntime(encoding=None)
    raw_fn = raw.eval(f"({src})")
    dump = raw.eval("string.dump")
    bytecode = dump(raw_fn)
    t_raw = timeit(lambda: dump(raw_fn), args.repeat)

    rt = Runtime(":memory:", backend=args.backend, stdout=lambda s: None)
    rt.execute(f"__f = {src}", chunkname="=bench")
    store = rt.vm.load("Memory.f = __f", "=store")
    t_ser = timeit(lambda: store(), args.repeat)
    rt.database.commit()
    revive = rt.vm.load("local t = storage.table('Memory') return Memory.f", "=revive")
    invalidate = rt._invalidate

    def load_fresh() -> None:
        invalidate("Memory", "f")
        revive()

    t_rev = timeit(load_fresh, args.repeat)
    stored = rt.database.table("Memory").get("f")
    print(f"function bytecode: {len(bytecode)} bytes (source {len(src)} bytes), backend {args.backend}")
    print(f"raw string.dump (lupa)         : {t_raw:8.4f} ms")
    print(f"serialise into external table  : {t_ser:8.4f} ms  ratio {t_ser / t_raw:6.1f}x raw dump"
          f"  target < 1 ms: {'PASS' if t_ser < 1 else 'FAIL'}")
    print(f"revive (HMAC verify + load)    : {t_rev:8.4f} ms")
    print(f"stored record: source recovered={stored.source is not None}")


if __name__ == "__main__":
    main()
