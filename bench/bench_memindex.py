"""In-memory indexed queries (issue 3): indexed range query vs full scan, build time, memory.

Usage::

    .venv/bin/python bench/bench_memindex.py [--rows 100000] [--repeat 7]

Measures, in one run:

* an indexed range query ``age between 30 and 40`` (ordered by ``age``, the
  default order), ``limit 100``, on a :class:`TableIndexes` with an index on
  ``age``, against the same query through the full-scan path
  (:func:`reference_execute` over all rows) -> ratio (target: indexed >= 50x faster);
* the same for a compound index (``city = ?`` + ``age`` range), a cursor page
  deep inside the range, and a range ordered by another field (index range,
  then sort);
* build time (``put`` of every row with two indices defined; ``create_index``
  over existing rows) and peak traced memory (``tracemalloc``) for 10K and 100K rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "py"))

from hypelua.storage._memindex import TableIndexes
from hypelua.storage._query import Query, decode_cursor, reference_execute

CITIES = [f"city{i:02d}" for i in range(50)]


def make_docs(n: int, seed: int = 1) -> list[tuple[int, dict[str, Any]]]:
    rnd = random.Random(seed)
    return [
        (i, {"name": f"user{i:06d}", "age": rnd.randrange(0, 100), "score": rnd.random() * 1000,
             "city": rnd.choice(CITIES), "active": rnd.random() < 0.5,
             "address": {"zip": f"{rnd.randrange(10000, 99999)}", "street": "Main St"}})
        for i in range(n)
    ]


def build(docs: list[tuple[int, Any]], indexes: bool = True) -> TableIndexes:
    t = TableIndexes()
    if indexes:
        t.create_index("age", ("age",))
        t.create_index("city_age", ("city", "age"))
    for k, d in docs:
        t.put(k, d)
    return t


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_queries(n: int, repeat: int) -> list[tuple[str, float, float, str]]:
    docs = make_docs(n)
    t = build(docs)
    rows = list(t.items())
    queries = {
        "age between 30 and 40, limit 100": Query.parse("t", {
            "field": "age", "operator": "between", "value": [30, 40], "limit": 100}),
        "age >= 90 desc, limit 100": Query.parse("t", {
            "field": "age", "operator": ">=", "value": 90, "order": "desc", "limit": 100}),
        "city = c07 and age < 50, limit 100": Query.parse("t", {
            "where": [{"field": "city", "op": "=", "value": "city07"}, {"field": "age", "op": "<", "value": 50}],
            "orderBy": "age", "limit": 100}),
        "age = 42, key order, limit 100": Query.parse("t", {
            "field": "age", "operator": "=", "value": 42, "limit": 100}),
        "age in [1, 50, 99] by score, limit 100": Query.parse("t", {
            "field": "age", "operator": "in", "value": [1, 50, 99], "orderBy": "score", "limit": 100}),
    }
    # a page deep inside the range: cursor after 2000 rows
    q = queries["age between 30 and 40, limit 100"]
    _, cur = t.execute(dataclasses.replace(q, limit=2000))
    assert cur is not None
    queries["between 30..40, page after 2000 rows (cursor)"] = dataclasses.replace(q, after=decode_cursor(cur))

    out = []
    for name, query in queries.items():
        got = t.execute(query)
        want = reference_execute(query, rows)
        assert [k for k, _ in got[0]] == [k for k, _ in want[0]] and got[1] == want[1], name
        plan = t.explain(query)
        t_idx = best(lambda query=query: t.execute(query), repeat * 20)
        t_full = best(lambda query=query: reference_execute(query, list(t.items())), repeat)
        desc = f"{plan['plan']} {plan['index']}, ordered={plan['order_from_index']}, est={plan['estimated_rows']}"
        out.append((name, t_idx, t_full, desc))
    return out


def bench_build(n: int) -> dict[str, float]:
    docs = make_docs(n)
    gc.collect()
    t0 = time.perf_counter()
    bare = build(docs, indexes=False)
    t_bare = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    build(docs, indexes=True)
    t_put = time.perf_counter() - t0
    t0 = time.perf_counter()
    bare.create_index("age", ("age",))
    bare.create_index("city_age", ("city", "age"))
    t_create = time.perf_counter() - t0
    del bare
    gc.collect()
    # memory: the documents already exist (decoded by the back-end); measure what the table adds
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = build(docs, indexes=False)
    bare_mem = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.reset_peak()
    t.create_index("age", ("age",))
    t.create_index("city_age", ("city", "age"))
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    idx_bytes = sum(i["bytes"] for i in t.indexes())
    return {"bare_put": t_bare, "put_with_indexes": t_put, "create_indexes": t_create,
            "table_mb": bare_mem / 1e6, "indexes_mb": (cur - base - bare_mem) / 1e6,
            "peak_mb": (peak - base) / 1e6, "estimate_mb": idx_bytes / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"Python {sys.version.split()[0]}; {args.rows} rows; best of {args.repeat} (indexed: x20)")
    print()
    print("| rows | put, no index | put, 2 indices | create 2 indices over rows | table (traced) "
          "| 2 indices (traced) | peak during create_index | indexes() estimate |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (10_000, args.rows):
        b = bench_build(n)
        print(f"| {n} | {b['bare_put'] * 1e3:.0f} ms | {b['put_with_indexes'] * 1e3:.0f} ms "
              f"| {b['create_indexes'] * 1e3:.0f} ms | {b['table_mb']:.1f} MB | {b['indexes_mb']:.1f} MB "
              f"| {b['peak_mb']:.1f} MB | {b['estimate_mb']:.1f} MB |")
    print()
    print("| query | indexed | full scan (reference) | ratio | plan |")
    print("|---|---|---|---|---|")
    for name, t_idx, t_full, desc in bench_queries(args.rows, args.repeat):
        print(f"| {name} | {t_idx * 1e3:.3f} ms | {t_full * 1e3:.1f} ms | {t_full / t_idx:.0f}x | {desc} |")

if __name__ == "__main__":
    main()
