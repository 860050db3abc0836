// node --test web/test/idb.test.mjs : the IndexedDB bridge under fake-indexeddb.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IDBFactory } from "fake-indexeddb";
import { createIdbBridge } from "../src/idb.mjs";

test("put/delete/loadAll keep string and number keys distinct", async () => {
  const idb = createIdbBridge(new IDBFactory());
  await idb.open("t1");
  await idb.open("t1"); // idempotent
  const n = await idb.commit([
    { op: "put", table: "Memory", key: "1", codec: 0, data: '"string key"' },
    { op: "put", table: "Memory", key: 1, codec: 0, data: '"number key"' },
    { op: "put", table: "Memory", key: "bin", codec: 1, data: new Uint8Array([1, 2, 255]) },
    { op: "put", table: "Other", key: 1, codec: 0, data: "1" },
  ]);
  assert.equal(n, 4);
  let rows = await idb.loadAll();
  assert.equal(rows.length, 4);
  const byKey = (t, k) => rows.find((r) => r.table === t && r.key === k);
  assert.equal(byKey("Memory", "1").data, '"string key"');
  assert.equal(byKey("Memory", 1).data, '"number key"');
  assert.deepEqual(Array.from(byKey("Memory", "bin").data), [1, 2, 255]);
  assert.ok(byKey("Memory", "bin").data instanceof Uint8Array);
  await idb.commit([{ op: "delete", table: "Memory", key: 1 }]);
  rows = await idb.loadAll();
  assert.equal(rows.length, 3);
  assert.equal(byKey("Memory", 1), undefined);
  assert.equal(byKey("Memory", "1").data, '"string key"');
});

test("a failing batch is all or nothing and rejects with the DOMException name", async () => {
  const idb = createIdbBridge(new IDBFactory());
  await idb.open("t2");
  await idb.commit([{ op: "put", table: "a", key: "k", codec: 0, data: "1" }]);
  await assert.rejects(
    idb.commit([
      { op: "put", table: "a", key: "k2", codec: 0, data: "2" },
      { op: "put", table: "a", key: { bad: true }, codec: 0, data: "3" },
    ]),
    (e) => e.domName === "DataError" && /DataError/.test(e.message),
  );
  await assert.rejects(idb.commit([{ op: "frobnicate", table: "a", key: "x" }]), /DataError/);
  // a value IndexedDB cannot clone aborts the whole transaction
  await assert.rejects(
    idb.commit([
      { op: "put", table: "a", key: "k3", codec: 0, data: "3" },
      { op: "put", table: "a", key: "k4", codec: 0, data: () => 1 },
    ]),
    (e) => e.domName === "DataCloneError",
  );
  const rows = await idb.loadAll();
  assert.deepEqual(rows.map((r) => r.key), ["k"]);
});

test("meta get/set and persistence across connections", async () => {
  const factory = new IDBFactory();
  const a = createIdbBridge(factory);
  await a.open("t3");
  assert.equal(await a.getMeta("hmac_key"), undefined);
  await a.setMeta("hmac_key", "00ff");
  await a.commit([{ op: "put", table: "t", key: 7, codec: 0, data: "7" }]);
  a.close();
  const b = createIdbBridge(factory);
  await b.open("t3");
  assert.equal(await b.getMeta("hmac_key"), "00ff");
  assert.deepEqual((await b.loadAll()).map((r) => [r.table, r.key]), [["t", 7]]);
  await b.deleteDatabase("t3");
});

test("calls before open fail clearly", async () => {
  const idb = createIdbBridge(new IDBFactory());
  await assert.rejects(idb.loadAll(), /InvalidStateError/);
});
