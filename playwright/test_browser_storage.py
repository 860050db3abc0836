"""Issue 3 in the browser: the storage JS API over the IndexedDB back-end.

* the API itself (PRD example, indices, explain, progress events, schema, migrate, stats);
* differential: random tables + random queries give the same rows, in the same
  order, with the same cursors, in the page (IndexedDB back-end) as natively
  (SQLite back-end, ``Database.open(tmp.db)`` in this process);
* reloading the page in the middle of big batches: every batch is there fully or
  not at all, and indexed queries agree with full scans;
* bad input through the JS API: typed HypeErrors, nothing lost, the page keeps working;
* the playground's indices & queries card.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hypelua.browser import to_jsonable
from hypelua.storage import Database

if TYPE_CHECKING:
    from conftest import HypePage


# ------------------------------------------------------------------ the API
def test_prd_query_example(hype_page: HypePage) -> None:
    hp = hype_page
    ops = [{"type": "set", "table": "Memory", "key": f"user{i}", "value": {"users": {"age": 18 + i % 30, "n": i}}}
           for i in range(300)]
    assert hp.call("hype.batchTableOperations(args[0])", ops) == [True] * 300
    assert hp.call("hype.createIndex('Memory', 'users.age')") == "users.age"
    rows = hp.call("""hype.queryTable('Memory', {field: 'users.age', operator: '>=', value: 25, limit: 100})
                      .then((r) => ({rows: r, cursor: r.cursor, isArray: Array.isArray(r)}))""")
    assert rows["isArray"] and len(rows["rows"]) == 100 and rows["cursor"]
    assert all(r["value"]["users"]["age"] >= 25 for r in rows["rows"])
    plan = hp.call("hype.explain('Memory', {field: 'users.age', operator: '=', value: 30})")
    assert plan["plan"] == "index" and plan["index"] == "users.age"
    # pages: follow the cursor to the end; the last page has cursor null
    seen, cursor = 0, None
    for _ in range(10):
        page = hp.call("""hype.queryTable('Memory', {field: 'users.age', operator: '>=', value: 25, limit: 100,
                            cursor: args[0]}).then((r) => ({n: r.length, cursor: r.cursor}))""", cursor)
        seen += page["n"]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == sum(1 for i in range(300) if 18 + i % 30 >= 25) and cursor is None


def test_indices_create_list_drop(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.batchTableOperations(args[0])",
            [{"type": "set", "table": "People", "key": i, "value": {"last": f"L{i % 7}", "first": f"F{i}",
                                                                      "email": f"p{i}@x"}} for i in range(50)])
    assert hp.call("hype.createIndex('People', ['last', 'first'])") == "last+first"
    assert hp.call("hype.createIndex('People', 'email', 'btree', {unique: true})") == "email"
    names = {i["name"]: i for i in hp.call("hype.indexes('People')")}
    assert set(names) == {"last+first", "email"} and names["email"]["unique"]
    assert hp.call("hype.dropIndex('People', ['last', 'first'])") is True
    assert hp.call("hype.dropIndex('People', 'last+first')") is False
    assert [i["name"] for i in hp.call("hype.indexes('People')")] == ["email"]


def test_batch_progress_results_and_types(hype_page: HypePage) -> None:
    out = hype_page.call("""(async () => {
        const events = [];
        const ops = [];
        for (let i = 0; i < 1000; i++) ops.push({type: 'set', table: 'Prog', key: i, value: {i}});
        ops.push({type: 'set', table: 'Prog', key: 'bin', value: {b: new Uint8Array([0, 1, 255]), inf: Infinity}});
        ops.push({type: 'get', table: 'Prog', key: 'bin'});
        ops.push({type: 'update', table: 'Prog', key: 3, value: {'extra.deep': 1}});
        ops.push({type: 'delete', table: 'Prog', key: 4});
        ops.push({type: 'get', table: 'Prog', key: 4});
        const results = await hype.batchTableOperations(ops, {onProgress: (p) => events.push(p)});
        const got = results[1001];
        return {events, n: results.length, tail: results.slice(1002),
                bytes: Array.from(got.b), isU8: got.b instanceof Uint8Array, inf: got.inf === Infinity,
                lua: await hype.compute('return Prog[3].extra.deep + #Prog.bin.b')};
    })()""")
    assert out["n"] == 1005
    assert out["bytes"] == [0, 1, 255] and out["isU8"] and out["inf"]
    assert out["tail"] == [{"i": 3, "extra": {"deep": 1}}, True, None]
    assert out["lua"] == 4  # Lua sees the batch (and the bytes as a 3-byte string)
    events = out["events"]
    assert events and events[-1] == {"done": 1005, "total": 1005}
    assert [e["done"] for e in events] == sorted(e["done"] for e in events)


def test_schema_migrate_stats(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.batchTableOperations(args[0])",
            [{"type": "set", "table": "Acc", "key": f"a{i}", "value": {"name": f"n{i}", "cents": i * 100}}
             for i in range(20)])
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    assert hp.call("hype.defineSchema('Acc', args[0], 1)", schema) == 1
    result = hp.call("""hype.migrate('Acc', {steps: {
            2: 'function(key, row) row.euros = row.cents / 100; row.cents = nil; return row end',
            3: 'function(key, row) if row.euros >= 18 then return nil end return row end'},
          schema: {type: 'object', required: ['name', 'euros']}, toVersion: 3})""")
    assert result == {"table": "Acc", "from_version": 1, "to_version": 3, "rows": 18, "deleted": 2}
    rows = hp.call("hype.queryTable('Acc', {field: 'euros', operator: '>=', value: 17})")
    assert [r["key"] for r in rows] == ["a17"] and rows[0]["value"] == {"name": "n17", "euros": 17}
    stats = hp.call("hype.stats()")
    assert stats["backend"] == "indexeddb" and stats["tables"]["Acc"]["rows"] == 18
    # Lua sees migrated rows
    assert hp.call("hype.compute('return Acc.a5.euros')") == 5


def test_index_definitions_and_schemas_survive_reload(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    # a table whose only trace is meta (an index and a schema, no rows)
    hp.call("hype.createIndex('Empty', 'x')")
    hp.call("hype.defineSchema('Empty', {type: 'object', required: ['x']}, 4)")
    hp.call("hype.batchTableOperations(args[0])",
            [{"type": "set", "table": "R", "key": i, "value": {"x": i % 5}} for i in range(40)])
    hp.call("hype.createIndex('R', 'x', {unique: false})")
    hp.reload()
    assert [i["name"] for i in hp.call("hype.indexes('Empty')")] == ["x"]
    assert hp.call("hype.explain('R', {field: 'x', operator: '=', value: 2})")["plan"] == "index"
    err = hp.error_of("hype.batchTableOperations([{type: 'set', table: 'Empty', key: 1, value: {y: 1}}])")
    assert err and err["code"] == "BATCH_FAILED" and err["details"]["cause"]["code"] == "SCHEMA_VIOLATION"
    # after compaction (journal folded into rows) everything is still there
    hp.call("hype.compact()")
    hp.reload()
    assert len(hp.call("hype.queryTable('R', {field: 'x', operator: '=', value: 2})")) == 8
    assert [i["name"] for i in hp.call("hype.indexes('Empty')")] == ["x"]


# ------------------------------------------------------------ differential
FIELDS = ["age", "score", "name", "flag", "info.city", "tags"]
INDEXABLE = ["age", "score", "name", "flag", "info.city"]


def _random_value(rng: random.Random) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    r = rng.random()
    if r < 0.7:
        doc["age"] = rng.randint(0, 60)
    elif r < 0.8:
        doc["age"] = str(rng.randint(0, 60))  # another type class: never matches numeric comparisons
    elif r < 0.85:
        doc["age"] = rng.random() < 0.5
    if rng.random() < 0.9:
        doc["score"] = round(rng.uniform(-50, 50), 2)
    if rng.random() < 0.9:
        doc["name"] = rng.choice(["ann", "bob", "cy", "dee", "Ann", "éva", "ann b", ""]) + rng.choice(["", "x", "yz"])
    if rng.random() < 0.6:
        doc["flag"] = rng.random() < 0.5
    if rng.random() < 0.7:
        doc["info"] = {"city": rng.choice(["Oslo", "Lima", "Rome", "oslo"]), "zip": rng.randint(1000, 1010)}
    if rng.random() < 0.5:
        doc["tags"] = rng.sample(["a", "b", "c", 1, 2], rng.randint(0, 3))
    return doc


def _scalar(rng: random.Random, fld: str) -> Any:
    if fld == "age":
        return rng.choice([rng.randint(-5, 65), str(rng.randint(0, 60)), True])
    if fld == "score":
        return rng.choice([round(rng.uniform(-60, 60), 2), rng.randint(-50, 50)])
    if fld == "name":
        return rng.choice(["ann", "bob", "cy", "Ann", "éva", "", "annx", "z"])
    if fld == "flag":
        return rng.random() < 0.5
    if fld == "info.city":
        return rng.choice(["Oslo", "Lima", "Rome", "oslo", "M"])
    return rng.choice(["a", "b", 1, 2, "zz"])


def _random_query(rng: random.Random) -> dict[str, Any]:
    def cond() -> dict[str, Any]:
        fld = rng.choice(FIELDS)
        op = rng.choice(["=", "!=", "<", "<=", ">", ">=", "in", "between", "prefix", "contains"])
        if op == "in":
            value: Any = [_scalar(rng, fld) for _ in range(rng.randint(1, 3))]
        elif op == "between":
            a, b = _scalar(rng, "score"), _scalar(rng, "score")
            value = sorted([a, b]) if fld != "name" else sorted(["ann", "cy"])
        elif op == "prefix":
            value = rng.choice(["a", "an", "A", "é", "", "b"])
        else:
            value = _scalar(rng, fld)
        return {"field": fld, "operator": op, "value": value}

    q: dict[str, Any] = {}
    n = rng.choice([0, 1, 1, 1, 2])
    conds = [cond() for _ in range(n)]
    if conds and rng.random() < 0.5:
        q.update(conds.pop(0))
    if conds:
        q["where"] = conds
    if rng.random() < 0.6:
        if "field" in q and rng.random() < 0.5:
            q["order"] = rng.choice(["asc", "desc"])
        else:
            q["order"] = {"field": rng.choice(INDEXABLE), "direction": rng.choice(["asc", "desc"])}
    if rng.random() < 0.7:
        q["limit"] = rng.choice([0, 1, 5, 20, 100])
    if rng.random() < 0.2:
        q["offset"] = rng.randint(0, 10)
    return q


JS_RUN_QUERIES = """(async ([table, queries]) => {
    const out = [];
    for (const q of queries) {
        try {
            const pages = [];
            let r = await hype.queryTable(table, q);
            pages.push(r.map((x) => [x.key, x.value]));
            // follow up to 3 pages
            for (let i = 0; i < 3 && r.cursor; i++) {
                r = await hype.queryTable(table, {...q, cursor: r.cursor});
                pages.push(r.map((x) => [x.key, x.value]));
            }
            out.push({pages, cursor: r.cursor});
        } catch (e) {
            out.push({error: e.code});
        }
    }
    return out;
})(args[0])"""


def _native(db: Database, table: str, q: dict[str, Any]) -> dict[str, Any]:
    from hypelua import HypeError

    try:
        pages = []
        r = db.query(table, q)
        pages.append([[k, to_jsonable(v)] for k, v in r])
        for _ in range(3):
            if not r.cursor:
                break
            r = db.query(table, {**q, "cursor": r.cursor})
            pages.append([[k, to_jsonable(v)] for k, v in r])
        return {"pages": pages, "cursor": r.cursor}
    except HypeError as exc:
        return {"error": exc.code}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_differential_against_native_sqlite(hype_page: HypePage, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    table = f"Diff{seed}"
    rows = {}
    for i in range(200):
        key: Any = i if rng.random() < 0.5 else f"k{i:03d}"
        rows[key] = _random_value(rng)
    ops = [{"type": "set", "table": table, "key": k, "value": v} for k, v in rows.items()]
    indexes = rng.sample(INDEXABLE, 3)
    compound = ["name", "age"]
    native = Database.open(tmp_path / f"diff{seed}.db")
    assert native.backend.name == "sqlite"
    native.batch(ops)
    for f in indexes:
        native.create_index(table, f)
    native.create_index(table, compound)
    hype_page.call("hype.batchTableOperations(args[0])", ops)
    for f in indexes:
        hype_page.call("hype.createIndex(args[0], args[1])", table, f)
    hype_page.call("hype.createIndex(args[0], args[1])", table, compound)
    # some deletes and updates after the indices exist
    changes: list[dict[str, Any]] = []
    for k in rng.sample(sorted(rows, key=str), 20):
        if rng.random() < 0.5:
            changes.append({"type": "delete", "table": table, "key": k})
        else:
            changes.append({"type": "set", "table": table, "key": k, "value": _random_value(rng)})
    native.batch(changes)
    hype_page.call("hype.batchTableOperations(args[0])", changes)

    queries = [_random_query(rng) for _ in range(30)]
    got = hype_page.call(JS_RUN_QUERIES, [table, queries])
    mismatches = []
    for q, browser in zip(queries, got, strict=True):
        expected = _native(native, table, q)
        if browser != expected:
            mismatches.append({"query": q, "browser": browser, "native": expected})
    assert not mismatches, f"{len(mismatches)} of {len(queries)} queries differ; first: {mismatches[0]}"
    assert sum(1 for q in queries if "error" not in _native(native, table, q)) >= 20
    native.close()


# ------------------------------------------------------- reload mid-batch
BIG = 20_000

JS_FIRE_BATCH = """((r) => {
    const ops = [];
    for (let i = 0; i < BIG; i++) ops.push({type: 'set', table: 'Big', key: 'b' + r + '_' + i,
                                          value: {r, n: i, m: i, pad: 'x'.repeat(i % 7)}});
    window.__batch = hype.batchTableOperations(ops).then(() => 'done', (e) => e.code);
    return true;
})(args[0])""".replace("BIG", str(BIG))

JS_CHECK = """(async (rounds) => {
    const counts = [];
    for (let r = 0; r < rounds; r++) {
        counts.push((await hype.queryTable('Big', {field: 'r', operator: '=', value: r})).length);
    }
    const keys = (rows) => rows.map((x) => x.key).sort();
    const viaIndex = keys(await hype.queryTable('Big', {field: 'n', operator: 'between', value: [100, 130]}));
    const viaScan = keys(await hype.queryTable('Big', {field: 'm', operator: 'between', value: [100, 130]}));
    const plans = [(await hype.explain('Big', {field: 'n', operator: 'between', value: [100, 130]})).plan,
                   (await hype.explain('Big', {field: 'm', operator: 'between', value: [100, 130]})).plan];
    const stats = await hype.stats();
    return {counts, viaIndex, viaScan, plans, total: stats.tables.Big ? stats.tables.Big.rows : 0};
})(args[0])"""


def test_reload_in_the_middle_of_big_batches(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    rng = random.Random(7)
    hp.call("hype.createIndex('Big', 'n')")
    hp.call("hype.createIndex('Big', 'r')")
    rounds = 5
    outcomes = []
    for r in range(rounds):
        hp.call(JS_FIRE_BATCH, r)
        hp.page.wait_for_timeout(rng.choice([0, 150, 400, 800, 1500, 2500]))
        hp.reload()
        state = hp.call(JS_CHECK, r + 1)
        outcomes = state["counts"]
        assert all(c in (0, BIG) for c in state["counts"]), state["counts"]  # all or nothing
        assert state["total"] == sum(state["counts"])
        assert state["viaIndex"] == state["viaScan"]
        assert len(state["viaIndex"]) == 31 * sum(1 for c in state["counts"] if c)
        if state["total"]:
            assert state["plans"] == ["index", "full_scan"]
    print("batches present after the reloads:", [c == BIG for c in outcomes])
    # a batch that is awaited is there after a reload, and so is everything before
    hp.call(JS_FIRE_BATCH, rounds)
    assert hp.call("window.__batch") == "done"
    hp.reload()
    state = hp.call(JS_CHECK, rounds + 1)
    assert state["counts"][-1] == BIG and state["viaIndex"] == state["viaScan"]
    # the indices were not lost either
    assert {i["name"] for i in hp.call("hype.indexes('Big')")} == {"n", "r"}


# ---------------------------------------------------------------- bad input
BAD_INPUT = [
    ("hype.queryTable('Bad', {field: 'age', operator: '~=', value: 1})", "BAD_OPERATOR", None),
    ("hype.queryTable('Bad', {field: 'a..b', operator: '=', value: 1})", "BAD_FIELD_PATH", None),
    ("hype.queryTable('Bad', {field: 'age', operator: '>=', value: {x: 1}})", "BAD_QUERY_VALUE", None),
    ("hype.queryTable('Bad', {field: 'age', operator: '>=', value: 1, cursor: 'garbage!'})", "BAD_CURSOR", None),
    ("hype.queryTable('Bad', {field: 'age', operator: '>=', value: 1, limit: -1})", "BAD_QUERY", None),
    ("hype.queryTable('Bad', {colour: 'red'})", "BAD_QUERY", None),
    ("hype.queryTable('', {})", "BAD_TABLE_NAME", None),
    ("hype.explain('Bad', {field: '1x', operator: '=', value: 1})", "BAD_FIELD_PATH", None),
    ("hype.createIndex('Bad', 'a.b-c')", "BAD_FIELD_PATH", None),
    ("hype.createIndex('Bad', 'age', 'hash')", "BAD_INDEX", None),
    ("hype.createIndex('Bad', 'email', {unique: true})", "UNIQUE_VIOLATION", None),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'n1', value: 1},"
     " {type: 'set', table: 'Bad', key: 'f', value: {fn: () => 1}}])", "BATCH_FAILED", "NOT_STORABLE"),
    ("(() => { const o = {a: 1}; o.self = o;"
     " return hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'c', value: o}]); })()",
     "BATCH_FAILED", "NOT_STORABLE"),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'm', value: new Map([[1, 2]])}])",
     "BATCH_FAILED", "NOT_STORABLE"),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'big', value: 2n ** 70n}])",
     "BATCH_FAILED", "NOT_STORABLE"),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 1.5, value: 1}])", "BATCH_FAILED", "NOT_STORABLE"),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'n2', value: 1},"
     " {type: 'set', table: 'Strict', key: 'x', value: {name: 5}}])", "BATCH_FAILED", "SCHEMA_VIOLATION"),
    ("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'n3', value: 1},"
     " {type: 'set', table: 'Bad', key: 'dup', value: {email: 'a@x'}}])", "BATCH_FAILED", "UNIQUE_VIOLATION"),
    ("hype.batchTableOperations([{type: 'update', table: 'Bad', key: 'nope', value: {a: 1}}])",
     "BATCH_FAILED", "NOT_FOUND"),
    ("hype.batchTableOperations([{type: 'frob', table: 'Bad', key: 1}])", "BATCH_FAILED", "BAD_OPERATION"),
    ("hype.batchTableOperations('nope')", "BAD_OPERATION", None),
    ("hype.defineSchema('Strict2', {type: 'nonsense'})", "BAD_SCHEMA", None),
    ("hype.defineSchema('Bad', {type: 'object', required: ['age']})", "SCHEMA_VIOLATION", None),
    ("hype.migrate('Bad', {steps: {2: 'function(key, row) return row'}})", "LUA_SYNTAX_ERROR", None),
    ("hype.migrate('Bad', {steps: {2: '42'}})", "NOT_A_FUNCTION", None),
    ("hype.migrate('Bad', {steps: {2: 'function(key, row) if key == \"e2\" then error(\"no\") end"
     " row.touched = true return row end'}})", "MIGRATION_FAILED", "LUA_RUNTIME_ERROR"),
    ("hype.migrate('Bad', {steps: {2: 'function(key, row) return row end'},"
     " schema: {type: 'object', required: ['zzz']}})", "MIGRATION_FAILED", None),
    ("hype.migrate('Bad', {steps: {2: (k, r) => r}})", "BAD_REQUEST", None),
]


def test_bad_input_is_typed_and_nothing_is_lost(hype_page: HypePage) -> None:
    hp = hype_page
    good = [{"type": "set", "table": "Bad", "key": f"e{i}", "value": {"email": f"{i}@x", "age": i}} for i in range(5)]
    good.append({"type": "set", "table": "Bad", "key": "dup0", "value": {"email": "a@x"}})
    hp.call("hype.batchTableOperations(args[0])", good)
    hp.call("hype.defineSchema('Strict', {type: 'object', properties: {name: {type: 'string'}}})")
    before = hp.call("hype.queryTable('Bad', {})")
    # 'email' is not unique yet: 'dup' below is only a violation once the index exists
    hp.call("hype.batchTableOperations([{type: 'set', table: 'Bad', key: 'dup1', value: {email: 'same'}},"
            " {type: 'set', table: 'Bad', key: 'dup2', value: {email: 'same'}}])")
    failures = []
    for expr, code, cause in BAD_INPUT:
        if cause == "UNIQUE_VIOLATION":
            hp.call("hype.batchTableOperations([{type: 'delete', table: 'Bad', key: 'dup2'}])")
            hp.call("hype.createIndex('Bad', 'email', {unique: true})")
        err = hp.error_of(expr)
        if err is None:
            failures.append(f"{expr}: resolved")
            continue
        ok = err["isHypeError"] and err["code"] == code and err["message"] and isinstance(err["suggestion"], str)
        if cause is not None:
            ok = ok and (err["details"] or {}).get("cause", {}).get("code") == cause
        if not ok:
            failures.append(f"{expr}: {err}")
    assert not failures, "\n".join(failures)
    # nothing lost, no partial batch applied, the schema version did not move
    after = hp.call("hype.queryTable('Bad', {})")
    expected = [r for r in before if r["key"] != "dup2"] + [
        {"key": "dup1", "value": {"email": "same"}}]
    assert sorted(after, key=lambda r: str(r["key"])) == sorted(expected, key=lambda r: str(r["key"]))
    for key in ("n1", "n2", "n3", "c", "m", "big", "f"):
        assert hp.call("hype.batchTableOperations([{type: 'get', table: 'Bad', key: args[0]}])", key) == [None]
    assert hp.call("hype.queryTable('Strict', {})") == []
    assert hp.call("hype.run('return 6 * 7')") == [42]
    assert hp.call("hype.stats()")["tables"]["Bad"]["rows"] == len(expected)


# -------------------------------------------------------------- playground
def test_playground_indices_and_query_form(hype_page: HypePage, artifacts_dir: Path) -> None:
    hp = hype_page
    page = hp.page
    hp.call("hype.batchTableOperations(args[0])",
            [{"type": "set", "table": "Pets", "key": f"p{i}", "value": {"kind": ["cat", "dog"][i % 2], "age": i}}
             for i in range(12)])
    page.click("#refresh")
    page.wait_for_selector("#st-table option[value='Pets']", state="attached")
    page.select_option("#st-table", "Pets")
    page.fill("#st-index-form input[name=fields]", "age")
    page.click("#st-index-btn")
    page.wait_for_selector("#st-indexes li[data-index='age']")
    page.fill("#st-query-form input[name=field]", "age")
    page.select_option("#st-query-form select[name=operator]", ">=")
    page.fill("#st-query-form input[name=value]", "8")
    page.fill("#st-query-form input[name=limit]", "3")
    page.click("#st-query-btn")
    page.wait_for_selector("#st-results tr[data-key='p8']")
    assert "plan:" in page.inner_text("#st-plan")
    assert page.locator("#st-results tr").count() == 3
    page.click("#st-next")
    page.wait_for_selector("#st-results tr[data-key='p11']")
    page.screenshot(path=str(artifacts_dir / "playground-storage.png"), full_page=True)
    page.click("#st-indexes li[data-index='age'] button")
    page.wait_for_selector("#st-indexes li[data-index='age']", state="detached")
    assert hp.call("hype.indexes('Pets')") == []
