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

// ---- version 2: one journal record per commit, compaction, upgrade from version 1 ----

function openRaw(factory, name, version) {
  return new Promise((resolve, reject) => {
    const req = version ? factory.open(name, version) : factory.open(name);
    req.onupgradeneeded = () => {
      const d = req.result;
      if (version === 1) {
        d.createObjectStore("rows", { keyPath: ["table", "key"] });
        d.createObjectStore("meta");
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function countStore(d, store) {
  return new Promise((resolve, reject) => {
    const r = d.transaction(store).objectStore(store).count();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

test("a commit of 1000 ops is ONE journal record; rows stay untouched until compaction", async () => {
  const factory = new IDBFactory();
  const idb = createIdbBridge(factory, { compactDelayMs: null });
  await idb.open("j1");
  const n = 1000;
  const t = Array(n).fill("big"), k = [...Array(n).keys()], c = Array(n).fill(0), d = k.map((i) => `{"i":${i}}`);
  assert.equal(await idb.commitColumns(t, k, c, d, ["indexes:big"], ['[{"name":"i"}]']), n + 1);
  const raw = await openRaw(factory, "hypelua:j1");
  assert.equal(await countStore(raw, "journal"), 1);
  assert.equal(await countStore(raw, "rows"), 0);
  raw.close();
  // reads replay the journal
  const cols = await idb.loadColumns();
  assert.equal(cols.tables.length, n);
  assert.equal(await idb.getMeta("indexes:big"), '[{"name":"i"}]');
  assert.deepEqual(await idb.loadMeta(), [{ key: "indexes:big", value: '[{"name":"i"}]' }]);
  assert.deepEqual(idb.journalSize(), { entries: 1, ops: n + 1 });
  // later entries win, deletes remove
  await idb.commitColumns(["big", "big"], [0, 1], [-1, 0], [null, '"new"']);
  let rows = await idb.loadAll();
  assert.equal(rows.length, n - 1);
  assert.equal(rows.find((r) => r.key === 1).data, '"new"');
  assert.equal(rows.find((r) => r.key === 0), undefined);
  // compaction folds everything into rows/meta and empties the journal
  const folded = await idb.compact();
  assert.deepEqual(folded, { entries: 2, ops: n + 3 });
  const raw2 = await openRaw(factory, "hypelua:j1");
  assert.equal(await countStore(raw2, "journal"), 0);
  assert.equal(await countStore(raw2, "rows"), n - 1);
  raw2.close();
  rows = await idb.loadAll();
  assert.equal(rows.length, n - 1);
  assert.equal(rows.find((r) => r.key === 1).data, '"new"');
  assert.equal(await idb.getMeta("indexes:big"), '[{"name":"i"}]');
  assert.deepEqual(idb.journalSize(), { entries: 0, ops: 0 });
});

test("compaction works in chunks and a journal over the limits is compacted automatically", async () => {
  const factory = new IDBFactory();
  const idb = createIdbBridge(factory, { compactOps: 50, compactEntries: 1000, compactDelayMs: 5, compactChunkOps: 30 });
  await idb.open("j2");
  for (let e = 0; e < 6; e++) {
    const k = [...Array(20).keys()].map((i) => e * 20 + i);
    await idb.commitColumns(k.map(() => "t"), k, k.map(() => 0), k.map((i) => String(i)));
  }
  for (let i = 0; i < 100 && idb.journalSize().ops > 50; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(idb.journalSize().ops <= 50, JSON.stringify(idb.journalSize()));
  const other = createIdbBridge(factory, { compactDelayMs: null });
  await other.open("j2");
  assert.equal((await other.loadAll()).length, 120);
  await other.compact();
  const raw = await openRaw(factory, "hypelua:j2");
  assert.equal(await countStore(raw, "journal"), 0);
  assert.equal(await countStore(raw, "rows"), 120);
  raw.close();
});

test("a failed commit writes no journal record", async () => {
  const factory = new IDBFactory();
  const idb = createIdbBridge(factory, { compactDelayMs: null });
  await idb.open("j3");
  await assert.rejects(idb.commitColumns(["t", "t"], ["a", NaN], [0, 0], ["1", "2"]), /DataError/);
  await assert.rejects(idb.commitColumns(["t"], ["a"], [0], [() => 1]), (e) => e.domName === "DataCloneError");
  await assert.rejects(idb.commitColumns(["t"], ["a", "b"], [0], ["1"]), /different lengths/);
  await assert.rejects(idb.commitColumns(["t"], ["a"], [1.5], ["1"]), /bad codec/);
  await assert.rejects(idb.commitJson("[1, 2"), /malformed journal JSON/);
  await assert.rejects(idb.commitJson('{"t": []}'), /must be \[tables/);
  await assert.rejects(idb.commitJson('[["t"], ["a", "b"], [0], ["1"], [], []]'), /different lengths/);
  const raw = await openRaw(factory, "hypelua:j3");
  assert.equal(await countStore(raw, "journal"), 0);
  raw.close();
  assert.deepEqual(await idb.loadAll(), []);
});

test("upgrade from version 1 keeps rows and meta and adds the journal", async () => {
  const factory = new IDBFactory();
  const v1 = await openRaw(factory, "hypelua:old", 1);
  await new Promise((resolve, reject) => {
    const tx = v1.transaction(["rows", "meta"], "readwrite");
    tx.objectStore("rows").put({ table: "Memory", key: "x", codec: 0, data: "1" });
    tx.objectStore("meta").put("abcd", "hmac_key");
    tx.objectStore("meta").put('[{"name":"age","fields":["age"],"unique":false}]', "indexes:Memory");
    tx.oncomplete = resolve;
    tx.onabort = () => reject(tx.error);
  });
  v1.close();
  const idb = createIdbBridge(factory, { compactDelayMs: null });
  await idb.open("old");
  assert.deepEqual((await idb.loadAll()).map((r) => [r.table, r.key, r.data]), [["Memory", "x", "1"]]);
  const meta = Object.fromEntries((await idb.loadMeta()).map((m) => [m.key, m.value]));
  assert.equal(meta.hmac_key, "abcd");
  assert.match(meta["indexes:Memory"], /age/);
  await idb.setMeta("hmac_key", "ef01");  // meta writes go through the journal too
  assert.equal(await idb.getMeta("hmac_key"), "ef01");
  idb.close();
  const raw = await openRaw(factory, "hypelua:old");
  assert.equal(raw.version, 2);
  assert.ok(raw.objectStoreNames.contains("journal"));
  raw.close();
});

test("commitJson is commitColumns with the columns as one JSON text", async () => {
  const idb = createIdbBridge(new IDBFactory(), { compactDelayMs: null });
  await idb.open("cj");
  const text = JSON.stringify([["T", "T", "U"], ["a", 7, "x"], [0, 0, 0], ['{"v":1}', '"seven"', "[]"],
    ["indexes:T"], ['[{"name":"v"}]']]);
  assert.equal(await idb.commitJson(text), 4);
  assert.equal(await idb.commitJson(JSON.stringify([["T"], [7], [-1], [null], [], []])), 1);
  const rows = await idb.loadAll();
  assert.deepEqual(rows.map((r) => [r.table, r.key, r.data]).sort(),
    [["T", "a", '{"v":1}'], ["U", "x", "[]"]]);
  assert.equal(await idb.getMeta("indexes:T"), '[{"name":"v"}]');
  // interleaved with column commits, replayed in order; compaction folds both kinds
  await idb.commitColumns(["T"], ["a"], [0], ['{"v":2}']);
  await idb.commitJson(JSON.stringify([["T"], ["b"], [0], ['"b"'], [], []]));
  const before = (await idb.loadAll()).map((r) => [r.table, r.key, r.data]).sort();
  assert.deepEqual(before, [["T", "a", '{"v":2}'], ["T", "b", '"b"'], ["U", "x", "[]"]]);
  assert.deepEqual(await idb.compact(), { entries: 4, ops: 7 });
  assert.deepEqual((await idb.loadAll()).map((r) => [r.table, r.key, r.data]).sort(), before);
  assert.equal(await idb.getMeta("indexes:T"), '[{"name":"v"}]');
  await assert.rejects(idb.commitJson(JSON.stringify([["T"], ["z"], [1], [[1, 2]], [], []])), /string data only/);
});
