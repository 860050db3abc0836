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
