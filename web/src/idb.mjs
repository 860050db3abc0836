// IndexedDB bridge handed to the Python host (`WorkerHost.create(idb=...)`).
//
// Database `hypelua:<name>` (version 1) with two object stores:
//   rows  keyPath ["table", "key"]   records {table, key, codec, data}
//         (key is a JS string or number; IndexedDB keeps 1 and "1" distinct;
//          data is a string or a Uint8Array)
//   meta  out-of-line keys            any structured-cloneable value
//
// Every method is async. `commit(ops)` applies a whole batch in ONE readwrite
// transaction and resolves only on the transaction's `complete` event, so a
// batch is all or nothing, also across a crash.
//
// Works in a browser/worker (global `indexedDB`) and under Node with
// `fake-indexeddb` (pass its `indexedDB` factory to `createIdbBridge`).

const DB_VERSION = 1;
export const ROWS = "rows";
export const META = "meta";

/** An Error carrying the DOMException name (`ConstraintError`, `QuotaExceededError`, ...). */
export class IdbError extends Error {
  constructor(name, message) {
    super(`${name}: ${message}`);
    this.name = "IdbError";
    this.domName = name;
  }
}

function wrapDomError(err, fallback) {
  if (err && typeof err === "object" && "name" in err) {
    return new IdbError(err.name, err.message || fallback);
  }
  return new IdbError("UnknownError", fallback);
}

// Values may arrive from Python as PyProxies (when the host did not call
// `to_js`); convert them into plain JS so they are structured-cloneable.
function toPlain(value) {
  if (value && typeof value === "object" && typeof value.toJs === "function") {
    const converted = value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    if (typeof value.destroy === "function") {
      try { value.destroy(); } catch { /* borrowed proxy */ }
    }
    return converted;
  }
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

function normKey(key) {
  if (typeof key === "bigint") {
    if (key > BigInt(Number.MAX_SAFE_INTEGER) || key < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new IdbError("DataError", `integer key ${key} is outside the safe integer range`);
    }
    return Number(key);
  }
  if (typeof key !== "string" && typeof key !== "number") {
    throw new IdbError("DataError", `key must be a string or a number, got ${typeof key}`);
  }
  return key;
}

function normData(data) {
  if (data == null || typeof data === "string" || data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  return data;
}

function requestPromise(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = (ev) => {
      ev.preventDefault?.();
      reject(wrapDomError(req.error, "request failed"));
    };
  });
}

/**
 * Create an IndexedDB bridge.
 * @param {IDBFactory} [factory] defaults to the global `indexedDB`
 */
export function createIdbBridge(factory = globalThis.indexedDB) {
  let db = null;
  let dbName = null;
  let opening = null;

  function requireDb() {
    if (!db) throw new IdbError("InvalidStateError", "the IndexedDB bridge is not open; call open(name) first");
    return db;
  }

  const bridge = {
    /** The IndexedDB database name for a hypelua database name. */
    dbNameFor(name) {
      return `hypelua:${name}`;
    },

    /** Open (or create) `hypelua:<name>`. Idempotent for the same name. */
    async open(name) {
      name = String(name);
      if (opening && dbName === name) {
        await opening;
        return true;
      }
      if (db) db.close();
      db = null;
      dbName = name;
      if (!factory) throw new IdbError("NotSupportedError", "IndexedDB is not available in this context");
      opening = new Promise((resolve, reject) => {
        const req = factory.open(bridge.dbNameFor(name), DB_VERSION);
        req.onupgradeneeded = () => {
          const d = req.result;
          if (!d.objectStoreNames.contains(ROWS)) d.createObjectStore(ROWS, { keyPath: ["table", "key"] });
          if (!d.objectStoreNames.contains(META)) d.createObjectStore(META);
        };
        req.onsuccess = () => {
          const d = req.result;
          // Another tab upgrading the schema: let it proceed.
          d.onversionchange = () => { d.close(); if (db === d) { db = null; opening = null; } };
          resolve(d);
        };
        req.onerror = () => reject(wrapDomError(req.error, `cannot open ${bridge.dbNameFor(name)}`));
        req.onblocked = () => { /* wait: another connection will close */ };
      });
      try {
        db = await opening;
      } catch (e) {
        opening = null;
        dbName = null;
        throw e;
      }
      return true;
    },

    /** All rows as an array of `{table, key, codec, data}`. */
    async loadAll() {
      const tx = requireDb().transaction([ROWS], "readonly");
      const rows = await requestPromise(tx.objectStore(ROWS).getAll());
      return rows.map((r) => ({ table: r.table, key: r.key, codec: r.codec ?? 0, data: r.data }));
    },

    /**
     * Apply `ops` (array of `{op: "put"|"delete", table, key, codec, data}`)
     * in one readwrite transaction; resolves with the number of ops on
     * `complete`, rejects on error/abort with the DOMException name + message.
     */
    async commit(ops) {
      ops = toPlain(ops);
      if (!Array.isArray(ops)) ops = Array.from(ops ?? []);
      const records = ops.map((raw) => {
        const o = toPlain(raw);
        const table = String(o.table);
        const key = normKey(o.key);
        if (o.op === "put") return { op: "put", rec: { table, key, codec: o.codec ?? 0, data: normData(o.data) } };
        if (o.op === "delete") return { op: "delete", key: [table, key] };
        throw new IdbError("DataError", `unknown op ${JSON.stringify(o.op)} (expected "put" or "delete")`);
      });
      const d = requireDb();
      return await new Promise((resolve, reject) => {
        let tx;
        try {
          tx = d.transaction([ROWS], "readwrite");
        } catch (e) {
          reject(wrapDomError(e, "cannot start a transaction"));
          return;
        }
        let failure = null;
        tx.oncomplete = () => resolve(records.length);
        tx.onerror = (ev) => {
          failure = failure || wrapDomError(tx.error || ev.target?.error, "transaction failed");
        };
        tx.onabort = () => reject(failure || wrapDomError(tx.error, "transaction aborted"));
        const store = tx.objectStore(ROWS);
        try {
          for (const r of records) {
            if (r.op === "put") store.put(r.rec);
            else store.delete(r.key);
          }
        } catch (e) {
          failure = wrapDomError(e, "invalid operation");
          try { tx.abort(); } catch { /* already finished */ }
        }
      });
    },

    /**
     * The value stored under `key` in `meta`; `undefined` when absent.
     * (Not `null`: Pyodide turns JS `null` into `pyodide.ffi.jsnull`, but
     * `undefined` into Python `None`, which is what the Python host tests for.)
     */
    async getMeta(key) {
      const tx = requireDb().transaction([META], "readonly");
      const v = await requestPromise(tx.objectStore(META).get(String(key)));
      return v ?? undefined;
    },

    /** Store `value` under `key` in `meta` (durable when the promise resolves). */
    async setMeta(key, value) {
      value = normData(toPlain(value));
      const d = requireDb();
      return await new Promise((resolve, reject) => {
        const tx = d.transaction([META], "readwrite");
        tx.objectStore(META).put(value, String(key));
        tx.oncomplete = () => resolve(true);
        tx.onerror = (ev) => ev.preventDefault?.();
        tx.onabort = () => reject(wrapDomError(tx.error, "setMeta aborted"));
      });
    },

    /** Close the connection (tests; page unload). */
    close() {
      if (db) db.close();
      db = null;
      dbName = null;
      opening = null;
    },

    /** Delete the whole database `hypelua:<name>` (tests, "reset" buttons). */
    async deleteDatabase(name) {
      if (dbName === String(name)) bridge.close();
      await requestPromise(factory.deleteDatabase(bridge.dbNameFor(name)));
      return true;
    },
  };
  return bridge;
}
