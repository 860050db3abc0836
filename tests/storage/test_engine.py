"""The storage engine on the memory and SQLite back-ends: batches, transactions,
indices, queries, schema, migrations, stats — identical results on both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypelua import StorageError
from hypelua.storage import Database
from hypelua.storage._batch import SetRun
from hypelua.storage._codec import from_tagged
from hypelua.storage._query import Query, reference_execute

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = Database.open(":memory:" if request.param == "memory" else tmp_path / "e.db")
    yield database
    database.close()


def _users(db: Database, n: int = 50) -> None:
    db.batch([{"type": "set", "table": "users", "key": f"u{i:03d}",
               "value": {"name": f"User {i}", "age": i % 40, "address": {"city": ["Oslo", "Rome"][i % 2]}}}
              for i in range(n)])


# ------------------------------------------------------------------ batches
def test_batch_results_and_progress(db: Database) -> None:
    seen: list[tuple[int, int]] = []
    db.table("t").set("old", 1)
    ops = [{"type": "set", "table": "t", "key": f"k{i}", "value": {"i": i}} for i in range(250)]
    ops += [{"type": "get", "table": "t", "key": "k3"}, {"type": "delete", "table": "t", "key": "old"},
            {"type": "delete", "table": "t", "key": "never"},
            {"type": "update", "table": "t", "key": "k4", "value": {"i": 40, "extra.deep": True}}]
    results = db.batch(ops, on_progress=lambda done, total: seen.append((done, total)))
    assert results[:250] == [True] * 250
    assert results[250:] == [{"i": 3}, True, False, {"i": 40, "extra": {"deep": True}}]
    assert seen == [(100, 254), (200, 254), (254, 254)]
    assert db.table("t").get("old") is None and len(db.table("t")) == 250


@pytest.mark.parametrize(
    "bad,code",
    [
        ({"type": "set", "table": "t", "key": "x", "value": object()}, "NOT_STORABLE"),
        ({"type": "update", "table": "t", "key": "missing", "value": {"a": 1}}, "NOT_FOUND"),
        ({"type": "explode", "table": "t", "key": "x"}, "BAD_OPERATION"),
        ({"type": "set", "table": "", "key": "x", "value": 1}, "BAD_TABLE_NAME"),
        ({"type": "set", "table": "t", "key": True, "value": 1}, "NOT_STORABLE"),
        ("not a map", "BAD_OPERATION"),
    ],
)
def test_batch_is_all_or_nothing(db: Database, bad: Any, code: str) -> None:
    db.table("t").set("keep", {"v": 1})
    db.commit()
    ops = [{"type": "set", "table": "t", "key": f"k{i}", "value": i} for i in range(5)]
    ops.append({"type": "set", "table": "t", "key": "keep", "value": {"v": 2}})
    ops.insert(3, bad)
    with pytest.raises(StorageError) as info:
        db.batch(ops)
    err = info.value
    assert err.code == "BATCH_FAILED" and err.details["index"] == 3 and err.details["cause"]["code"] == code
    assert db.table("t").keys() == ["keep"] and db.table("t").get("keep") == {"v": 1}
    assert db.batch([{"type": "set", "table": "t", "key": "after", "value": 1}]) == [True]  # still usable


def test_failed_batch_after_large_groups_leaves_indices_exact(db: Database) -> None:
    """Groups of sets go to the back-end at once (the memory back-end defers their index
    entries); a later failing op rolls all of it back, indices included."""
    db.create_index("t", "v")
    db.batch([{"type": "set", "table": "t", "key": f"old{i}", "value": {"v": i}} for i in range(30)])
    before = db.query("t", {"field": "v", "operator": ">=", "value": 0})
    ops: list[Any] = [{"type": "set", "table": "t", "key": f"old{i}", "value": {"v": 100 + i}} for i in range(20)]
    ops += [{"type": "set", "table": "u", "key": f"n{i}", "value": {"v": i}} for i in range(20)]
    ops.append({"type": "delete", "table": "t", "key": "old0"})
    ops.append({"type": "set", "table": "t", "key": {"bad": "key"}, "value": 1})
    with pytest.raises(StorageError) as info:
        db.batch(ops)
    assert info.value.details["index"] == 41
    assert db.query("t", {"field": "v", "operator": ">=", "value": 0}) == before
    assert db.query("t", {"field": "v", "operator": ">=", "value": 100}) == []
    assert db.query("u", {}) == [] and len(db.table("t")) == 30
    db.batch(ops[:41])  # the same batch without the bad op goes through, indices follow
    assert [v["v"] for _, v in db.query("t", {"field": "v", "operator": ">=", "value": 100})] == list(range(101, 120))
    assert len(db.query("u", {})) == 20


def test_transaction_commit_and_rollback(db: Database) -> None:
    t = db.table("t")
    with db.transaction():
        t.set("a", 1)
        with db.transaction():  # nested joins the outer one
            t.set("b", 2)
    assert t.keys() == ["a", "b"]
    with pytest.raises(ZeroDivisionError), db.transaction():
        t.set("c", 3)
        t.delete("a")
        _ = 1 / 0
    assert t.keys() == ["a", "b"]


# ------------------------------------------------------------ indices, queries
def test_index_query_explain(db: Database) -> None:
    _users(db)
    users = db.table("users")
    spec = {"field": "age", "operator": ">=", "value": 35, "limit": 100}
    assert users.explain(spec)["plan"] == "full_scan"
    assert users.create_index("age") == "age"
    assert users.create_index("age") == "age"  # idempotent
    plan = users.explain(spec)
    assert plan["plan"] == "index" and plan["index"] == "age"
    rows = users.query(spec)
    assert sorted(k for k, _ in rows) == [f"u{i:03d}" for i in range(50) if i % 40 >= 35]
    assert all(v["age"] >= 35 for _, v in rows)
    assert [v["age"] for _, v in users.query(field="age", operator="between", value=[5, 6], order="desc")] == [
        6, 6, 5, 5]
    users.create_index(["address.city", "age"])
    res = users.query(where=[{"field": "address.city", "op": "=", "value": "Rome"},
                             {"field": "age", "op": "<", "value": 4}], orderBy="age")
    assert [(k, v["age"]) for k, v in res] == [("u001", 1), ("u041", 1), ("u003", 3), ("u043", 3)]
    assert {i["name"] for i in users.indexes()} == {"age", "address.city+age"}
    assert users.drop_index("age") is True and users.drop_index("age") is False
    assert users.explain(spec)["plan"] == "full_scan"


def test_cursor_pagination_with_offset(db: Database) -> None:
    _users(db)
    users = db.table("users")
    users.create_index("age")
    full = [k for k, _ in users.query(field="age", operator=">=", value=10, order="desc")]
    pages, cursor = [], None
    while True:
        page = users.query(field="age", operator=">=", value=10, order="desc", limit=7,
                           **({"cursor": cursor} if cursor else {}))
        pages.extend(k for k, _ in page)
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == full
    # offset applies after the cursor (Dexie #1702): page 2 with offset 1 skips one row of page 2
    first = users.query(field="age", operator=">=", value=10, order="desc", limit=7)
    second = users.query(field="age", operator=">=", value=10, order="desc", limit=3, offset=1,
                         cursor=first.cursor)
    assert [k for k, _ in second] == full[8:11]


def test_unique_index(db: Database) -> None:
    users = db.table("users")
    users.set("a", {"email": "a@x"})
    users.set("b", {"email": "b@x"})
    users.set("c", {"name": "no email"})
    users.set("d", {"name": "no email either"})  # rows without the field never conflict
    users.create_index("email", unique=True)
    db.commit()
    with pytest.raises(StorageError) as info:
        users.set("e", {"email": "a@x"})
    assert info.value.code == "UNIQUE_VIOLATION"
    assert users.get("e") is None and users.query(field="email", operator="=", value="a@x")[0][0] == "a"
    users.set("a", {"email": "a@x", "v": 2})  # same row, same value: fine
    users.set("dup", {"email": "z@x"})
    db.commit()
    with pytest.raises(StorageError) as info:
        db.batch([{"type": "set", "table": "users", "key": "f", "value": {"email": "q@x"}},
                  {"type": "set", "table": "users", "key": "g", "value": {"email": "b@x"}}])
    assert info.value.code == "BATCH_FAILED" and info.value.details["cause"]["code"] == "UNIQUE_VIOLATION"
    assert users.get("f") is None


def test_unique_index_on_duplicate_data_is_refused(db: Database) -> None:
    users = db.table("users")
    users.set("a", {"email": "same"})
    users.set("b", {"email": "same"})
    with pytest.raises(StorageError) as info:
        users.create_index("email", unique=True)
    assert info.value.code == "UNIQUE_VIOLATION"
    assert users.indexes() == [] and len(users) == 2


@pytest.mark.parametrize(
    "spec,code",
    [
        ({"field": "age", "operator": "~", "value": 1}, "BAD_OPERATOR"),
        ({"field": "a..b", "operator": "=", "value": 1}, "BAD_FIELD_PATH"),
        ({"field": "a b", "operator": "=", "value": 1}, "BAD_FIELD_PATH"),
        ({"field": "age", "operator": "=", "value": [1]}, "BAD_QUERY_VALUE"),
        ({"field": "age", "operator": "in", "value": []}, "BAD_QUERY_VALUE"),
        ({"field": "age", "operator": "between", "value": [1, "z"]}, "BAD_QUERY_VALUE"),
        ({"limit": -1}, "BAD_QUERY"),
        ({"offset": 1.5}, "BAD_QUERY"),
        ({"cursor": "garbage!!"}, "BAD_CURSOR"),
        ({"bogus": 1}, "BAD_QUERY"),
        ({"order": "sideways"}, "BAD_QUERY"),
    ],
)
def test_bad_queries_are_typed(db: Database, spec: dict[str, Any], code: str) -> None:
    _users(db, 5)
    with pytest.raises(StorageError) as info:
        db.query("users", spec)
    assert info.value.code == code
    assert len(db.table("users")) == 5


def test_bad_index_definitions(db: Database) -> None:
    for fields, code in [("", "BAD_FIELD_PATH"), ("x-y", "BAD_FIELD_PATH"), ([], "BAD_INDEX")]:
        with pytest.raises(StorageError) as info:
            db.create_index("t", fields)
        assert info.value.code == code
    with pytest.raises(StorageError) as info:
        db.create_index("t", "a", kind="hash")
    assert info.value.code == "BAD_INDEX"


def test_mixed_types_follow_the_total_order(db: Database) -> None:
    t = db.table("m")
    values: dict[str, Any] = {"s": "10", "n": 10, "f": 2.5, "t": True, "fl": False, "none": None,
                              "list": [1], "neg": -3, "str2": "a"}
    for k, v in values.items():
        t.set(k, {"v": v} if v is not None else {"other": 1})
    t.create_index("v")
    asc = [k for k, _ in t.query(orderBy="v", order="asc")]
    assert asc == ["list", "none", "fl", "t", "neg", "f", "n", "s", "str2"]
    assert [k for k, _ in t.query(orderBy="v", order="desc")] == list(reversed(asc))
    assert [k for k, _ in t.query(field="v", operator=">", value=0)] == ["f", "n"]  # numbers only
    assert sorted(k for k, _ in t.query(field="v", operator="!=", value=10)) == sorted(
        ["s", "f", "t", "fl", "neg", "str2"])
    assert [k for k, _ in t.query(field="v", operator="=", value=1)] == []  # true is not 1


# -------------------------------------------------------------- schema
SCHEMA = {"type": "object", "required": ["name"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                         "address": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def test_schema_validation(db: Database) -> None:
    users = db.table("users")
    users.set("ok", {"name": "Ann", "age": 3})
    assert users.define_schema(SCHEMA) == 1
    with pytest.raises(StorageError) as info:
        users.set("bad", {"name": "Bob", "address": {"city": 5}})
    err = info.value
    assert err.code == "SCHEMA_VIOLATION" and err.details["path"] == "address.city" and err.details["rule"] == "type"
    with pytest.raises(StorageError) as info:
        users.update("ok", {"age": -1})
    assert info.value.details["rule"] == "minimum"
    assert users.get("ok") == {"name": "Ann", "age": 3} and users.get("bad") is None
    with pytest.raises(StorageError) as info:
        db.define_schema("users", {"type": "nonsense"})
    assert info.value.code == "BAD_SCHEMA"


def test_schema_refused_when_existing_rows_violate(db: Database) -> None:
    db.table("users").set("x", {"age": 1})
    with pytest.raises(StorageError) as info:
        db.define_schema("users", SCHEMA)
    assert info.value.code == "SCHEMA_VIOLATION"
    assert db.schema_version("users") == 0
    db.table("users").set("y", {"anything": True})


def test_migrations_apply_atomically_and_roll_back(db: Database) -> None:
    users = db.table("users")
    for i in range(5):
        users.set(i, {"name": f"n{i}", "age": i})
    db.define_schema("users", SCHEMA, version=1)
    v2 = {**SCHEMA, "required": ["name", "years"]}

    def to_v2(key: Any, row: dict[str, Any]) -> Any:
        if row["age"] == 4:
            return None  # delete
        new = dict(row)
        new["years"] = new.pop("age")
        return new

    report = db.migrate("users", {2: to_v2}, schema=v2)
    assert report == {"table": "users", "from_version": 1, "to_version": 2, "rows": 4, "deleted": 1}
    assert users.get(0) == {"name": "n0", "years": 0} and db.schema_version("users") == 2

    def boom(key: Any, row: Any) -> Any:
        if key == 2:
            raise ValueError("cannot convert")
        return {**row, "v3": True}

    before = list(users.items())
    with pytest.raises(StorageError) as info:
        db.migrate("users", {3: boom})
    err = info.value
    assert err.code == "MIGRATION_FAILED" and err.details["step"] == 3 and err.details["key"] == 2
    assert list(users.items()) == before and db.schema_version("users") == 2
    with pytest.raises(StorageError) as info:  # new rows fail the target schema
        db.migrate("users", {3: lambda k, r: {"years": 1}}, schema={**v2, "required": ["name"]})
    assert info.value.code == "MIGRATION_FAILED" and info.value.details["cause"]["code"] == "SCHEMA_VIOLATION"
    assert list(users.items()) == before and db.schema_version("users") == 2


def test_stats_report_compression(db: Database) -> None:
    t = db.table("docs")
    t.set("small", {"a": 1})
    t.set("big", {"text": "lorem ipsum " * 500})
    t.create_index("a")
    s = db.stats()
    docs = s["tables"]["docs"]
    assert docs["rows"] == 2 and docs["compressed_rows"] == 1
    assert docs["bytes_raw"] > docs["bytes_stored"] and docs["ratio"] > 5
    assert [i["name"] for i in docs["indexes"]] == ["a"]


def test_indices_persist_and_are_repaired_on_open(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "p.db"
    db = Database.open(path)
    _users(db)
    db.create_index("users", "age")
    db.close()
    conn = sqlite3.connect(path)
    conn.create_function("hype_doc", 2, lambda c, d: d, deterministic=True)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'hxi_%'")]
    for n in names:
        conn.execute(f'DROP INDEX "{n}"')
    conn.commit()
    conn.close()
    db = Database.open(path)
    assert db.explain("users", {"field": "age", "operator": "=", "value": 3})["plan"] == "index"
    db.close()


# -------------------------------------------------------------- differential
def test_memory_sqlite_and_reference_agree(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalar = st.one_of(st.booleans(), st.integers(-5, 5), st.sampled_from([0.5, -1.5, 2.0]),
                       st.sampled_from(["", "a", "ab", "b", "B", "ä"]))
    doc = st.fixed_dictionaries({}, optional={"a": scalar, "b": st.one_of(scalar, st.lists(scalar, max_size=3)),
                                              "c": st.fixed_dictionaries({}, optional={"d": scalar})})
    cond = st.one_of(
        st.builds(lambda f, op, v: {"field": f, "op": op, "value": v},
                  st.sampled_from(["a", "b", "c.d"]), st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains"]),
                  scalar),
        st.builds(lambda f, v: {"field": f, "op": "in", "value": v}, st.sampled_from(["a", "c.d"]),
                  st.lists(scalar, min_size=1, max_size=3)),
        st.builds(lambda f, v: {"field": f, "op": "prefix", "value": v}, st.sampled_from(["a", "b"]),
                  st.sampled_from(["", "a", "b"])),
        st.builds(lambda f, lo, hi: {"field": f, "op": "between", "value": [lo, hi]}, st.sampled_from(["a", "b"]),
                  st.integers(-5, 5), st.integers(-5, 5)),
    )
    query = st.fixed_dictionaries(
        {"where": st.lists(cond, max_size=2)},
        optional={"orderBy": st.sampled_from(["a", "b", "c.d"]), "order": st.sampled_from(["asc", "desc"]),
                  "limit": st.integers(0, 6), "offset": st.integers(0, 3)})
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.one_of(st.integers(0, 30), st.text("xyz", min_size=1, max_size=2)), doc, max_size=25),
           st.lists(st.sampled_from([("a",), ("b",), ("c.d",), ("a", "c.d")]), max_size=2, unique=True),
           st.lists(query, min_size=1, max_size=4))
    def check(rows: dict[Any, Any], indexes: list[tuple[str, ...]], queries: list[dict[str, Any]]) -> None:
        dbs = [Database.open(":memory:"), Database.open(tmp_path / f"d{next(counter)}.db")]
        for d in dbs:
            d.batch([{"type": "set", "table": "t", "key": k, "value": v} for k, v in rows.items()])
            for fields in indexes:
                d.create_index("t", list(fields))
        items = sorted(rows.items(), key=lambda kv: (type(kv[0]) is str, kv[0]))
        for spec in queries:
            ref, ref_cursor = reference_execute(Query.parse("t", spec), items)
            for d in dbs:
                got = d.query("t", spec)
                assert [k for k, _ in got] == [k for k, _ in ref], (d.backend.name, spec)
                assert got.cursor == ref_cursor, (d.backend.name, spec)
                keys, values, cursor = d.query_json("t", spec)  # the browser's wire form
                assert json.loads(keys) == [k for k, _ in got] and cursor == got.cursor
                assert [from_tagged(v) for v in json.loads(values)] == [v for _, v in got]
                cursor = got.cursor
                while cursor:  # walk every page
                    nxt = d.query("t", {**spec, "cursor": cursor})
                    cursor = nxt.cursor
        for d in dbs:
            d.close()

    check()


def test_query_json_splices_stored_records(db: Database) -> None:
    fn = db.table("t")
    big = "x" * 5000  # compressed on disk: the text comes out decompressed
    rows = {1: {"raw": b"\x00\xff", "inf": float("inf"), "ints": {1: "a", "$k": 2}},
            2: {"big": big, "n": 2.5}, "s": [1, "two", None, True]}
    for k, v in rows.items():
        fn.set(k, v)
    keys, values, cursor = db.query_json("t", {})
    assert json.loads(keys) == [1, 2, "s"] and cursor is None
    decoded = [from_tagged(v) for v in json.loads(values)]
    assert decoded == [rows[1], rows[2], rows["s"]]
    assert '"$bytes"' in values and '"$map"' in values and '"$float"' in values
    keys, values, cursor = db.query_json("t", {"limit": 1})
    assert json.loads(keys) == [1] and cursor
    assert db.query_json("nothing", {}) == ("[]", "[]", None)
    with pytest.raises(StorageError) as err:
        db.query_json("t", {"field": "a", "operator": "~", "value": 1})
    assert err.value.code == "BAD_OPERATOR"


def test_set_runs_in_batches(db: Database) -> None:
    db.create_index("t", "u", unique=True)
    seen: list[tuple[int, int]] = []
    run = SetRun("t", ["a", "b", 7], [{"u": 1}, {"u": 2}, {"u": 3}])
    assert db.batch([{"type": "set", "table": "t", "key": "z", "value": {"u": 0}}, run],
                    on_progress=lambda d, t: seen.append((d, t)),
                    progress_every=2) == [True] * 4
    assert seen == [(2, 4), (4, 4)] and db.get("t", 7) == {"u": 3}
    with pytest.raises(StorageError) as err:  # the unique index fails at the run's third key
        db.batch([{"type": "delete", "table": "t", "key": "z"},
                  SetRun("t", ["c", "d", "e"], [{"u": 9}, {"u": 8}, {"u": 9}])])
    assert err.value.code == "BATCH_FAILED" and err.value.details["index"] == 3
    assert err.value.details["op"] == {"type": "set", "table": "t", "key": "e"}
    assert db.get("t", "z") == {"u": 0} and db.get("t", "c") is None
    with pytest.raises(StorageError) as err:
        db.batch([SetRun(5, ["k"], [1])])
    assert err.value.details["index"] == 0 and err.value.details["cause"]["code"] == "BAD_TABLE_NAME"
    with pytest.raises(StorageError):
        SetRun("t", ["k"], [1, 2])


def test_prepared_queries_follow_writes(db: Database) -> None:
    _users(db, 38)
    db.create_index("users", "age")
    q = db.prepare("users", {"field": "age", "operator": ">=", "value": 35, "limit": 3})
    first = db.query("users", q)
    assert [v["age"] for _, v in first] == [35, 36, 37] and db.query("users", q) == first
    db.batch([{"type": "set", "table": "users", "key": "new", "value": {"age": 35}},
              {"type": "delete", "table": "users", "key": "u035"}])
    assert [k for k, _ in db.query("users", q)] == ["new", "u036", "u037"]  # the plan did not go stale
    assert json.loads(db.query_json("users", q)[0]) == ["new", "u036", "u037"]
    assert db.explain("users", q)["index"] == "age"
    with pytest.raises(StorageError) as err:
        db.query("other", q)
    assert err.value.code == "BAD_QUERY"


# ---------------------------------------------------------- export / import
def test_export_import_between_backends(tmp_path: Path) -> None:
    from hypelua import Runtime

    src = Runtime(tmp_path / "src.db", stdout=lambda s: None)
    src.execute("""
        local k = 3
        Memory.mul = function(x) return x * k end
        Memory.raw = load(string.dump(function() return 'raw' end, true))
        Memory.data = { list = {1, 2}, bin = '\\0\\255' }
    """)
    db = src.database
    db.table("users").set("u1", {"name": "Ann", "age": 31})
    db.create_index("users", "age")
    db.define_schema("users", {"type": "object", "required": ["name"]}, version=3)
    path = tmp_path / "export.json"
    assert db.export_to(path) > 0
    src.close()

    for target in (":memory:", tmp_path / "dst.db"):
        dst = Runtime(target, stdout=lambda s: None)
        report = dst.database.import_data(path)
        assert report["tables"] == 2 and report["functions"] == 2 and report["functions_from_source"] == 1
        assert dst.execute("return Memory.mul(5), Memory.data.list[2], Memory.data.bin") == (15, 2, b"\x00\xff")
        with pytest.raises(StorageError) as info:  # foreign bytecode without source: refused, not run
            dst.execute("return Memory.raw()")
        assert info.value.code == "BYTECODE_REJECTED"
        assert dst.database.schema_version("users") == 3
        assert dst.database.explain("users", {"field": "age", "operator": "=", "value": 31})["index"] == "age"
        dst.close()
    trusted = Runtime(":memory:", stdout=lambda s: None)
    trusted.database.import_data(path, trust_bytecode=True)
    assert trusted.execute("return Memory.raw()") == ("raw",)
    trusted.close()


@pytest.mark.parametrize("doc", ["not json", '{"format": "other"}',
                                 '{"format": "hypelua-export", "version": 1, "tables": [{"name": "t", "rows": [[1]]}]}',
                                 '{"format": "hypelua-export", "version": 1, "tables": [{"name": "t", '
                                 '"rows": [["a", {"$bytes": "!!"}]]}]}'])
def test_bad_imports_change_nothing(db: Database, doc: str) -> None:
    db.table("t").set("keep", 1)
    with pytest.raises(StorageError) as info:
        db.import_data(doc)
    assert info.value.code == "BAD_EXPORT"
    assert db.table("t").keys() == ["keep"]


def test_mutating_a_value_after_set_changes_nothing_stored(db: Database) -> None:
    t = db.table("t")
    t.create_index("age")
    doc = {"age": 1, "tags": ["a"]}
    t.set("k", doc)
    doc["age"] = 99
    doc["tags"].append("b")
    assert t.get("k") == {"age": 1, "tags": ["a"]}
    assert [k for k, _ in t.query(field="age", operator="=", value=1)] == ["k"]
    assert [k for k, _ in t.query(field="age", operator="=", value=99)] == []
    (_, row), = t.query(field="age", operator="=", value=1)
    row["age"] = 7  # results are copies too
    assert t.get("k")["age"] == 1
