// IndexedDB bridge handed to the Python host (`WorkerHost.create(idb=...)`).
//
// Database `hypelua:<name>` (version 2) with three object stores:
//   rows     keyPath ["table", "key"]  records {table, key, codec, data}
//            (key is a JS string or number; IndexedDB keeps 1 and "1" distinct;
//             data is a string or a Uint8Array)
//   meta     out-of-line keys           any structured-cloneable value
//   journal  auto-increment keys        ONE record per commit (version 2):
//            {v: 1, n, t: tables[], k: keys[], c: codecs[], d: datas[], mk: metaKeys[], mv: metaValues[]}
//            (column arrays; codec -1 means "delete (t[i], k[i])"), or, from
//            `commitJson`, {v: 2, n, j: "[t, k, c, d, mk, mv]"} (the same columns
//            as the JSON text they arrived in: cheaper to store than the arrays)
//
// A commit costs one IndexedDB record: `commitColumns(...)` / `commitJson(text)` / `commit(ops)` put
// the whole commit into `journal` in ONE readwrite transaction and resolve only
// on `complete`, so a commit is all or nothing, also across a crash or a reload.
// Reading (`loadAll`, `loadColumns`, `loadMeta`, `getMeta`) replays the journal,
// in key order, over `rows` and `meta`.
//
// Compaction folds journal entries into `rows`/`meta` later: when the journal
// holds more than `compactOps` operations or `compactEntries` entries, once the
// bridge has been idle for `compactDelayMs` (or at once past 4x the limits).
// Each compaction transaction spans journal+rows+meta: it writes the final
// state of the entries it folds and deletes exactly those entries, so every
// step is crash-safe (an entry disappears only with the rows it produced).
//
// Upgrade path: version 1 (rows + meta) gains an empty `journal`; its rows and
// meta stay as they are.
//
// Works in a browser/worker (global `indexedDB`) and under Node with
// `fake-indexeddb` (pass its `indexedDB` factory to `createIdbBridge`).

const DB_VERSION = 2;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
export const ROWS = "rows";
export const META = "meta";
export const JOURNAL = "journal";
/** Codec value marking a delete in a journal entry. */
export const DELETE = -1;

/** Default compaction thresholds (see `createIdbBridge`). */
export const COMPACTION_DEFAULTS = Object.freeze({
  compactOps: 20000,
  compactEntries: 200,
  compactDelayMs: 1000,
  /** at most this many journal operations are folded per compaction transaction */
  compactChunkOps: 20000,
});

/** An Error carrying the DOMException name (`ConstraintError`, `QuotaExceededError`, ...). */
export class IdbError extends Error {
  constructor(name, message) {
    super(`${name}: ${message}`);
    this.name = "IdbError";
    this.domName = name;
  }
}

function wrapDomError(err, fallback) {
  if (err instanceof IdbError) return err;
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

function toArray(value, what) {
  value = toPlain(value);
  if (value == null) return [];
  if (Array.isArray(value)) return value;
  if (typeof value[Symbol.iterator] === "function" && typeof value !== "string") return Array.from(value);
  throw new IdbError("DataError", `${what} must be an array`);
}

function normKey(key) {
  if (typeof key === "bigint") {
    if (key > BigInt(Number.MAX_SAFE_INTEGER) || key < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new IdbError("DataError", `integer key ${key} is outside the safe integer range`);
    }
    return Number(key);
  }
  if (typeof key === "number") {
    if (!Number.isFinite(key)) throw new IdbError("DataError", `key must be a finite number, got ${key}`);
    return key;
  }
  if (typeof key !== "string") {
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

/** Run `body(tx)` in a transaction; resolves with `body`'s value on `complete`. */
function runTransaction(d, stores, mode, body) {
  return new Promise((resolve, reject) => {
    let tx;
    try {
      tx = d.transaction(stores, mode);
    } catch (e) {
      reject(wrapDomError(e, "cannot start a transaction"));
      return;
    }
    let failure = null;
    let result;
    tx.oncomplete = () => resolve(result);
    tx.onerror = (ev) => {
      failure = failure || wrapDomError(tx.error || ev.target?.error, "transaction failed");
    };
    tx.onabort = () => reject(failure || wrapDomError(tx.error, "transaction aborted"));
    try {
      const r = body(tx);
      if (r && typeof r.then === "function") {
        r.then((v) => { result = v; }, (e) => {
          failure = failure || wrapDomError(e, "transaction body failed");
          try { tx.abort(); } catch { /* already finished */ }
        });
      } else {
        result = r;
      }
    } catch (e) {
      failure = wrapDomError(e, "invalid operation");
      try { tx.abort(); } catch { /* already finished */ }
    }
  });
}

const rowId = (table, key) => `${table}\u0000${typeof key === "number" ? "n" : "s"}${key}`;

/**
 * Replay journal entries (in key order) over the stored rows and meta.
 * @returns {{rows: Map<string, object>, meta: Map<string, any>}}
 */
function replay(rowsArr, metaKeys, metaValues, entries) {
  const rows = new Map();
  for (const r of rowsArr ?? []) rows.set(rowId(r.table, r.key), r);
  const meta = new Map();
  if (metaKeys) for (let i = 0; i < metaKeys.length; i++) meta.set(String(metaKeys[i]), metaValues[i]);
  for (const e of entries) applyEntry(e, rows, meta);
  return { rows, meta };
}

/** A journal record as columns (a version-2 record keeps them as JSON text). */
function columnsOf(e) {
  if (e && e.v === 2 && typeof e.j === "string") {
    const [t, k, c, d, mk, mv] = JSON.parse(e.j);
    return { v: 2, n: e.n, t, k, c, d, mk, mv };
  }
  return e;
}

function applyEntry(e, rows, meta) {
  if (rows) {
    const { t, k, c, d } = e;
    for (let i = 0; i < t.length; i++) {
      const id = rowId(t[i], k[i]);
      if (c[i] === DELETE) rows.delete(id);
      else rows.set(id, { table: t[i], key: k[i], codec: c[i], data: d[i] });
    }
  }
  if (meta && e.mk) for (let i = 0; i < e.mk.length; i++) meta.set(String(e.mk[i]), e.mv[i]);
}

/**
 * Build a validated journal entry from column arrays.
 * Throws IdbError("DataError") for a malformed column (nothing is written).
 */
function makeEntry(tables, keys, codecs, datas, metaKeys, metaValues) {
  const t = toArray(tables, "tables");
  const k = toArray(keys, "keys");
  const c = toArray(codecs, "codecs");
  const d = toArray(datas, "datas");
  const mk = toArray(metaKeys, "meta keys");
  const mv = toArray(metaValues, "meta values");
  if (k.length !== t.length || c.length !== t.length || d.length !== t.length || mv.length !== mk.length) {
    throw new IdbError("DataError", "journal columns have different lengths");
  }
  for (let i = 0; i < t.length; i++) {
    if (typeof t[i] !== "string") t[i] = String(t[i]);
    k[i] = normKey(k[i]);
    const codec = c[i];
    if (codec !== DELETE) {
      if (!Number.isInteger(codec) || codec < 0) throw new IdbError("DataError", `bad codec ${codec}`);
      d[i] = normData(d[i]);
    } else {
      d[i] = null;
    }
  }
  for (let i = 0; i < mk.length; i++) {
    mk[i] = String(mk[i]);
    mv[i] = normData(toPlain(mv[i]));
  }
  return { v: 1, n: t.length + mk.length, t, k, c, d, mk, mv };
}

/**
 * Create an IndexedDB bridge.
 * @param {IDBFactory} [factory] defaults to the global `indexedDB`
 * @param {object} [options] compaction thresholds, see `COMPACTION_DEFAULTS`
 *   (`compactDelayMs: null` disables automatic compaction)
 */
export function createIdbBridge(factory = globalThis.indexedDB, options = {}) {
  const opts = { ...COMPACTION_DEFAULTS, ...options };
  let db = null;
  let dbName = null;
  let opening = null;
  // journal size as far as this connection knows (for the compaction trigger)
  let journalEntries = 0;
  let journalOps = 0;
  let compactTimer = null;
  let compacting = null;
  let inflight = 0;

  function requireDb() {
    if (!db) throw new IdbError("InvalidStateError", "the IndexedDB bridge is not open; call open(name) first");
    return db;
  }

  function scheduleCompaction() {
    if (opts.compactDelayMs == null || !db) return;
    const over = journalOps > opts.compactOps || journalEntries > opts.compactEntries;
    if (!over) return;
    const urgent = journalOps > 4 * opts.compactOps || journalEntries > 4 * opts.compactEntries;
    if (compactTimer) clearTimeout(compactTimer);
    compactTimer = setTimeout(() => {
      compactTimer = null;
      if (inflight || compacting) { scheduleCompaction(); return; }
      bridge.compact().catch(() => { /* retried after the next commit */ });
    }, urgent ? 0 : opts.compactDelayMs);
  }

  async function readAll(withRows) {
    const d = requireDb();
    const stores = withRows ? [ROWS, META, JOURNAL] : [META, JOURNAL];
    return await runTransaction(d, stores, "readonly", (tx) => {
      const out = {};
      const m = tx.objectStore(META);
      const j = tx.objectStore(JOURNAL);
      const reqs = [
        requestPromise(m.getAllKeys()).then((v) => { out.metaKeys = v; }),
        requestPromise(m.getAll()).then((v) => { out.metaValues = v; }),
        requestPromise(j.getAll()).then((v) => { out.entries = v.map(columnsOf); }),
      ];
      if (withRows) reqs.push(requestPromise(tx.objectStore(ROWS).getAll()).then((v) => { out.rows = v; }));
      return Promise.all(reqs).then(() => out);
    });
  }

  /** Append one journal record in one readwrite transaction; resolves with its op count on `complete`. */
  async function putEntry(entry) {
    const d = requireDb();
    inflight++;
    try {
      await runTransaction(d, [JOURNAL], "readwrite", (tx) => { tx.objectStore(JOURNAL).add(entry); });
    } finally {
      inflight--;
    }
    journalEntries += 1;
    journalOps += entry.n;
    scheduleCompaction();
    return entry.n;
  }

  const bridge = {
    /** The IndexedDB database name for a hypelua database name. */
    dbNameFor(name) {
      return `hypelua:${name}`;
    },

    /** Open (or create, or upgrade from version 1) `hypelua:<name>`. Idempotent for the same name. */
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
          if (!d.objectStoreNames.contains(JOURNAL)) d.createObjectStore(JOURNAL, { autoIncrement: true });
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

    /** The merged state (rows + journal) as column arrays `{tables, keys, codecs, datas}` (fast to convert). */
    async loadColumns() {
      const raw = await readAll(true);
      journalEntries = raw.entries.length;
      journalOps = raw.entries.reduce((s, e) => s + (e.n ?? 0), 0);
      const { rows } = replay(raw.rows, null, null, raw.entries);
      const n = rows.size;
      const out = { tables: new Array(n), keys: new Array(n), codecs: new Array(n), datas: new Array(n) };
      let i = 0;
      for (const r of rows.values()) {
        out.tables[i] = r.table;
        out.keys[i] = r.key;
        out.codecs[i] = r.codec ?? 0;
        out.datas[i] = r.data;
        i++;
      }
      scheduleCompaction();
      return out;
    },

    /** All rows (journal replayed) as an array of `{table, key, codec, data}`. */
    async loadAll() {
      const c = await bridge.loadColumns();
      return c.tables.map((table, i) => ({ table, key: c.keys[i], codec: c.codecs[i], data: c.datas[i] }));
    },

    /** Every meta entry (journal replayed) as an array of `{key, value}`. */
    async loadMeta() {
      const raw = await readAll(false);
      const { meta } = replay(null, raw.metaKeys, raw.metaValues, raw.entries);
      return Array.from(meta, ([key, value]) => ({ key, value }));
    },

    /**
     * Durably write one commit as ONE journal record: parallel column arrays
     * (`codecs[i] === -1` deletes `(tables[i], keys[i])`) plus meta entries.
     * Resolves with the number of operations on `complete`; rejects (writing
     * nothing) on a bad column, a value IndexedDB cannot clone, or an abort.
     */
    async commitColumns(tables, keys, codecs, datas, metaKeys = [], metaValues = []) {
      const entry = makeEntry(tables, keys, codecs, datas, metaKeys, metaValues);
      if (entry.n === 0) return 0;
      return putEntry(entry);
    },

    /**
     * `commitColumns` with the six columns as ONE JSON text
     * `[tables, keys, codecs, datas, metaKeys, metaValues]` (string datas only):
     * one string crosses from Python instead of four converted lists. `text`
     * may be its UTF-8 bytes (a Uint8Array), cheaper to hand over from Python.
     * Rejects with IdbError("DataError") for malformed JSON or columns.
     */
    async commitJson(text) {
      text = text instanceof Uint8Array ? utf8Decoder.decode(text) : String(toPlain(text));
      let cols;
      try {
        cols = JSON.parse(text);
      } catch (e) {
        throw new IdbError("DataError", `malformed journal JSON: ${e.message}`);
      }
      if (!Array.isArray(cols) || cols.length !== 6) {
        throw new IdbError("DataError", "journal JSON must be [tables, keys, codecs, datas, metaKeys, metaValues]");
      }
      // validated like commitColumns; stored as the text itself (one string to clone)
      const entry = makeEntry(...cols);
      if (entry.n === 0) return 0;
      if (entry.d.some((x) => x !== null && typeof x !== "string")) {
        throw new IdbError("DataError", "commitJson takes string data only");
      }
      return putEntry({ v: 2, n: entry.n, j: text });
    },

    /**
     * Apply `ops` (array of `{op: "put"|"delete", table, key, codec, data}`) and
     * optional meta (`{key: value}`) as one commit (one journal record).
     */
    async commit(ops, meta = null) {
      ops = toArray(ops, "ops");
      const t = [], k = [], c = [], d = [];
      for (const raw of ops) {
        const o = toPlain(raw);
        if (o.op !== "put" && o.op !== "delete") {
          throw new IdbError("DataError", `unknown op ${JSON.stringify(o.op)} (expected "put" or "delete")`);
        }
        t.push(String(o.table));
        k.push(o.key);
        c.push(o.op === "put" ? (o.codec ?? 0) : DELETE);
        d.push(o.op === "put" ? o.data : null);
      }
      const m = meta ? Object.entries(toPlain(meta)) : [];
      const n = await bridge.commitColumns(t, k, c, d, m.map((e) => e[0]), m.map((e) => e[1]));
      return ops.length === 0 ? n : ops.length;
    },

    /**
     * Fold up to `compactChunkOps` journal operations (at least one entry) into
     * `rows`/`meta` per transaction, until the journal is empty.
     * @returns {Promise<{entries: number, ops: number}>} what was folded
     */
    async compact() {
      if (compacting) return await compacting;
      const run = async () => {
        let entries = 0, ops = 0;
        for (;;) {
          const d = requireDb();
          const done = await runTransaction(d, [JOURNAL, ROWS, META], "readwrite", async (tx) => {
            const j = tx.objectStore(JOURNAL);
            const keys = [];
            const batch = [];
            let n = 0;
            await new Promise((resolve, reject) => {
              const req = j.openCursor();
              req.onerror = () => reject(wrapDomError(req.error, "journal cursor failed"));
              req.onsuccess = () => {
                const cur = req.result;
                if (!cur || (batch.length > 0 && n + (cur.value.n ?? 0) > opts.compactChunkOps)) { resolve(); return; }
                keys.push(cur.primaryKey);
                batch.push(columnsOf(cur.value));
                n += cur.value.n ?? 0;
                cur.continue();
              };
            });
            if (!batch.length) return { entries: 0, ops: 0 };
            const rows = new Map();
            const meta = new Map();
            const deletes = new Map();
            for (const e of batch) {
              const { t, k, c, d: data } = e;
              for (let i = 0; i < t.length; i++) {
                const id = rowId(t[i], k[i]);
                if (c[i] === DELETE) { rows.delete(id); deletes.set(id, [t[i], k[i]]); }
                else { deletes.delete(id); rows.set(id, { table: t[i], key: k[i], codec: c[i], data: data[i] }); }
              }
              applyEntry(e, null, meta);
            }
            const rs = tx.objectStore(ROWS);
            for (const key of deletes.values()) rs.delete(key);
            for (const r of rows.values()) rs.put(r);
            const ms = tx.objectStore(META);
            for (const [key, value] of meta) ms.put(value, key);
            for (const key of keys) j.delete(key);
            return { entries: batch.length, ops: n };
          });
          if (!done.entries) break;
          entries += done.entries;
          ops += done.ops;
          journalEntries = Math.max(0, journalEntries - done.entries);
          journalOps = Math.max(0, journalOps - done.ops);
        }
        return { entries, ops };
      };
      compacting = run();
      try {
        return await compacting;
      } finally {
        compacting = null;
      }
    },

    /** `{entries, ops}` in the journal as far as this connection knows. */
    journalSize() {
      return { entries: journalEntries, ops: journalOps };
    },

    /**
     * The value stored under `key` in `meta` (journal replayed); `undefined` when absent.
     * (Not `null`: Pyodide turns JS `null` into `pyodide.ffi.jsnull`, but
     * `undefined` into Python `None`, which is what the Python host tests for.)
     */
    async getMeta(key) {
      key = String(key);
      const raw = await readAll(false);
      let v;
      const i = raw.metaKeys.indexOf(key);
      if (i >= 0) v = raw.metaValues[i];
      for (const e of raw.entries) {
        if (!e.mk) continue;
        const at = e.mk.lastIndexOf(key);
        if (at >= 0) v = e.mv[at];
      }
      return v ?? undefined;
    },

    /** Store `value` under `key` in `meta` (a one-entry commit; durable when the promise resolves). */
    async setMeta(key, value) {
      await bridge.commitColumns([], [], [], [], [String(key)], [value]);
      return true;
    },

    /** Close the connection (tests; page unload). */
    close() {
      if (compactTimer) clearTimeout(compactTimer);
      compactTimer = null;
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
