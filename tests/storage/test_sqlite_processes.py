"""SQLite back-end across processes: shared database, and kill -9 in the middle of batches."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
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


# --- issue 12: read-modify-write inside a transaction is isolated across processes ----------------

COUNTER_LUA = textwrap.dedent(
    """
    local go = ...
    while true do  -- start together: wait for the go file
      local f = io.open(go)
      if f then f:close() break end
    end
    for i = 1, 300 do
      storage.transaction(function() Memory.counter = (Memory.counter or 0) + 1 end)
    end
    """
)

COUNTER_PY = textwrap.dedent(
    """
    import os, sys
    from hypelua.storage import Database
    db = Database.open(sys.argv[1])
    while not os.path.exists(sys.argv[2]):
        pass
    t = db.table("Memory")
    for _ in range(300):
        with db.transaction():
            t.set("counter", (t.get("counter") or 0) + 1)
    db.close()
    """
)


def _hype_run(script: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "py")}
    return subprocess.Popen([sys.executable, "-m", "hypelua", "run", str(script), *args, "--database", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _race(start: Callable[[], subprocess.Popen[str]], go: Path) -> None:
    """Start two processes, release them together with the ``go`` file, both must succeed."""
    procs = [start() for _ in range(2)]
    time.sleep(0.3)  # both running and waiting for the go file
    go.write_text("go")
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_lua_transactions_in_two_processes_lose_no_update(tmp_path: Path) -> None:
    script = tmp_path / "count.lua"
    script.write_text(COUNTER_LUA)
    for run in range(3):
        db, go = tmp_path / f"count{run}.db", tmp_path / f"go{run}"
        _race(lambda db=db, go=go: _hype_run(script, db, str(go)), go)  # the database is created by both
        check = Database.open(db)
        assert check.get("Memory", "counter") == 600, f"run {run}"
        check.close()


def test_python_transactions_in_two_processes_lose_no_update(tmp_path: Path) -> None:
    for run in range(3):
        db, go = tmp_path / f"py{run}.db", tmp_path / f"pygo{run}"
        Database.open(db).close()
        _race(lambda db=db, go=go: _python(COUNTER_PY, str(db), str(go)), go)
        check = Database.open(db)
        assert check.get("Memory", "counter") == 600, f"run {run}"
        check.close()


def test_transaction_reads_see_other_process_commits_and_revived_functions_refresh(tmp_path: Path) -> None:
    """Once the transaction holds the lock, another process's earlier commits are visible,
    including a replaced function (no stale cache of revived functions)."""
    from hypelua import Runtime

    path = tmp_path / "fresh.db"
    rt = Runtime(str(path))
    rt.execute("Memory.f = function() return 1 end; Memory.n = 1")
    assert rt.execute("return Memory.f()") == (1,)
    other = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from hypelua import Runtime
            rt = Runtime(sys.argv[1])
            rt.execute("Memory.f = function() return 2 end; Memory.n = 2")
            rt.close()
        """), str(path)], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert rt.execute("return storage.transaction(function() return Memory.f(), Memory.n end)") == (2, 2)
    rt.close()


OPEN_PY = textwrap.dedent(
    """
    import os, sys
    from hypelua.storage import Database
    while not os.path.exists(sys.argv[2]):
        pass
    db = Database.open(sys.argv[1])
    with db.transaction():
        db.table("Memory").set(str(os.getpid()), 1)
    db.close()
    """
)


def test_two_processes_creating_one_new_database_both_succeed(tmp_path: Path) -> None:
    # the switch to WAL and the schema need a lock SQLite does not wait for: open retries
    for run in range(8):
        db, go = tmp_path / f"new{run}.db", tmp_path / f"newgo{run}"
        _race(lambda db=db, go=go: _python(OPEN_PY, str(db), str(go)), go)
        check = Database.open(db)
        assert len(check.table("Memory").keys()) == 2, f"run {run}"
        check.close()
