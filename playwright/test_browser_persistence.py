"""Function persistence across page reloads, and tampered bytecode (IndexedDB)."""

from __future__ import annotations

import base64
import json
import math
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import HypePage

EXPECTED = 5 * 3 + math.sin(5)

# Read / write raw records of `hypelua:<db>` from the page (bypassing hypelua).
JS_OPEN = """(db) => new Promise((resolve, reject) => {
  const r = indexedDB.open("hypelua:" + db);
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
})"""

JS_GET_RECORD = """async ([db, table, key]) => {
  const d = await (%OPEN%)(db);
  const rec = await new Promise((resolve, reject) => {
    const r = d.transaction("rows").objectStore("rows").get([table, key]);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  d.close();
  if (!rec) return null;
  const bin = rec.data instanceof Uint8Array;
  return { table: rec.table, key: rec.key, codec: rec.codec, binary: bin,
           data: bin ? Array.from(rec.data) : rec.data };
}""".replace("%OPEN%", JS_OPEN)

JS_PUT_RECORD = """async ([db, rec]) => {
  const d = await (%OPEN%)(db);
  const data = rec.binary ? new Uint8Array(rec.data) : rec.data;
  const value = { table: rec.table, key: rec.key, codec: rec.codec, data };
  await new Promise((resolve, reject) => {
    const tx = d.transaction("rows", "readwrite");
    tx.objectStore("rows").put(value);
    tx.oncomplete = resolve;
    tx.onabort = () => reject(tx.error);
  });
  d.close();
  return true;
}""".replace("%OPEN%", JS_OPEN)


def _decode(rec: dict[str, Any]) -> Any:
    """Record -> tagged JSON value (py/hypelua/storage/_codec.py: codec 0 JSON text, 1 zlib JSON)."""
    raw = bytes(rec["data"]) if rec["binary"] else rec["data"]
    if rec["codec"] == 1:
        raw = zlib.decompress(raw)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


def _encode(rec: dict[str, Any], value: Any) -> dict[str, Any]:
    text = json.dumps(value)
    if rec["codec"] == 1:
        return {**rec, "binary": True, "data": list(zlib.compress(text.encode("utf-8")))}
    if rec["binary"]:
        return {**rec, "data": list(text.encode("utf-8"))}
    return {**rec, "data": text}


def _function_fields(value: Any) -> dict[str, Any]:
    """The `{"$function": {...}}` payload inside a decoded record."""
    if isinstance(value, dict):
        if "$function" in value:
            return value["$function"]
        for v in value.values():
            found = _function_fields(v)
            if found is not None:
                return found
    if isinstance(value, list):
        for v in value:
            found = _function_fields(v)
            if found is not None:
                return found
    return None  # type: ignore[return-value]


def _tamper(hp: HypePage, db: str, table: str, key: str, *, drop_source: bool) -> None:
    rec = hp.page.evaluate(JS_GET_RECORD, [db, table, key])
    assert rec is not None, f"no IndexedDB record for {table}.{key}"
    value = _decode(rec)
    fn = _function_fields(value)
    assert fn is not None and fn.get("bytecode"), f"record has no bytecode: {value!r}"
    code = bytearray(base64.b64decode(fn["bytecode"]))
    code[len(code) // 2] ^= 0x5A
    fn["bytecode"] = base64.b64encode(bytes(code)).decode("ascii")
    if drop_source:
        fn["source"] = None
    hp.page.evaluate(JS_PUT_RECORD, [db, _encode(rec, value)])


def test_persisted_function_survives_reload(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    hp.call(
        "hype.persistFunction('Memory', 'calculate', args[0], {compress: true})",
        "function(x, y) return x * y + math.sin(x) end",
    )
    assert math.isclose(hp.call("hype.compute('return Memory.calculate(5, 3)')"), EXPECTED, rel_tol=1e-12)
    hp.call("hype.flush()")
    hp.reload()
    assert math.isclose(hp.call("hype.compute('return Memory.calculate(5, 3)')"), EXPECTED, rel_tol=1e-12)
    # and it is listed as a function
    tables = json.dumps(hp.call("hype.tables()"))
    assert "calculate" in tables and "function" in tables
    # deleteEntry is durable too
    hp.call("hype.deleteEntry('Memory', 'calculate')")
    hp.call("hype.flush()")
    hp.reload()
    err = hp.error_of("hype.compute('return Memory.calculate(5, 3)')")
    assert err is not None and err["code"] == "LUA_RUNTIME_ERROR"


def test_tampered_bytecode_is_refused(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    db = "pytest-fresh"
    src = "function(x, y) return x * y + math.sin(x) end"
    hp.call("hype.persistFunction('Memory', 'withSource', args[0], {compress: true})", src)
    hp.call("hype.persistFunction('Memory', 'noSource', args[0], {compress: false})", src)
    hp.call("hype.flush()")
    hp.call("hype.compact()")  # fold the IndexedDB journal into `rows`, which _tamper edits
    _tamper(hp, db, "Memory", "withSource", drop_source=False)
    _tamper(hp, db, "Memory", "noSource", drop_source=True)
    hp.reload()
    # bytecode fails authentication and there is no source: a typed error, never executed
    err = hp.error_of("hype.compute('return Memory.noSource(5, 3)')")
    assert err is not None, "tampered bytecode without source must not run"
    assert err["isHypeError"] and err["code"] == "BYTECODE_REJECTED", err
    # bytecode fails authentication but the source is there: recompiled from source
    assert math.isclose(hp.call("hype.compute('return Memory.withSource(5, 3)')"), EXPECTED, rel_tol=1e-12)
    # the runtime keeps serving
    assert hp.call("hype.run('return 6 * 7')") == [42]
