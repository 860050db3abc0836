"""Hardening of the storage surface (issue 13): typed errors for bad arguments and keys,
read-only database files, damaged database files; nested Lua transactions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hypelua import HypeError, Runtime
from hypelua.storage import Database
from hypelua.storage.backends.sqlite import SQLiteBackend

REPO = Path(__file__).resolve().parents[2]


def _rt(db: Any, backend: str) -> Runtime:
    return Runtime(db, backend=backend, stdout=lambda text: None)


def _code(rt: Runtime, source: str) -> str:
    with pytest.raises(HypeError) as info:
        rt.execute(source)
    return info.value.code


BAD_LUA = [
    ('storage.define_schema("Memory", {type="object"}, "abc")', "BAD_ARGUMENT"),
    ('storage.define_schema("Memory", {type="object"}, 1e300)', "BAD_ARGUMENT"),
    ('storage.define_schema("Memory", {type="object"}, -1)', "BAD_ARGUMENT"),
    ('storage.define_schema("Memory", 5)', "BAD_SCHEMA"),
    ('Memory.a = {x = 1}; storage.migrate("Memory", {[2] = function(k, r) error("boom") end})',
     "MIGRATION_FAILED"),
    ('Memory.a = {x = 1}; storage.migrate("Memory", {[2] = 5})', "BAD_ARGUMENT"),
    ('Memory.a = {x = 1}; storage.migrate("Memory", {x = function(k, r) return r end})', "BAD_ARGUMENT"),
    ('Memory.a = {x = 1}; storage.migrate("Memory", {[2.5] = function(k, r) return r end})', "BAD_ARGUMENT"),
    ('storage.migrate("Memory", {[2] = function(k, r) return r end}, {to_version = "x"})', "BAD_ARGUMENT"),
    ('storage.migrate("Memory", {[2] = function(k, r) return r end}, {to_version = 1e300})', "BAD_ARGUMENT"),
    ('storage.migrate("Memory", 5)', "BAD_ARGUMENT"),
    ('storage.migrate("Memory", {}, 5)', "BAD_ARGUMENT"),
    ("Memory[0/0] = 1", "NOT_STORABLE"),
    ("Memory[nil] = 1", "NOT_STORABLE"),
    ("Memory[true] = 1", "NOT_STORABLE"),
    ("Memory[{}] = 1", "NOT_STORABLE"),
    ("Memory[print] = 1", "NOT_STORABLE"),
    ("Memory[1.5] = 1", "NOT_STORABLE"),
    ("Memory[math.huge] = 1", "NOT_STORABLE"),
    ("Memory[2^53 + 2] = 1", "NOT_STORABLE"),
    ('Memory[""] = 1', "NOT_STORABLE"),
    ("local _ = Memory[0/0]", "NOT_STORABLE"),
    ("storage.table(nil).x = 1", "BAD_TABLE_NAME"),
    ('storage.table("")', "BAD_TABLE_NAME"),
    ("storage.table(5)", "BAD_TABLE_NAME"),
    ('storage.table(("x"):rep(200))', "BAD_TABLE_NAME"),
    ('storage.table("a\\0b")', "BAD_TABLE_NAME"),
    ("storage.transaction(5)", "BAD_ARGUMENT"),
    ("storage.batch(5)", "BAD_OPERATION"),
]


@pytest.mark.parametrize("source,code", BAD_LUA)
def test_bad_storage_calls_raise_typed_errors(tmp_path: Path, lua_backend: str, source: str, code: str) -> None:
    with _rt(str(tmp_path / "t.db"), lua_backend) as rt:
        assert _code(rt, source) == code
        # and pcall sees the same typed error, the runtime keeps serving
        rt.execute("Memory.after = 1")
        assert rt.execute("return Memory.after") == (1,)


def test_failed_define_schema_writes_nothing(tmp_path: Path, lua_backend: str) -> None:
    with _rt(str(tmp_path / "t.db"), lua_backend) as rt:
        rt.execute("Memory.a = 'not an object'")
        for source in ('storage.define_schema("Memory", {type="object"}, 1e300)',
                       'storage.define_schema("Memory", {type="object"}, "abc")',
                       'storage.define_schema("Memory", {type="object"}, 3)'):  # the row violates it
            with pytest.raises(HypeError):
                rt.execute(source)
        assert rt.database.schema_version("Memory") == 0
        assert rt.database.backend.get_meta("schema:Memory") is None
        assert rt.execute("return storage.define_schema('Memory', {type='string'}, 2.0)") == (2,)
        assert rt.database.schema_version("Memory") == 2


def test_failed_migration_names_the_step_and_changes_nothing(tmp_path: Path, lua_backend: str) -> None:
    with _rt(str(tmp_path / "t.db"), lua_backend) as rt:
        rt.execute("Memory.a = {x = 1}; Memory.b = {x = 2}")
        with pytest.raises(HypeError) as info:
            rt.execute('storage.migrate("Memory", {[1] = function(k, r) r.y = 1 return r end, '
                       '[2] = function(k, r) if k == "b" then error("boom") end return r end})')
        assert info.value.code == "MIGRATION_FAILED" and info.value.details["step"] == 2
        assert rt.execute("return Memory.a.y, Memory.b.y") == (None, None)
        assert rt.database.schema_version("Memory") == 0


def test_python_api_checks_versions_before_writing(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "t.db")
    for bad in ("abc", 10**300, -1, True, 1.5):
        with pytest.raises(HypeError) as info:
            db.define_schema("t", {"type": "object"}, bad)  # type: ignore[arg-type]
        assert info.value.code == "BAD_ARGUMENT"
        with pytest.raises(HypeError) as info:
            db.migrate("t", {2: lambda k, v: v}, to_version=bad)  # type: ignore[arg-type]
        assert info.value.code == "BAD_ARGUMENT"
    with pytest.raises(HypeError) as info:
        db.migrate("t", {"x": lambda k, v: v})  # type: ignore[dict-item]
    assert info.value.code == "BAD_ARGUMENT"
    with pytest.raises(HypeError) as info:
        db.migrate("t", {2: 5})  # type: ignore[dict-item]
    assert info.value.code == "BAD_ARGUMENT"
    assert db.backend.get_meta("schema:t") is None
    db.close()


def test_nested_lua_transactions_commit_once(tmp_path: Path, lua_backend: str) -> None:
    path = str(tmp_path / "t.db")
    with _rt(path, lua_backend) as rt:
        rt.execute("""
            storage.transaction(function()
              Memory.a = 1
              storage.transaction(function() Memory.b = 2 end)
              pcall(storage.transaction, function() Memory.c = 3; error("inner") end)
            end)
            Memory.d = 4
        """)
        assert rt.database._tx_depth == 0
        assert not rt.database.backend._in_tx  # type: ignore[attr-defined]
    db = Database.open(path)
    assert [db.get("Memory", k) for k in "abcd"] == [1, 2, 3, 4]  # the inner failure joined the outer
    db.close()


CLI_CASES = [
    ('storage.define_schema("Memory", {type="object"}, "abc")', "BAD_ARGUMENT"),
    ('Memory.a = 1; storage.migrate("Memory", {x = function() end})', "BAD_ARGUMENT"),
    ('Memory.a = 1; storage.migrate("Memory", {[2] = function(k, r) error("boom") end})', "MIGRATION_FAILED"),
    ("Memory[0/0] = 1", "NOT_STORABLE"),
    ("storage.table(nil).x = 1", "BAD_TABLE_NAME"),
]


@pytest.mark.parametrize("source,code", CLI_CASES)
def test_cli_prints_typed_errors_not_tracebacks(tmp_path: Path, source: str, code: str) -> None:
    (tmp_path / "bad.lua").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO / "py")}
    out = subprocess.run([sys.executable, "-m", "hypelua", "run", "bad.lua", "--database", "t.db"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert out.stderr.startswith(f"error[{code}]"), out.stderr
    assert "hint:" in out.stderr and "Traceback" not in out.stderr


# --- read-only database files --------------------------------------------------------------------

def _make_db(path: Path, checkpoint: bool = True) -> Database | None:
    """A database with row a (and, without ``checkpoint``, row w only in the -wal file).

    Without ``checkpoint`` the open Database is returned: the caller keeps it until
    it has compared the files, since closing it (also by garbage collection) checkpoints.
    """
    db = Database.open(path)
    db.table("Memory").set("a", {"x": 1})
    db.commit()
    if checkpoint:
        db.close()
        return None
    # leave the -wal and -shm files behind, as a crash would
    db.table("Memory").set("w", {"x": 2})
    db.commit()
    db.backend._db.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[attr-defined]
    return db


READ_ONLY_PROBE = """
import json, sys
from hypelua import HypeError
from hypelua.storage import Database
out = {}
db = Database.open(sys.argv[1])
out["read"] = db.get("Memory", "a")
out["wal_row"] = db.get("Memory", "w")
out["read_only"] = db.backend.read_only
try:
    db.set("Memory", "b", 1)
    db.commit()
    out["write"] = "ok"
except HypeError as exc:
    out["write"] = exc.code
with db.transaction():
    out["tx_read"] = db.get("Memory", "a")
out["query"] = [k for k, _ in db.query("Memory", {"field": "x", "operator": ">=", "value": 0})]
db.close()
print(json.dumps(out))
"""


def _probe_read_only(directory: Path, db: Path) -> dict[str, Any]:
    """Run READ_ONLY_PROBE on ``db`` with ``directory`` and the files made read-only.

    As root (permissions do not bind root), the probe runs in a forked child that
    dropped to uid/gid 65534 after importing everything it needs.
    """
    files = [p for p in directory.iterdir()]
    for f in files:
        f.chmod(0o444)
    directory.chmod(0o555)
    try:
        if os.geteuid() != 0:
            env = {**os.environ, "PYTHONPATH": str(REPO / "py")}
            out = subprocess.run([sys.executable, "-c", READ_ONLY_PROBE, str(db)], capture_output=True, text=True,
                                 timeout=60, env=env)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)  # type: ignore[no-any-return]
        import urllib.parse  # noqa: F401  (imported before dropping privileges)

        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                os.close(read)
                os.setgid(65534)
                os.setuid(65534)
                sys.argv = ["probe", str(db)]
                import contextlib
                import io

                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    exec(compile(READ_ONLY_PROBE, "probe", "exec"), {})
                os.write(write, buf.getvalue().encode())
                code = 0
            except BaseException as exc:
                os.write(write, json.dumps({"error": repr(exc)}).encode())
            finally:
                os._exit(code)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.close(read)
        os.waitpid(pid, 0)
        return json.loads(b"".join(chunks))  # type: ignore[no-any-return]
    finally:
        directory.chmod(0o755)
        for f in files:
            f.chmod(0o644)


@pytest.mark.parametrize("checkpoint", [True, False], ids=["clean", "wal-pending"])
def test_read_only_database_in_read_only_directory_reads_and_refuses_writes(checkpoint: bool) -> None:
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hype-ro-"))  # pytest's tmp_path is private to its user
    base.chmod(0o755)
    directory = base / "ro"
    directory.mkdir()
    db = directory / "ro.db"
    request_cleanup = lambda: shutil.rmtree(base, ignore_errors=True)  # noqa: E731
    writer = _make_db(db, checkpoint=checkpoint)  # kept open until the files are compared
    # the data files are untouched (-shm is SQLite's shared-memory index, not data)
    before = {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith("-shm")}
    try:
        report = _probe_read_only(directory, db)
    finally:
        after = {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith("-shm")}
        if writer is not None:
            writer.close()
        request_cleanup()
    assert report == {"read": {"x": 1}, "wal_row": None if checkpoint else {"x": 2}, "read_only": True,
                      "write": "DATABASE_READ_ONLY", "tx_read": {"x": 1}, "query": ["a"] if checkpoint else ["a", "w"]}
    assert after == before


def test_read_only_backend_refuses_every_write_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.db"
    _make_db(path)
    monkeypatch.setattr("hypelua.storage.backends.sqlite._writable", lambda p: False)
    db = Database.open(path)
    assert db.backend.read_only and db.get("Memory", "a") == {"x": 1}  # type: ignore[attr-defined]
    for write in (lambda: db.set("Memory", "b", 1), lambda: db.delete("Memory", "a"),
                  lambda: db.batch([{"type": "set", "table": "t", "key": "k", "value": 1}]),
                  lambda: db.create_index("Memory", "x"), lambda: db.define_schema("Memory", {})):
        with pytest.raises(HypeError) as info:
            write()
        code = info.value.code
        cause = info.value.details.get("cause", {}).get("code")
        assert "DATABASE_READ_ONLY" in (code, cause), info.value
    db.close()


# --- damaged database files ----------------------------------------------------------------------

def _damaged_db(path: Path) -> None:
    db = Database.open(path)
    db.batch([{"type": "set", "table": "big", "key": f"k{i}", "value": {"i": i, "pad": "x" * 200}}
              for i in range(2000)])
    db.batch([{"type": "set", "table": "small", "key": "a", "value": 1}])
    db.close()
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as f:  # garbage over a page in the middle of table "big"
        f.seek(4096 * (pages // 2) + 100)
        f.write(bytes(range(256)) * 12)


def test_damaged_database_detected_on_open_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    _damaged_db(path)
    db = Database.open(path)
    assert db.backend.corrupt is not None  # type: ignore[attr-defined]
    assert db.get("small", "a") == 1  # what is intact still reads
    with pytest.raises(HypeError) as info:
        db.set("small", "b", 2)
    assert info.value.code == "DATABASE_CORRUPT"
    with pytest.raises(HypeError) as info:
        list(db.items("big"))
    assert info.value.code == "DATABASE_CORRUPT"
    db.close()
    # nothing was written on top of it
    again = SQLiteBackend(path, quick_check=None)
    assert again.get("small", "b") is None and again.get("small", "a") is not None
    again.close()


def test_damaged_page_found_by_a_read_stops_writes(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    _damaged_db(path)
    db = Database(SQLiteBackend(path, quick_check=None))  # as for a file too big to check on open
    db.set("small", "before", 1)  # uncommitted when the damage shows up
    with pytest.raises(HypeError) as info:
        list(db.items("big"))
    assert info.value.code == "DATABASE_CORRUPT"
    for write in (lambda: db.set("small", "b", 2), lambda: db.delete("small", "a"),
                  lambda: db.batch([{"type": "set", "table": "small", "key": "c", "value": 3}])):
        with pytest.raises(HypeError) as info:
            write()
        assert "DATABASE_CORRUPT" in (info.value.code, info.value.details.get("cause", {}).get("code"))
    assert db.get("small", "a") == 1 and db.get("small", "before") is None
    db.close()


def test_cli_on_damaged_database_says_database_corrupt(tmp_path: Path) -> None:
    _damaged_db(tmp_path / "bad.db")
    (tmp_path / "w.lua").write_text("print(small.a)\nsmall.b = 2\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "py")}
    out = subprocess.run([sys.executable, "-m", "hypelua", "run", "w.lua", "--database", "bad.db"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and out.stdout == "1\n"
    assert out.stderr.startswith("error[DATABASE_CORRUPT]") and "hint:" in out.stderr
    assert "Traceback" not in out.stderr
