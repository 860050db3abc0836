"""Native storage engine vs raw SQLite, measured in the same run (SPEC 4).

1. durable batch of 1000 sets: ``Database.batch`` on an SQLite file vs ``sqlite3``
   ``executemany`` of the same JSON rows in one transaction (same WAL +
   ``synchronous=FULL`` settings).  Target <= 2x.
2. indexed range query ``age >= X limit 100`` on 100K rows: ours (expression
   index on the JSON field, rows decoded to Python values) vs raw SQLite with a
   real ``age`` column and index (rows fetched, not decoded).  Target <= 2x,
   and >= 50x faster than our own full scan of the same query.
3. peak Python memory (tracemalloc) of loading 10K / 100K rows into the memory back-end.

    .venv/bin/python bench/bench_storage.py [--rows 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hypelua.storage import Database


def median_ms(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def row(i: int) -> dict[str, Any]:
    return {"name": f"User {i}", "age": (i * 7919) % 100, "score": i * 10, "city": ["Oslo", "Rome", "Lima"][i % 3]}


def bench_batch(tmp: Path, repeat: int) -> tuple[float, float]:
    raw = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE t (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
    n = [0]

    def raw_batch() -> None:
        base = n[0]
        n[0] += 1000
        rows = [(f"user{base + i}", json.dumps(row(base + i))) for i in range(1000)]
        raw.execute("BEGIN")
        raw.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", rows)
        raw.execute("COMMIT")

    db = Database.open(tmp / "ours.db")
    m = [0]

    def our_batch() -> None:
        base = m[0]
        m[0] += 1000
        db.batch([{"type": "set", "table": "users", "key": f"user{base + i}", "value": row(base + i)}
                  for i in range(1000)])

    raw_batch()
    our_batch()  # warm up (table creation)
    t_raw = median_ms(raw_batch, repeat)
    t_ours = median_ms(our_batch, repeat)
    raw.close()
    db.close()
    return t_ours, t_raw


def bench_query(tmp: Path, rows: int, repeat: int) -> dict[str, float]:
    raw = sqlite3.connect(tmp / "rawq.db", isolation_level=None)
    raw.execute("CREATE TABLE t (key TEXT PRIMARY KEY, age INTEGER, data TEXT NOT NULL)")
    raw.execute("BEGIN")
    raw.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    [(f"user{i}", row(i)["age"], json.dumps(row(i))) for i in range(rows)])
    raw.execute("COMMIT")
    raw.execute("CREATE INDEX t_age ON t (age)")

    def raw_query() -> None:
        raw.execute("SELECT key, data FROM t WHERE age >= ? ORDER BY age LIMIT 100", (50,)).fetchall()

    def raw_query_decoded() -> None:
        [(k, json.loads(d)) for k, d in
         raw.execute("SELECT key, data FROM t WHERE age >= ? ORDER BY age LIMIT 100", (50,))]

    db = Database.open(tmp / "oursq.db")
    for start in range(0, rows, 10_000):
        db.batch([{"type": "set", "table": "users", "key": f"user{i}", "value": row(i)}
                  for i in range(start, min(rows, start + 10_000))])
    spec = {"field": "age", "operator": ">=", "value": 50, "limit": 100, "order": "asc"}
    t_scan = median_ms(lambda: db.query("users", spec), max(3, repeat // 5))
    db.create_index("users", "age")
    assert db.explain("users", spec)["plan"] == "index"
    t_ours = median_ms(lambda: db.query("users", spec), repeat)
    out = {"ours": t_ours, "raw": median_ms(raw_query, repeat), "raw_decoded": median_ms(raw_query_decoded, repeat),
           "scan": t_scan}
    mem = Database.open(":memory:")
    for start in range(0, rows, 10_000):
        mem.batch([{"type": "set", "table": "users", "key": f"user{i}", "value": row(i)}
                   for i in range(start, min(rows, start + 10_000))])
    mem.create_index("users", "age")
    out["memory_backend"] = median_ms(lambda: mem.query("users", spec), repeat)
    raw.close()
    db.close()
    return out


def bench_memory(rows: int) -> float:
    tracemalloc.start()
    db = Database.open(":memory:")
    for start in range(0, rows, 10_000):
        db.batch([{"type": "set", "table": "users", "key": f"user{i}", "value": row(i)}
                  for i in range(start, min(rows, start + 10_000))])
    db.create_index("users", "age")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ours, raw = bench_batch(tmp, args.repeat)
        print(f"durable batch of 1000 sets : ours {ours:7.2f} ms   sqlite3 executemany {raw:6.2f} ms   "
              f"ratio {ours / raw:5.2f}x   (target <= 2x: {'PASS' if ours <= 2 * raw else 'FAIL'})")
        q = bench_query(tmp, args.rows, args.repeat)
        print(f"indexed query limit 100 on {args.rows} rows:")
        print(f"  ours (SQLite, decoded)   {q['ours']:7.3f} ms")
        print(f"  raw SQLite + index       {q['raw']:7.3f} ms   ratio {q['ours'] / q['raw']:5.2f}x "
              f"(target <= 2x: {'PASS' if q['ours'] <= 2 * q['raw'] else 'FAIL'})")
        print(f"  raw SQLite + json.loads  {q['raw_decoded']:7.3f} ms   ratio {q['ours'] / q['raw_decoded']:5.2f}x")
        print(f"  ours, full scan          {q['scan']:7.3f} ms   index speed-up {q['scan'] / q['ours']:6.1f}x "
              f"(target >= 50x: {'PASS' if q['scan'] >= 50 * q['ours'] else 'FAIL'})")
        print(f"  ours, memory back-end    {q['memory_backend']:7.3f} ms")
    for n in (10_000, args.rows):
        print(f"peak Python memory, memory back-end with {n} rows + 1 index: {bench_memory(n):7.1f} MB")


if __name__ == "__main__":
    main()
