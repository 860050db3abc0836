"""Cost of the watch machinery (issue 8) in user code: ``pcall`` as user code sees it
(a Lua wrapper that lets a fired TIMEOUT through) against the plain ``pcall`` the
runtime's own Lua uses, in one runtime; then the same loop under an armed watch hook.

    .venv/bin/python bench/bench_watch.py [--backend lupa|ctypes] [--calls N] [--repeat K]

Prints the per-call times and the ratios against the plain ``pcall`` (min of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse

from hypelua import Runtime

LOOP = """
local fn, n = ...
local f = function(x) return x end
local t0 = os.clock()
for i = 1, n do fn(f, i) end
return os.clock() - t0
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="lupa")
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with Runtime(":memory:", backend=args.backend) as rt:
        loop = rt.vm.load(LOOP, "=(bench)", "t")
        raw = rt.execute('return package.loaded["hype.watch"].raw.pcall')[0]
        user = rt.execute("return pcall")[0]

        def best(fn: object) -> float:
            return min(float(rt.vm.call(loop, fn, args.calls)[0]) for _ in range(args.repeat))

        t_raw, t_user = best(raw), best(user)
        rt.watch(deadline_s=3600)
        t_watched = best(user)
    per = 1e6 / args.calls
    print(f"backend {args.backend}, {args.calls} calls, min of {args.repeat}")
    print(f"  plain pcall (runtime's own Lua) : {t_raw * per:.4f} us/call")
    print(f"  user pcall (lets TIMEOUT through): {t_user * per:.4f} us/call   ratio {t_user / t_raw:.2f}x")
    print(f"  user pcall, watch hook armed     : {t_watched * per:.4f} us/call   ratio {t_watched / t_raw:.2f}x")


if __name__ == "__main__":
    main()
