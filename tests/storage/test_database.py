"""Database and Table over the memory and SQLite back-ends (same results on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hypelua import DatabaseError, NotStorableError, StorageError
from hypelua.storage import Database, PersistedFunction


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    path = ":memory:" if request.param == "memory" else tmp_path / "t.db"
    database = Database.open(path)
    yield database
    database.close()


def test_set_get_delete(db: Database) -> None:
    users = db.table("users")
    users.set("u1", {"name": "Ann", "age": 31})
    users.set(1, "one")
    users.set("1", "string one")
    assert users.get("u1") == {"name": "Ann", "age": 31}
    assert users.get(1) == "one" and users.get("1") == "string one"
    assert users.get("missing", "dflt") == "dflt"
    assert users.keys() == [1, "1", "u1"]  # integers first, then strings
    assert len(users) == 3
    assert users.delete("u1") is True and users.delete("u1") is False
    users.set("1", None)  # None deletes, like nil in Lua
    assert users.keys() == [1]
    assert db.tables() == ["users"]


def test_rollback_drops_uncommitted_writes(db: Database) -> None:
    t = db.table("t")
    t.set("a", 1)
    db.commit()
    t.set("a", 2)
    t.set("b", 3)
    db.rollback()
    assert t.get("a") == 1 and t.get("b") is None


def test_not_storable_value_loses_nothing(db: Database) -> None:
    t = db.table("t")
    t.set("keep", [1, 2])
    db.commit()
    with pytest.raises(NotStorableError):
        t.set("keep", object())
    with pytest.raises(NotStorableError):
        t.set(True, 1)  # type: ignore[arg-type]
    assert t.get("keep") == [1, 2]


def test_bad_table_names(db: Database) -> None:
    for name in ["", "x" * 129, "a\0b", 5]:
        with pytest.raises(StorageError) as info:
            db.table(name)  # type: ignore[arg-type]
        assert info.value.code == "BAD_TABLE_NAME"


def test_functions_are_signed_and_described(db: Database) -> None:
    fn = PersistedFunction(bytecode=b"\x1bLua", source="function() end")
    db.table("Memory").set("f", fn)
    stored = db.get("Memory", "f")
    assert stored.mac and len(stored.mac) == 64
    (entry,) = db.describe("Memory")
    assert entry["kind"] == "function" and entry["key"] == "f" and entry["preview"] == "function() end"


def test_closed_database_raises_typed_error(db: Database) -> None:
    db.close()
    with pytest.raises(DatabaseError) as info:
        db.table("t").get("a")
    assert info.value.code == "DATABASE_CLOSED"


def test_sqlite_persists_across_reopen_and_keeps_hmac_key(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = Database.open(path)
    key = db._hmac_key
    db.table("t").set("a", {"x": [1, 2.5, b"\x00\xff"]})
    db.close()
    db2 = Database.open(path)
    assert db2.table("t").get("a") == {"x": [1, 2.5, b"\x00\xff"]}
    assert db2._hmac_key == key
    db2.close()


def test_two_connections_see_committed_writes_only(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = Database.open(path), Database.open(path)
    a.table("t").set("k", 1)
    assert b.table("t").get("k") is None  # not committed yet
    a.commit()
    assert b.table("t").get("k") == 1
    a.close()
    b.close()


def test_corrupt_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError) as info:
        Database.open(path)
    assert info.value.code == "DATABASE_CORRUPT"
    assert path.read_bytes() == b"this is not sqlite" * 100  # untouched


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as info:
        Database.open(tmp_path / "nope" / "x.db")
    assert info.value.code == "DATABASE_PATH"


def test_corrupt_row_is_reported_and_others_stay_readable(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c.db"
    db = Database.open(path)
    db.table("t").set("good", 1)
    db.table("t").set("bad", 2)
    db.close()
    conn = sqlite3.connect(path)
    (sql_name,) = conn.execute("SELECT sql_name FROM _hype_tables").fetchone()
    conn.execute(f'UPDATE "{sql_name}" SET data = ? WHERE key = ?', ("{broken", "bad"))
    conn.commit()
    conn.close()
    db = Database.open(path)
    with pytest.raises(DatabaseError) as info:
        db.table("t").get("bad")
    assert info.value.code == "DATABASE_CORRUPT" and info.value.details["key"] == "bad"
    assert db.table("t").get("good") == 1
    kinds = {e["key"]: e["kind"] for e in db.describe("t")}
    assert kinds == {"bad": "corrupt", "good": "number"}
    db.close()
