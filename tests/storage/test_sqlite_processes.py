"""SQLite back-end across processes: shared database, and kill -9 in the middle of batches."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hypelua.storage import Database
from hypelua.storage._query import Query, reference_execute

WRITER = textwrap.dedent(
    """
    import sys
    from hypelua.storage import Database
    db = Database.open(sys.argv[1])
    db.create_index("t", "batch")
    n = int(sys.argv[2])
    while True:
        db.batch([{"type": "set", "table": "t", "key": f"b{n}_{i}", "value": {"batch": n, "i": i, "pad": "x" * 50}}
                  for i in range(2000)])
        print(n, flush=True)
        n += 1
    """
)


def _python(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_kill_9_during_batches_leaves_each_batch_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    rng = random.Random(7)
    start = 0
    kills = 0
    for _ in range(8):
        proc = _python(WRITER, str(path), str(start))
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        db = Database.open(path)
        counts: dict[int, int] = {}
        for _key, value in db.items("t"):
            counts[value["batch"]] = counts.get(value["batch"], 0) + 1
        assert all(c == 2000 for c in counts.values()), counts  # all or nothing
        # the index agrees with the data
        rows = list(db.items("t"))
        for n in list(counts)[-3:]:
            spec = {"field": "batch", "operator": "=", "value": n}
            assert db.explain("t", spec)["plan"] == "index"
            assert [k for k, _ in db.query("t", spec)] == [k for k, _ in reference_execute(Query.parse("t", spec),
                                                                                           rows)[0]]
        start = max(counts, default=start) + 1
        db.close()
    assert kills == 8 and start > 0


READER = textwrap.dedent(
    """
    import sys, json
    from hypelua.storage import Database
    db = Database.open(sys.argv[1])
    seen = {k: v for k, v in db.items("shared")}
    db.table("shared").set("from_b", {"n": 2})
    db.commit()
    rows = [k for k, _ in db.query("shared", {"field": "n", "operator": ">=", "value": 1})]
    print(json.dumps({"seen": sorted(seen), "query": rows}))
    """
)


def test_two_processes_share_one_database(tmp_path: Path) -> None:
    import json

    path = tmp_path / "shared.db"
    a = Database.open(path)
    a.create_index("shared", "n")
    a.table("shared").set("from_a", {"n": 1})
    a.table("shared").set("uncommitted", {"n": 9})
    a.rollback()
    a.table("shared").set("from_a", {"n": 1})
    a.commit()
    out = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True, text=True, timeout=60,
                         check=True)
    report = json.loads(out.stdout)
    assert report == {"seen": ["from_a"], "query": ["from_a", "from_b"]}
    assert a.table("shared").get("from_b") == {"n": 2}  # a sees b's committed write
    assert [k for k, _ in a.query("shared", {"field": "n", "operator": "=", "value": 2})] == ["from_b"]
    a.close()
