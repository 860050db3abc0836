"""WorkerHost: the JSON protocol the JS API speaks (run natively with a memory database)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from hypelua.browser import WorkerHost, to_jsonable


def _call(host: WorkerHost, op: str, args: Any = None, raw: str | None = None) -> dict[str, Any]:
    text = raw if raw is not None else json.dumps(args or {})
    return json.loads(asyncio.run(host.dispatch(op, text)))


@pytest.fixture
def host(lua_backend: str) -> WorkerHost:
    return asyncio.run(WorkerHost.create("test", None, backend=lua_backend))


def test_run_and_compute(host: WorkerHost) -> None:
    assert _call(host, "run", {"code": "return 6 * 7"}) == {"ok": True, "value": [42], "output": ""}
    reply = _call(host, "run", {"code": "print('hi') return 1, 'a', {x = 1}, nil"})
    assert reply["value"] == [1, "a", {"x": 1}, None] and reply["output"] == "hi\n"
    assert _call(host, "compute", {"code": "return 2 ^ 10"})["value"] == 1024.0
    assert _call(host, "compute", {"code": "local x = 1"})["value"] is None


def test_persist_function_and_tables(host: WorkerHost) -> None:
    reply = _call(host, "persistFunction", {"table": "Memory", "key": "calculate",
                                            "code": "function(x, y) return x * y + math.sin(x) end",
                                            "options": {"compress": True}})
    assert reply["ok"] and reply["value"]["compressed"] is True
    assert _call(host, "compute", {"code": "return Memory.calculate(5, 3)"})["value"] == pytest.approx(
        15 + math.sin(5))
    (table,) = _call(host, "tables")["value"]
    assert table["name"] == "Memory"
    (entry,) = table["entries"]
    assert entry["key"] == "calculate" and entry["kind"] == "function" and entry["compressed"]
    assert _call(host, "deleteEntry", {"table": "Memory", "key": "calculate"})["value"] is True
    assert _call(host, "compute", {"code": "return Memory.calculate"})["value"] is None


@pytest.mark.parametrize(
    "op,raw,code",
    [
        ("run", json.dumps({"code": "return +"}), "LUA_SYNTAX_ERROR"),
        ("run", json.dumps({"code": "error('boom')"}), "LUA_RUNTIME_ERROR"),
        ("run", json.dumps({"code": "Memory.t = coroutine.create(print)"}), "NOT_STORABLE"),
        ("run", "{not json", "BAD_REQUEST"),
        ("run", "[1, 2]", "BAD_REQUEST"),
        ("run", json.dumps({"code": 5}), "BAD_REQUEST"),
        ("run", json.dumps({"cod": "x"}), "BAD_REQUEST"),
        ("explode", "{}", "BAD_REQUEST"),
        ("persistFunction", json.dumps({"table": "", "key": "k", "code": "function() end"}), "BAD_TABLE_NAME"),
        ("persistFunction", json.dumps({"table": "T", "key": "k", "code": "1"}), "NOT_A_FUNCTION"),
    ],
)
def test_bad_input_is_a_typed_reply_and_host_survives(host: WorkerHost, op: str, raw: str, code: str) -> None:
    _call(host, "run", {"code": "Memory.keep = 'yes'"})
    reply = _call(host, op, raw=raw)
    assert reply["ok"] is False
    err = reply["error"]
    assert err["code"] == code and err["message"] and set(err) == {"code", "message", "details", "suggestion"}
    assert _call(host, "compute", {"code": "return Memory.keep"})["value"] == "yes"


def test_runtime_error_carries_lua_message_and_traceback(host: WorkerHost) -> None:
    err = _call(host, "run", {"code": "local t = nil\nreturn t.x"})["error"]
    assert "attempt to index a nil value" in err["message"]
    assert "stack traceback" in err["details"]["traceback"]


def test_to_jsonable() -> None:
    assert to_jsonable({1: b"\x00", "f": math.inf, "l": (1, 2)}) == {
        "1": {"$bytes": "AA=="}, "f": {"$float": "inf"}, "l": [1, 2]}


# ------------------------------------------------------------ storage ops (issue 3)
def _progress_call(host: WorkerHost, op: str, args: Any, events: list[tuple[int, int]]) -> dict[str, Any]:
    return json.loads(asyncio.run(host.dispatch(op, json.dumps(args), lambda d, t: events.append((d, t)))))


def test_storage_ops_round_trip(host: WorkerHost) -> None:
    events: list[tuple[int, int]] = []
    ops = [{"type": "set", "table": "Memory", "key": f"u{i}", "value": {"users": {"age": i % 50}}}
           for i in range(500)]
    reply = _progress_call(host, "batchTableOperations", {"ops": ops, "progress": True}, events)
    assert reply["ok"] and reply["value"] == [True] * 500
    assert events[-1] == (500, 500) and len(events) == 5
    assert _call(host, "createIndex", {"table": "Memory", "fields": "users.age"})["value"] == "users.age"
    q = {"field": "users.age", "operator": ">=", "value": 25, "limit": 100}
    page = _call(host, "queryTable", {"table": "Memory", "query": q})["value"]
    assert len(page["keys"]) == len(page["values"]) == 100 and page["cursor"]
    assert all(v["users"]["age"] >= 25 for v in page["values"])
    assert page["keys"] == [k for k, _ in host.runtime.database.query("Memory", q)]
    assert _call(host, "explain", {"table": "Memory", "query": {**q, "operator": "="}})["value"]["plan"] == "index"
    assert [i["name"] for i in _call(host, "indexes", {"table": "Memory"})["value"]] == ["users.age"]
    assert _call(host, "dropIndex", {"table": "Memory", "name": "users.age"})["value"] is True
    assert _call(host, "stats")["value"]["tables"]["Memory"]["rows"] == 500
    assert _call(host, "compact")["value"] == {"entries": 0, "ops": 0}  # memory back-end: nothing to fold
    # Lua sees what the JS API wrote
    assert _call(host, "compute", {"code": "return Memory.u7.users.age"})["value"] == 7


def test_dispatch_sync_answers_read_only_ops_only(host: WorkerHost) -> None:
    _call(host, "batchTableOperations", {"ops": [{"type": "set", "table": "T", "key": 1, "value": {"a": 1}}]})
    reply = json.loads(host.dispatch_sync("queryTable", json.dumps({"table": "T", "query": {}})) or "{}")
    assert reply["ok"] and reply["value"] == {"keys": [1], "values": [{"a": 1}], "cursor": None}
    err = json.loads(host.dispatch_sync("queryTable", json.dumps({"table": "T", "query": {"field": "a",
                                                                                            "operator": "~"}})) or "{}")
    assert err["error"]["code"] == "BAD_OPERATOR"
    assert host.dispatch_sync("batchTableOperations", "{}") is None
    assert host.dispatch_sync("run", json.dumps({"code": "return 1"})) is None


def test_set_runs_count_each_key_as_an_operation(host: WorkerHost) -> None:
    """The JS API's wire form for consecutive plain sets: results, progress and error
    indices count each key of a run as one operation of the caller's batch."""
    events: list[tuple[int, int]] = []
    ops = [{"type": "get", "table": "R", "key": "a"},
           {"type": "setRun", "table": "R", "keys": ["a", "b", 3], "values": [{"v": 1}, [2], None]},
           {"type": "set", "table": "R", "key": "c", "value": 4},
           {"type": "setRun", "table": "S", "keys": ["x"], "values": [{"$k": 1}]}]
    reply = _progress_call(host, "batchTableOperations", {"ops": ops, "progress": True, "tagged": False}, events)
    assert reply["value"] == [None, True, True, True, True, True] and events[-1] == (6, 6)
    db = host.runtime.database
    assert (db.get("R", "a"), db.get("R", "b"), db.get("R", 3), db.get("S", "x")) == ({"v": 1}, [2], None, {"$k": 1})
    assert _call(host, "compute", {"code": "return R.a.v + S.x['$k']"})["value"] == 2  # globals defined
    bad = [{"type": "setRun", "table": "R", "keys": ["ok", {"no": 1}], "values": [1, 2]}]
    err = _call(host, "batchTableOperations", {"ops": [{"type": "delete", "table": "R", "key": "a"}, *bad],
                                               "tagged": False})["error"]
    assert err["code"] == "BATCH_FAILED" and err["details"]["index"] == 2
    assert err["details"]["cause"]["code"] == "NOT_STORABLE" and err["details"]["op"]["type"] == "set"
    assert db.get("R", "a") == {"v": 1} and db.get("R", "ok") is None  # nothing applied
    mismatched = [{"type": "setRun", "table": "R", "keys": ["a"], "values": []}]
    assert _call(host, "batchTableOperations", {"ops": mismatched})["error"]["code"] == "BAD_OPERATION"


def test_repeated_query_requests_see_new_writes(host: WorkerHost) -> None:
    """A request text seen before runs as a prepared query; it still sees every write."""
    _call(host, "createIndex", {"table": "P", "fields": "n"})
    _call(host, "batchTableOperations", {"ops": [{"type": "set", "table": "P", "key": i, "value": {"n": i}}
                                                 for i in range(10)]})
    request = json.dumps({"table": "P", "query": {"field": "n", "operator": ">=", "value": 7}})

    def keys() -> list[Any]:
        return json.loads(host.dispatch_sync("queryTable", request) or "{}")["value"]["keys"]

    assert keys() == [7, 8, 9] == keys()
    _call(host, "batchTableOperations", {"ops": [{"type": "set", "table": "P", "key": 100, "value": {"n": 7.5}},
                                                 {"type": "delete", "table": "P", "key": 8}]})
    assert keys() == [7, 100, 9]
    other = json.dumps({"table": "P", "query": {"field": "n", "operator": "<", "value": 2}})
    assert json.loads(host.dispatch_sync("queryTable", other) or "{}")["value"]["keys"] == [0, 1]
    assert _call(host, "queryTable", {"table": "P", "query": {"field": "n", "operator": ">=", "value": 7}}
                 )["value"]["keys"] == [7, 100, 9]


def test_tagged_values_and_migrate(host: WorkerHost) -> None:
    ops = [{"type": "set", "table": "B", "key": "b", "tagged": True,
            "value": {"raw": {"$bytes": "AAH/"}, "inf": {"$float": "inf"}}},
           {"type": "set", "table": "B", "key": "plain", "value": {"$bytes": "not a tag without 'tagged'"}}]
    assert _call(host, "batchTableOperations", {"ops": ops})["ok"]
    assert host.runtime.database.get("B", "b") == {"raw": b"\x00\x01\xff", "inf": math.inf}
    assert host.runtime.database.get("B", "plain") == {"$bytes": "not a tag without 'tagged'"}
    _call(host, "batchTableOperations", {"ops": [{"type": "set", "table": "P", "key": i, "value": {"n": i}}
                                                 for i in range(4)]})
    reply = _call(host, "migrate", {"table": "P", "toVersion": 2, "schema": {"type": "object", "required": ["m"]},
                                    "steps": {"2": "function(key, row) if key == 0 then return nil end "
                                                   "row.m = row.n * 2 return row end"}})
    assert reply["value"] == {"table": "P", "from_version": 0, "to_version": 2, "rows": 3, "deleted": 1}
    assert host.runtime.database.get("P", 3) == {"n": 3, "m": 6}
    err = _call(host, "migrate", {"table": "P", "steps": {"3": "function(key, row) error('stop') end"}})["error"]
    assert err["code"] == "MIGRATION_FAILED" and err["details"]["cause"]["code"] == "LUA_RUNTIME_ERROR"
    assert _call(host, "migrate", {"table": "P", "steps": {"x": "function() end"}})["error"]["code"] == "BAD_REQUEST"
    assert _call(host, "migrate", {"table": "P", "steps": {"3": "{}"}})["error"]["code"] == "NOT_A_FUNCTION"
    assert host.runtime.database.schema_version("P") == 2


def test_actor_processes_op(host: WorkerHost) -> None:
    # [] without loading hype.actor
    assert json.loads(host.dispatch_sync("actor_processes", "{}"))["value"] == []
    assert _call(host, "compute", {"code": 'return package.loaded["hype.actor"] == nil'})["value"] is True
    code = """
      local actor = require("hype.actor")
      local a = actor.spawn(function() actor.receive(function(m) return m == "never" end) end)
      actor.register("b", actor.spawn(function() actor.link(a); actor.receive() end))
      actor.send(a, 1); actor.send(a, 2)
      print("spawned")
    """
    ran = _call(host, "run", {"code": code})
    assert ran["ok"] and ran["output"] == "spawned\n"
    reply = json.loads(host.dispatch_sync("actor_processes", "{}"))
    assert reply["output"] == ""          # the run's print went with the run's reply, once
    rows = {r["name"] or r["pid"]: r for r in reply["value"]}
    b = rows.pop("b")
    assert [r["mailbox"] for r in rows.values() if r["kind"] == "lua"] == [2]
    assert b["status"] == "waiting" and b["kind"] == "lua" and b["memory"] is None and b["monitors"] == 0
    assert len(b["links"]) == 1 and b["links"][0] in {r["pid"] for r in rows.values()}
    assert set(b) == {"pid", "status", "mailbox", "reductions", "memory", "links", "monitors", "name", "kind"}
    assert b["pid"].startswith("<0.") and isinstance(b["reductions"], int)
