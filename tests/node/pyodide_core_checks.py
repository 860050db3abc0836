"""The Python core inside Pyodide 314 (Node 20): Runtime on the wasm ctypes back-end,
the IndexedDB back-end over ``web/src/idb.mjs`` + ``fake-indexeddb``, and WorkerHost.

Run by ``tests/node/test_pyodide_core.py`` through ``pyodide_runner.mjs``; each
``test_*`` function is one check (async ones are awaited).
"""

from __future__ import annotations

import json
import math
import os

ROOT = os.environ["HYPE_ROOT"]


async def _bridge():  # type: ignore[no-untyped-def]
    from pyodide.code import run_js

    fake = await run_js(f"import('file://{ROOT}/node_modules/fake-indexeddb/build/esm/index.js')")
    mod = await run_js(f"import('file://{ROOT}/web/src/idb.mjs')")
    return mod.createIdbBridge(fake.indexedDB)


def test_platform_and_backend() -> None:
    import sys

    from hypelua.lua import default_backend

    assert sys.platform == "emscripten"
    assert default_backend() == "ctypes"


def test_runtime_memory_database() -> None:
    from hypelua import Runtime

    rt = Runtime(":memory:", stdout=lambda s: None)
    rt.execute("local k = 2\nMemory.f = function(x) return x * k + math.sin(0) end")
    assert rt.execute("return Memory.f(21)") == (42.0,)
    assert rt.database.table("Memory").get("f").source == "function(x) return x * k + math.sin(0) end"


async def test_indexeddb_backend_round_trip_and_reopen() -> None:
    from hypelua.storage import Database
    from hypelua.storage.backends.indexeddb import IndexedDBBackend

    bridge = await _bridge()
    db = Database(await IndexedDBBackend.open(bridge, "core-a"))
    t = db.table("users")
    t.set("u1", {"name": "Ann", "age": 31})
    t.set(1, b"\x00\xff")
    t.set("big", "x" * 5000)  # compressed (Uint8Array in IndexedDB)
    await db.flush()
    assert db.backend.pending == 0
    key = db._hmac_key
    bridge2 = await _bridge()
    db2 = Database(await IndexedDBBackend.open(bridge2, "core-a"))
    assert db2._hmac_key == key
    t2 = db2.table("users")
    assert t2.get("u1") == {"name": "Ann", "age": 31}
    assert t2.get(1) == b"\x00\xff"
    assert t2.get("big") == "x" * 5000
    assert t2.keys() == [1, "big", "u1"]
    t2.delete("u1")
    await db2.flush()
    db3 = Database(await IndexedDBBackend.open(await _bridge(), "core-a"))
    assert db3.table("users").get("u1") is None


async def test_indexeddb_batches_merge_their_index_entries_during_the_commit() -> None:
    from hypelua.storage import Database
    from hypelua.storage._batch import SetRun
    from hypelua.storage.backends.indexeddb import IndexedDBBackend

    db = Database(await IndexedDBBackend.open(await _bridge(), "core-merge"))
    db.create_index("people", "age")
    db.batch([SetRun("people", [f"p{i:03d}" for i in range(200)], [{"age": i % 50} for i in range(200)]),
              {"type": "set", "table": "people", "key": "big", "value": {"age": 7, "pad": "x" * 3000}}],
             json_values=True)
    docs = db.backend._docs["people"]
    assert docs._pending  # the batch left its index entries pending
    await db.flush()
    assert not docs._pending and docs._new_keys  # merged while IndexedDB committed; key order waits
    q = {"field": "age", "operator": "=", "value": 7, "limit": 3}
    assert [k for k, _ in db.query("people", q)] == ["big", "p007", "p057"]
    assert [k for k, _ in db.query("people", {"limit": 2})] == ["big", "p000"]  # key order merged on demand
    db2 = Database(await IndexedDBBackend.open(await _bridge(), "core-merge"))
    assert [k for k, _ in db2.query("people", q)] == ["big", "p007", "p057"]
    assert db2.get("people", "big")["pad"] == "x" * 3000  # compressed record, commitColumns path


async def test_indexeddb_rollback_is_not_written() -> None:
    from hypelua.storage import Database
    from hypelua.storage.backends.indexeddb import IndexedDBBackend

    db = Database(await IndexedDBBackend.open(await _bridge(), "core-b"))
    db.table("t").set("a", 1)
    db.commit()
    db.table("t").set("a", 2)
    db.rollback()
    await db.flush()
    db2 = Database(await IndexedDBBackend.open(await _bridge(), "core-b"))
    assert db2.table("t").get("a") == 1


async def _host(name: str):  # type: ignore[no-untyped-def]
    from hypelua.browser import WorkerHost

    return await WorkerHost.create(name, await _bridge())


async def _call(host, op: str, **args):  # type: ignore[no-untyped-def]
    return json.loads(await host.dispatch(op, json.dumps(args)))


async def test_worker_host_persist_function_survives_reload() -> None:
    host = await _host("core-c")
    r = await _call(host, "persistFunction", table="Memory", key="calculate",
                    code="function(x, y) return x * y + math.sin(x) end", options={"compress": True})
    assert r["ok"], r
    host2 = await _host("core-c")  # a page reload: new runtime, same IndexedDB
    r = await _call(host2, "compute", code="return Memory.calculate(5, 3)")
    assert r["ok"] and math.isclose(r["value"], 15 + math.sin(5)), r
    info = (await _call(host2, "info"))["value"]
    assert info["lua_backend"] == "ctypes" and info["storage_backend"] == "indexeddb"


async def test_worker_host_errors_are_typed() -> None:
    host = await _host("core-d")
    r = await _call(host, "run", code="return +")
    assert r["error"]["code"] == "LUA_SYNTAX_ERROR" and "near '+'" in r["error"]["message"]
    r = await _call(host, "run", code="local t = nil; return t.x")
    assert r["error"]["code"] == "LUA_RUNTIME_ERROR" and "attempt to index" in r["error"]["message"]
    r = await _call(host, "run", code="Memory.co = coroutine.create(print)")
    assert r["error"]["code"] == "NOT_STORABLE"
    assert (await _call(host, "run", code="return 6 * 7"))["value"] == [42]


async def test_tampered_bytecode_in_indexeddb_is_refused() -> None:
    import base64

    from pyodide.code import run_js

    host = await _host("core-e")
    await _call(host, "persistFunction", table="Memory", key="f", code="function(x) return x + 1 end")
    await _call(host, "run", code="Memory.g = load(string.dump(function() return 1 end, true))")
    # flip a byte of both functions' bytecode; f keeps its source, g has none
    for key in ("f", "g"):
        rec = host.runtime.database.backend.get("Memory", key)
        doc = json.loads(rec[1])
        bc = bytearray(base64.b64decode(doc["$function"]["bytecode"]))
        bc[-2] ^= 1
        doc["$function"]["bytecode"] = base64.b64encode(bytes(bc)).decode()
        host.runtime.database.backend.put("Memory", key, (0, json.dumps(doc)))
    await host.runtime.database.flush()
    del run_js
    host2 = await _host("core-e")
    r = await _call(host2, "compute", code="return Memory.f(1)")
    assert r["ok"] and r["value"] == 2 and "rebuilt from source" in r["warnings"][0], r
    r = await _call(host2, "compute", code="return Memory.g()")
    assert r["error"]["code"] == "BYTECODE_REJECTED", r
