"""Property-based fuzz of the worker's wire requests (``WorkerHost.dispatch`` / ``dispatch_sync``).

Random and mutated request JSON (wrong types, missing fields, huge numbers, NaN,
deep nesting, unknown ops, bad table names and keys, bad query specs, bad batch
ops): every reply must be JSON with ``ok: true`` or a typed error
``{code, message, details, suggestion}`` — never ``INTERNAL_ERROR`` (an uncaught
exception), never a hang — and afterwards the SQLite database still opens and
every row written by a request that succeeded is intact.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypelua import Runtime
from hypelua.browser import WorkerHost
from hypelua.storage import Database

LEDGER = "zz_ledger"  # rows written by known-good requests, checked at the end

TABLES = st.one_of(
    st.sampled_from(["t", "users", "Memory", "P", "a.b", "x" * 128]),
    st.sampled_from(["", "x" * 129, "a\0b"]),
    st.text(max_size=12).filter(lambda s: s != LEDGER),
    st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.floats(allow_nan=True),
)
KEYS = st.one_of(
    st.text(max_size=10), st.integers(min_value=-(2**64), max_value=2**64), st.floats(allow_nan=True),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.just("k" * 2000),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)
TAGS = st.one_of(
    st.fixed_dictionaries({"$bytes": st.one_of(st.just("AAH/"), st.text(max_size=8), st.integers())}),
    st.fixed_dictionaries({"$float": st.sampled_from(["inf", "-inf", "nan", "x", 1])}),
    st.fixed_dictionaries({"$map": JSON}), st.fixed_dictionaries({"$function": JSON}),
)
VALUES = st.one_of(JSON, TAGS, st.dictionaries(st.sampled_from(["age", "a", "$map", "$bytes"]), st.one_of(JSON, TAGS),
                                               max_size=3))
FIELDS = st.one_of(st.sampled_from(["age", "a.b", "name", "", ".", "a..b", "$x", "x" * 300]), st.text(max_size=8),
                   st.integers(), st.none(), st.lists(st.sampled_from(["age", "a.b", "", 3]), max_size=9))
OPERATORS = st.one_of(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains", "in", "between", "prefix"]),
                      st.text(max_size=4), st.integers(), st.none())
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True), st.text(max_size=4),
                    st.none(), st.booleans())


def _condition() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({}, optional={"field": FIELDS, "operator": OPERATORS, "op": OPERATORS,
                                               "value": st.one_of(VALUES, st.lists(SCALARS, max_size=3))})


QUERIES = st.one_of(
    _condition(),
    st.fixed_dictionaries({}, optional={
        "field": FIELDS, "operator": OPERATORS, "value": VALUES, "limit": NUMBERS, "offset": NUMBERS,
        "order": st.one_of(st.sampled_from(["asc", "desc", "up"]), JSON), "orderBy": FIELDS,
        "cursor": st.one_of(st.text(max_size=20), JSON), "where": st.one_of(st.lists(_condition(), max_size=3), JSON),
        "bogus": JSON,
    }),
    JSON,
)
BATCH_OP = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["set", "delete", "get", "update"])},
                          optional={"table": TABLES, "key": KEYS, "value": VALUES, "tagged": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("setRun")},
                          optional={"table": TABLES, "keys": st.one_of(st.lists(KEYS, max_size=4), JSON),
                                    "values": st.one_of(st.lists(VALUES, max_size=4), JSON)}),
    st.fixed_dictionaries({}, optional={"type": st.one_of(st.text(max_size=6), JSON), "table": TABLES,
                                        "key": KEYS, "value": VALUES}),
    JSON,
)
LUA_STEPS = st.sampled_from([
    "function(k, r) return r end", "function(k, r) error('stop') end", "function(k, r) return nil end",
    "function(k, r) return coroutine.create(print) end", "not lua (", "5", "{}",
    "function(k, r) local t = {} t.t = t return t end",
])
LUA_CODE = st.sampled_from(["function(x) return x * 2 end", "function() end", "1", "return +",
                            "function(...) return select('#', ...) end", "print"])

GOOD_TABLES = st.sampled_from(["t", "users", "P"])
GOOD_KEYS = st.one_of(st.sampled_from(["a", "b", "u1"]), st.integers(-3, 3))
GOOD_VALUES = st.one_of(st.fixed_dictionaries({"age": st.integers(0, 99)}, optional={"name": st.text(max_size=5)}),
                        st.integers(), st.text(max_size=5))
GOOD_QUERIES = st.fixed_dictionaries(
    {"field": st.sampled_from(["age", "name"]), "operator": st.sampled_from(["=", ">=", "<", "in", "between"]),
     "value": st.one_of(st.integers(0, 99), st.lists(st.integers(0, 99), min_size=1, max_size=2))},
    optional={"limit": st.integers(0, 5), "order": st.sampled_from(["asc", "desc"])})
GOOD_OPS = st.fixed_dictionaries({"type": st.sampled_from(["set", "set", "delete", "get", "update"]),
                                  "table": GOOD_TABLES, "key": GOOD_KEYS, "value": GOOD_VALUES})


def _either(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good``, one draw in four ``bad``."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 3 else good)


REQUESTS: dict[str, st.SearchStrategy[Any]] = {
    "batchTableOperations": st.fixed_dictionaries(
        {"ops": _either(st.lists(st.one_of(GOOD_OPS, GOOD_OPS, BATCH_OP), max_size=5), JSON)},
        optional={"progress": JSON, "tagged": st.one_of(st.booleans(), JSON)}),
    "queryTable": st.fixed_dictionaries({"table": _either(GOOD_TABLES, TABLES),
                                         "query": _either(GOOD_QUERIES, QUERIES)}),
    "explain": st.fixed_dictionaries({"table": _either(GOOD_TABLES, TABLES),
                                      "query": _either(GOOD_QUERIES, QUERIES)}),
    "createIndex": st.fixed_dictionaries(
        {"table": _either(GOOD_TABLES, TABLES), "fields": _either(st.sampled_from(["age", "name"]), FIELDS)},
        optional={"kind": st.one_of(st.just("btree"), JSON),
                  "options": st.one_of(st.fixed_dictionaries({"unique": JSON}), JSON)}),
    "dropIndex": st.fixed_dictionaries({"table": _either(GOOD_TABLES, TABLES),
                                        "name": _either(st.sampled_from(["age", "name"]), FIELDS)}),
    "indexes": st.fixed_dictionaries({"table": _either(GOOD_TABLES, TABLES)}),
    "defineSchema": st.fixed_dictionaries(
        {"table": _either(GOOD_TABLES, TABLES),
         "schema": st.one_of(st.sampled_from([{}, {"type": "object"}, {"type": "nope"}, {"minimum": "x"}]), JSON)},
        optional={"version": _either(st.integers(0, 5), NUMBERS)}),
    "migrate": st.fixed_dictionaries(
        {"table": _either(GOOD_TABLES, TABLES),
         "steps": _either(st.dictionaries(st.one_of(st.sampled_from(["1", "2", "3", "9", "-1", "1e9", "x"]),
                                                    st.text(max_size=3)), LUA_STEPS, max_size=3), JSON)},
        optional={"toVersion": NUMBERS, "schema": st.one_of(st.just({"type": "object"}), JSON)}),
    "persistFunction": st.fixed_dictionaries(
        {"table": _either(GOOD_TABLES, TABLES), "key": _either(GOOD_KEYS, KEYS), "code": st.one_of(LUA_CODE, JSON)},
        optional={"options": JSON}),
    "deleteEntry": st.fixed_dictionaries({"table": _either(GOOD_TABLES, TABLES), "key": _either(GOOD_KEYS, KEYS)}),
    "stats": st.just({}), "tables": st.just({}), "info": st.just({}), "flush": st.just({}), "compact": st.just({}),
}
KNOWN_OPS = st.sampled_from(sorted(REQUESTS))
OPS = st.integers(0, 9).flatmap(
    lambda i: st.text(max_size=12) if i == 9 else st.sampled_from(["__init__", "_db", "run "]) if i == 8 else KNOWN_OPS)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str | bytes]:
    """``(op, args_json)``: a well-shaped request with bad fields, random JSON, or mutated text."""
    op = draw(OPS)
    args = draw(REQUESTS[op]) if op in REQUESTS else draw(JSON)
    if isinstance(args, dict) and args and draw(st.integers(0, 5)) == 5:
        args.pop(draw(st.sampled_from(sorted(args))))  # a missing argument
    if isinstance(args, dict) and draw(st.integers(0, 5)) == 5:
        args = {**args, draw(st.text(max_size=6)): draw(JSON)}  # an unknown argument
    if draw(st.integers(0, 9)) == 9:
        args = draw(JSON)  # not even an object, perhaps
    text = json.dumps(args)  # NaN / Infinity go out as JSON's extension, as a sloppy client would send them
    mutation = draw(st.sampled_from(["none"] * 6 + ["truncate", "insert", "bytes", "deep", "huge"]))
    if mutation == "truncate" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif mutation == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=4)) + text[at:]
    elif mutation == "bytes":
        return op, text.encode("utf-8") + draw(st.binary(max_size=4))
    elif mutation == "deep":
        depth = draw(st.sampled_from([50, 400, 3000]))
        inner = "[" * depth + "1" + "]" * depth
        text = json.dumps({"ops": [{"type": "set", "table": "t", "key": "deep", "value": 0}],
                           "table": "t", "query": {"field": "a", "operator": "=", "value": 0}})
        text = text.replace("0", inner)
    elif mutation == "huge":
        text = text.replace("1", "9" * draw(st.sampled_from([20, 400, 5000])), 1) if "1" in text else text
    return op, text


CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _check_reply(text: str) -> dict[str, Any]:
    reply = json.loads(text)
    assert isinstance(reply, dict) and reply.get("ok") in (True, False), text[:300]
    if not reply["ok"]:
        err = reply["error"]
        assert set(err) == {"code", "message", "details", "suggestion"}, err
        assert CODE.match(err["code"]) and isinstance(err["message"], str) and err["message"], err
        assert err["code"] != "INTERNAL_ERROR", str(err)[:2000]  # an uncaught exception
    return reply


def _dispatch(host: WorkerHost, op: str, args: str | bytes) -> dict[str, Any]:
    async def go() -> str:
        return await asyncio.wait_for(host.dispatch(op, args), 20)  # a hang fails the test

    return _check_reply(asyncio.run(go()))


def _host(path: Path) -> WorkerHost:
    output: list[str] = []
    runtime = Runtime(Database.open(path), stdout=output.append)
    return WorkerHost(runtime, output)


def test_fuzzed_wire_requests_get_typed_replies_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "fuzz.db"
    host = _host(path)
    written: dict[str, Any] = {}
    counter = [0]

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(requests())
    def one(request: tuple[str, str | bytes]) -> None:
        op, args = request
        _dispatch(host, op, args)
        sync = host.dispatch_sync(op, args)
        if sync is not None:
            _check_reply(sync)
        # a known-good write after every fuzzed request: it must succeed and survive
        counter[0] += 1
        key, value = f"k{counter[0]}", {"n": counter[0], "s": "é\u2603", "b": [1, 2.5, None]}
        reply = _dispatch(host, "batchTableOperations",
                          json.dumps({"ops": [{"type": "set", "table": LEDGER, "key": key, "value": value}]}))
        assert reply["ok"], reply
        written[key] = value

    one()
    assert counter[0] >= 100  # the examples did run
    host.runtime.close()
    db = Database.open(path)  # still opens, and nothing acknowledged was lost
    assert dict(db.items(LEDGER)) == written
    assert db.backend.corrupt is None  # type: ignore[attr-defined]
    db.close()


@pytest.mark.parametrize("depth", [900, 5000, 200_000])
def test_deeply_nested_requests_are_typed(tmp_path: Path, depth: int) -> None:
    host = _host(tmp_path / "deep.db")
    inner = "[" * depth + "1" + "]" * depth
    for op, text in [
        ("batchTableOperations", '{"ops": [{"type": "set", "table": "t", "key": "k", "value": ' + inner + "}]}"),
        ("queryTable", '{"table": "t", "query": {"field": "a", "operator": "=", "value": ' + inner + "}}"),
        ("persistFunction", '{"table": "t", "key": "k", "code": "function() end", "options": ' + inner + "}"),
        ("tables", inner),
    ]:
        _dispatch(host, op, text)
    assert _dispatch(host, "info", "{}")["ok"]
    host.runtime.close()


def test_oversized_request_is_refused_typed(tmp_path: Path) -> None:
    from hypelua.browser._host import MAX_REQUEST_BYTES

    host = _host(tmp_path / "big.db")
    big = json.dumps({"ops": [{"type": "set", "table": "t", "key": "k", "value": "x" * MAX_REQUEST_BYTES}]})
    reply = _dispatch(host, "batchTableOperations", big)
    assert reply["error"]["code"] == "REQUEST_TOO_LARGE"
    assert host.runtime.database.get("t", "k") is None
    host.runtime.close()


@pytest.mark.parametrize("op,args,code", [
    ("dropIndex", {"table": "t", "name": ["age", 3]}, "BAD_INDEX"),
    ("dropIndex", {"table": None, "name": 0}, "BAD_TABLE_NAME"),
    ("persistFunction", {"table": "t", "key": "k", "code": "function() end", "options": [1]}, None),
    ("batchTableOperations", "[" * 5000 + "]" * 5000, "BAD_REQUEST"),
])
def test_fuzz_findings_stay_fixed(tmp_path: Path, op: str, args: Any, code: str | None) -> None:
    host = _host(tmp_path / "f.db")
    reply = _dispatch(host, op, args if isinstance(args, str) else json.dumps(args))
    assert (reply["ok"] if code is None else reply["error"]["code"] == code), reply
    host.runtime.close()
