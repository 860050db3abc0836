// hypelua JavaScript API: a real Lua 5.4 VM + Python (Pyodide) in a module Web Worker.
//
//   const hype = await Hype.load({ baseUrl: "/dist/web/", database: "app" });
//   await hype.run("return 6 * 7");            // [42]
//
// Every call is one request/response over postMessage, matched by id.
// Errors reject with HypeError {code, message, details, suggestion}; a worker
// crash or boot failure rejects every pending call with code WORKER_ERROR.

import { HypeError } from "./errors.mjs";
import { LiveConnection, WorkerTransport } from "./live.mjs";

export { HypeError };

let defaultBaseUrl = null;

/** Set where `Hype.load()` finds worker.mjs, pyodide/ and wheels/ when no baseUrl is given. */
export function setDefaultBaseUrl(url) {
  defaultBaseUrl = url;
}

function resolveBaseUrl(baseUrl) {
  const base = baseUrl ?? defaultBaseUrl;
  if (base == null) {
    throw new HypeError("CONFIG_ERROR", "Hype.load() needs a baseUrl", {},
      'Pass the URL of the directory holding worker.mjs, e.g. Hype.load({ baseUrl: "/dist/web/" }).');
  }
  const here = typeof location !== "undefined" ? location.href : undefined;
  let url = new URL(base, here).href;
  if (!url.endsWith("/")) url += "/";
  return url;
}

const MAX_DEPTH = 200;
const utf8 = new TextEncoder();

function notStorable(message, path, suggestion) {
  return new HypeError("NOT_STORABLE", message, { path }, suggestion ??
    "Store plain data: null, booleans, numbers, strings, Uint8Array, arrays and plain objects without cycles.");
}

function bytesToBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function base64ToBytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A JS value -> the JSON the worker host reads (throws HypeError NOT_STORABLE).
 * Uint8Array/ArrayBuffer -> {"$bytes": base64}, NaN/Infinity -> {"$float": ...},
 * safe BigInt -> number; undefined object properties are dropped (JSON rules).
 */
export function toWire(value, path = "value", depth = 0, seen = new Set(), tags = { found: false }) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      tags.found = true;
      return { $float: Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf" };
    case "bigint":
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw notStorable(`${path}: BigInt ${value} is outside the safe integer range`, path);
      }
      return Number(value);
    case "undefined":
      return null;
    case "function":
      throw notStorable(`${path}: a JavaScript function cannot be stored`, path,
        "Store Lua functions with persistFunction(table, key, 'function(...) ... end').");
    case "symbol":
      throw notStorable(`${path}: a Symbol cannot be stored`, path);
    default:
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) throw notStorable(`${path}: nested deeper than ${MAX_DEPTH} levels`, path);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    tags.found = true;
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value)
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return { $bytes: bytesToBase64(bytes) };
  }
  if (seen.has(value)) throw notStorable(`${path}: the value contains a cycle`, path);
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => toWire(v, `${path}[${i}]`, depth + 1, seen, tags));
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = value?.constructor?.name ?? "object";
      throw notStorable(`${path}: a ${kind} cannot be stored (only plain objects)`, path,
        kind === "Map" ? "Convert it with Object.fromEntries(map)." : undefined);
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out[k] = toWire(v, `${path}.${k}`, depth + 1, seen, tags);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * Values in the stored tagged JSON of the storage engine (what `queryTable` rows
 * carry, see `hypelua.storage._codec`) -> JS values: `{$bytes}` -> Uint8Array,
 * `{$float}` -> number, `{$map: [[k, v], ...]}` -> object with `String(k)` keys,
 * `{$function: {...}}` -> `{$function: source | cfunction | "<bytecode>"}`.
 * Other objects and arrays (their keys never start with "$" in stored JSON) are
 * untagged in place: pass values fresh from `JSON.parse`.
 */
export function fromStored(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {  // JSON.parse made it: ours to untag in place
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v !== null && typeof v === "object") value[i] = fromStored(v);
    }
    return value;
  }
  let n = 0, first;
  for (const k in value) {
    if (n++ === 0) first = k;
    else break;
  }
  if (n === 1 && first.charCodeAt(0) === 36 /* $ */) {
    const inner = value[first];
    if (first === "$bytes" && typeof inner === "string") return base64ToBytes(inner);
    if (first === "$float") return inner === "nan" ? NaN : inner === "inf" ? Infinity : -Infinity;
    if (first === "$map" && Array.isArray(inner)) {
      const out = {};
      for (const pair of inner) {
        if (Array.isArray(pair) && pair.length === 2) out[String(fromStored(pair[0]))] = fromStored(pair[1]);
      }
      return out;
    }
    if (first === "$function" && inner && typeof inner === "object") {
      return { $function: inner.source ?? inner.cfunction ?? "<bytecode>" };
    }
  }
  // JSON.parse made this object too: untag its fields in place
  for (const k in value) {
    const v = value[k];
    if (v !== null && typeof v === "object") value[k] = fromStored(v);
  }
  return value;
}

/**
 * Whether `JSON.stringify(value)` already is `toWire(value)` (no tag needed,
 * nothing to refuse): finite numbers, strings, booleans, null, arrays and plain
 * objects of those, at most MAX_DEPTH deep. No copy is made; anything else
 * (bytes, NaN, BigInt, undefined in an array, class instances, cycles, ...)
 * answers false and goes through `toWire`.
 */
export function isPlainJson(value, depth = 0) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!isPlainJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in value) {
    const v = value[k];
    if (v !== undefined && !isPlainJson(v, depth + 1)) return false;
  }
  return true;
}

/** The inverse of `toWire` on values coming back: {"$bytes"} -> Uint8Array, {"$float"} -> number. */
export function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    if (keys[0] === "$bytes" && typeof value.$bytes === "string") return base64ToBytes(value.$bytes);
    if (keys[0] === "$float") return value.$float === "nan" ? NaN : value.$float === "inf" ? Infinity : -Infinity;
  }
  const out = {};
  for (const k of keys) out[k] = fromWire(value[k]);
  return out;
}

function timeoutArg(options) {
  return options && options.timeout !== undefined ? { timeout: Number(options.timeout) } : {};
}

function emitLines(cb, text) {
  if (!text || !cb) return;
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  for (const line of body.split("\n")) cb(line);
}

/** Calls running user Lua code, watched for runaway (CPU-bound) chunks. */
const WATCHED_OPS = new Set(["run", "compute", "runFile", "httpFetch", "liveOpen", "liveFrame"]);
/** The worker's own default for `options.timeout` (ms). */
const DEFAULT_TIMEOUT_MS = 10000;
/** The worker's default cap of one `fetch` (ms; past it the app's answer is a 503). */
const DEFAULT_FETCH_TIMEOUT_MS = 30000;
/** Statuses whose responses carry no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
/** Messages between the page and dist/web/hype-sw.js. */
const SW_FETCH = "hype-sw-fetch";
const SW_HELLO = "hype-sw-hello";
/** Extra time before the watchdog replaces a worker that did not answer (ms). */
const WATCHDOG_GRACE_MS = 2000;

/**
 * The hub of actor nodes (issue 11 item 7): node 0 is the page's worker; `spawn{ worker =
 * "new" }` in any worker makes the hub start another hypelua worker (node n, its own
 * Pyodide and scheduler, an in-memory-named database `<database>~node<n>`). Frames between
 * schedulers (JSON text, see py/hypelua/actors/_node.py) are relayed here in arrival order;
 * `terminate(n)` stops node n's worker and every other node hears `noconnection`.
 */
class ActorHub {
  constructor(hype) {
    this._hype = hype;
    this._next = 1;
    /** node number -> Worker (nodes other than 0) */
    this._workers = new Map();
  }

  _alloc(k) { const out = []; for (let i = 0; i < k; i++) out.push(this._next++); return out; }

  _worker(node) { return node === 0 ? this._hype._worker : this._workers.get(node); }

  _post(node, msg) {
    const w = this._worker(node);
    if (w) w.postMessage(msg);
    return Boolean(w);
  }

  /** a new (or restarted) node 0 worker gets spare node numbers */
  _booted(node) { this._post(node, { type: "actorsSpares", nodes: this._alloc(4) }); }

  _onMessage(from, msg) {
    if (msg.type === "actors") {
      if (!this._post(msg.to, { type: "actors", frame: msg.frame })) this._post(from, { type: "actorsDown", node: msg.to });
      return;
    }
    let frame;
    try { frame = JSON.parse(msg.frame); } catch { return; }
    if (frame.t === "newnode" && Number.isInteger(frame.node)) {
      this._start(frame.node);
      this._post(from, { type: "actorsSpares", nodes: this._alloc(1) });
    }
  }

  _start(node) {
    const h = this._hype;
    const w = new Worker(h.baseUrl + "worker.mjs", { type: "module", name: `hypelua:${h.database}:node${node}` });
    this._workers.set(node, w);
    w.addEventListener("message", (ev) => {
      const m = ev.data;
      if (!m || typeof m !== "object") return;
      if (m.type === "actors" || m.type === "actorsControl") this._onMessage(node, m);
      else if (m.type === "stdout") emitLines(h._stdout, m.text);
      else if (m.type === "stderr" || m.type === "fatal") emitLines(h._stderr, m.text ?? m.error?.message);
    });
    w.addEventListener("error", (ev) => { ev.preventDefault?.(); this.terminate(node); });
    w.postMessage({ type: "init", baseUrl: h.baseUrl, database: `${h.database}~node${node}`, registry: h._registry,
                    sandbox: h.sandbox, actorNode: node, snapshot: h._snapshotOption });
    this._booted(node);
  }

  /** the live node numbers (0: the page's worker) */
  nodes() { return [0, ...this._workers.keys()]; }

  /** the live processes of the page's worker (node 0); see `Hype.actors` */
  processes() { return this._hype._call("actor_processes", {}); }

  /** Stop node `node`'s worker (not 0: use `hype` itself); links and monitors of its
   * processes in the other nodes get `noconnection`. Returns false for an unknown node. */
  terminate(node) {
    const w = this._workers.get(node);
    if (!w) return false;
    this._workers.delete(node);
    try { w.terminate(); } catch { /* gone */ }
    for (const n of this.nodes()) this._post(n, { type: "actorsDown", node });
    return true;
  }
}

export class Hype {
  /** Use `Hype.load()`; the constructor is internal. */
  constructor(worker, opts) {
    this._worker = worker;
    this._stdout = opts.stdout;
    this._stderr = opts.stderr;
    this._onStatus = opts.onStatus;
    this._pending = new Map();
    this._nextId = 1;
    this._dead = null;
    this.baseUrl = opts.baseUrl;
    this.database = opts.database;
    /** Boot timings reported by the worker (ms since the worker started), filled on ready. */
    this.timings = {};
    this._ready = new Promise((resolve, reject) => {
      this._readyResolve = resolve;
      this._readyReject = reject;
    });
    /** How many times a runaway call made us replace the worker (see `run`). */
    this.restarts = 0;
    this._registry = opts.registry ?? null;
    /** true: user code runs in the sandbox (Runtime(sandbox=True)), also after a worker restart */
    this.sandbox = Boolean(opts.sandbox);
    /** use the build's memory snapshot at boot (also after a worker restart) */
    this._snapshotOption = opts.snapshot !== false;
    /** how the worker's Pyodide started ("restored", "none", "off", "refused: <why>"), once ready */
    this.snapshot = null;
    /** the `httpLoad` arguments of the loaded app (loaded again into a restarted worker), or null */
    this._app = null;
    /** the service-worker routing of `routeFetches`, or null */
    this._routing = null;
    /** open LiveView sessions in the worker: id -> WorkerTransport (`mountLive`) */
    this._liveTransports = new Map();
    /**
     * hype.actor in the worker (issue 11): an ActorHub relaying between actor nodes in other
     * workers (`spawn{ worker = "new" }`: `terminate(n)`, `nodes()`), and `processes()`, which
     * resolves with the live processes of the page's worker, like Erlang's observer:
     * [{pid: "<0.12.0>", status, mailbox, reductions, memory (bytes | null),
     * links: ["<0.3.0>", ...], monitors (count), name, kind}]; [] while hype.actor was never
     * required.  Read-only; its reply also carries what processes printed since the last call.
     */
    this.actors = new ActorHub(this);
    this._attach(worker);
  }

  _attach(worker) {
    worker.addEventListener("message", (ev) => { if (worker === this._worker) this._onMessage(ev.data); });
    worker.addEventListener("error", (ev) => {
      ev.preventDefault?.();
      if (worker !== this._worker) return;
      const where = ev.filename ? ` (${ev.filename}:${ev.lineno})` : "";
      this._fail(new HypeError("WORKER_ERROR", `the hypelua worker crashed: ${ev.message || "failed to load worker.mjs"}${where}`,
        { phase: this._bootDone ? "run" : "boot", baseUrl: this.baseUrl },
        "Check that baseUrl points at a built dist/web/ directory served over http(s), and look at the browser console."));
    });
    worker.addEventListener("messageerror", () => {
      if (worker !== this._worker) return;
      this._fail(new HypeError("WORKER_ERROR", "a message from the hypelua worker could not be deserialised", {}, ""));
    });
  }

  _newWorker() {
    return new Worker(this.baseUrl + "worker.mjs", { type: "module", name: `hypelua:${this.database}` });
  }

  /**
   * A call running Lua did not answer in time (a CPU-bound loop never yields to the
   * worker's event loop): stop the worker, reject every pending call with `reason`,
   * and boot a fresh worker. Lua globals are lost; everything persisted (external
   * tables in IndexedDB, project files) is kept. Later calls queue until it is ready.
   */
  _restart(reason) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    try { this._worker.terminate(); } catch { /* already gone */ }
    for (const p of pending) { clearTimeout(p.timer); p.reject(reason); }
    this._liveGone(reason?.message ?? "the worker restarted");
    this.restarts += 1;
    this._bootDone = false;
    const worker = this._newWorker();
    this._worker = worker;
    this._attach(worker);
    worker.postMessage({ type: "init", baseUrl: this.baseUrl, database: this.database, registry: this._registry,
                         sandbox: this.sandbox, snapshot: this._snapshotOption });
    this.actors._booted(0);
    for (const n of this.actors.nodes()) if (n !== 0) this.actors._post(n, { type: "actorsDown", node: 0 });
    if (this._app) {
      // the HTTP app lived in the old worker: load it again (queued until the new one is ready)
      const app = this._app;
      this._call("httpLoad", app).catch((e) => {
        if (this._app === app) this._app = null;
        emitLines(this._stderr, `hypelua: reloading the HTTP app after the restart failed: ${e.message}`);
      });
    }
  }

  /**
   * Start the worker and boot Pyodide + hypelua.
   * @param {object} [options]
   * @param {string} [options.baseUrl] URL of dist/web/ (default: where this script was loaded from)
   * @param {string} [options.database="hypelua"] IndexedDB database name (stored as "hypelua:<name>")
   * @param {(line: string) => void} [options.stdout] Lua/Python print output (default console.log)
   * @param {(line: string) => void} [options.stderr] Python stderr (default console.warn)
   * @param {(status: {phase: string, ms: number}) => void} [options.onStatus] boot progress
   * @param {string} [options.registry] default package registry URL of `install()` (CORS-enabled)
   * @param {boolean} [options.sandbox=false] run untrusted Lua: an allow-list environment (no io/os/debug,
   *   text-only load, require confined to the project directory, 256 MiB Lua heap); see README "Sandbox"
   * @param {boolean} [options.snapshot=true] start Pyodide from the build's memory snapshot (instant
   *   start; falls back to a plain boot when there is none or Pyodide refuses it); `hype.snapshot`
   *   then says how it started: "restored", "none", "off" or "refused: <why>"
   * @returns {Promise<Hype>}
   */
  static async load(options = {}) {
    const baseUrl = resolveBaseUrl(options.baseUrl);
    const database = options.database ?? "hypelua";
    const worker = new Worker(baseUrl + "worker.mjs", { type: "module", name: `hypelua:${database}` });
    const hype = new Hype(worker, {
      baseUrl,
      database,
      registry: options.registry ?? null,
      sandbox: Boolean(options.sandbox),
      snapshot: options.snapshot,
      stdout: options.stdout ?? ((line) => console.log(line)),
      stderr: options.stderr ?? ((line) => console.warn(line)),
      onStatus: options.onStatus,
    });
    worker.postMessage({ type: "init", baseUrl, database, registry: options.registry ?? null,
                         sandbox: Boolean(options.sandbox), snapshot: hype._snapshotOption });
    hype.actors._booted(0);
    await hype._ready;
    return hype;
  }

  _onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "status":
        this._onStatus?.({ phase: msg.phase, ms: msg.ms });
        return;
      case "ready":
        this._bootDone = true;
        this.timings = msg.timings ?? {};
        this.snapshot = msg.snapshot ?? null;
        this._readyResolve(this);
        return;
      case "stdout":
        emitLines(this._stdout, msg.text);
        return;
      case "stderr":
        emitLines(this._stderr, msg.text);
        return;
      case "fatal":
        this._fail(HypeError.from(msg.error, "WORKER_ERROR"));
        return;
      case "actors":
      case "actorsControl":
        this.actors._onMessage(0, msg);
        return;
      case "live": { // a frame a LiveView in the worker pushed by itself
        const t = this._liveTransports.get(msg.id);
        if (t && typeof msg.frame === "string") t._deliver(msg.frame);
        return;
      }
      case "progress": {
        const p = this._pending.get(msg.id);
        if (p?.onProgress) {
          try { p.onProgress({ done: msg.done, total: msg.total }); } catch (e) { console.error(e); }
        }
        return;
      }
      case "reply": {
        const p = this._pending.get(msg.id);
        if (!p) return;
        this._pending.delete(msg.id);
        clearTimeout(p.timer);
        let reply = msg.reply ?? {};
        if (typeof msg.raw === "string") {
          try {
            reply = JSON.parse(msg.raw);
          } catch (e) {
            reply = { ok: false, output: "", error: { code: "INTERNAL_ERROR",
              message: `the worker sent malformed JSON: ${e.message}`, details: {},
              suggestion: "This is a bug in hypelua's worker host; please report it." } };
          }
        }
        emitLines(this._stdout, reply.output);
        for (const w of reply.warnings ?? []) emitLines(this._stderr, typeof w === "string" ? w : JSON.stringify(w));
        if (reply.ok) p.resolve(p.binary ? { value: reply.value, payload: msg.payload ?? null } : reply.value);
        else {
          const err = HypeError.from(reply.error, "HYPE_ERROR");
          if (reply.output) err.output = reply.output;
          p.reject(err);
        }
        return;
      }
      default:
    }
  }

  _fail(err) {
    if (this._dead) return;
    this._dead = err;
    this._readyReject(err);
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this._pending.clear();
    try { this._worker.terminate(); } catch { /* already gone */ }
    this._liveGone(err.message);
  }

  /** The worker's LiveView sessions are gone (restart, crash): their connections reconnect. */
  _liveGone(reason) {
    for (const t of [...this._liveTransports.values()]) t._gone(reason);
    this._liveTransports.clear();
  }

  /**
   * One request to the worker. `payload` (an ArrayBuffer, moved to the worker) is binary
   * data for the ops that take some (httpFetch); with it, the promise resolves with
   * `{value, payload}` (the reply's ArrayBuffer or null) instead of the value.
   * `watch` overrides the timeout (ms) the watchdog of WATCHED_OPS reads from `args`.
   */
  _call(op, args = {}, onProgress = undefined, payload = undefined, watch = undefined) {
    if (this._dead) return Promise.reject(this._dead);
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, op, onProgress, timer: undefined, binary: payload !== undefined };
      if (WATCHED_OPS.has(op)) {
        // the worker answers a TIMEOUT itself when the chunk's *async* work overruns;
        // this watchdog covers a chunk that never yields (while true do end)
        const own = watch ?? args.timeout;
        const limit = (Number.isFinite(own) ? own : DEFAULT_TIMEOUT_MS) + WATCHDOG_GRACE_MS;
        entry.timer = setTimeout(() => {
          if (this._pending.get(id) !== entry) return;
          this._restart(new HypeError("TIMEOUT",
            `${op} did not finish within ${limit} ms; the worker was restarted`,
            { op, limit_ms: limit, restarted: true },
            "Lua globals were reset; persisted tables and project files are kept. Look for a loop that never ends."));
        }, limit);
      }
      this._pending.set(id, entry);
      try {
        // args: an object, its JSON text already made (the worker passes text on as is), or
        // that text's UTF-8 bytes (large requests: moved, not copied, and cheaper for Python)
        if (payload) this._worker.postMessage({ type: "call", id, op, json: args, payload }, [payload]);
        else if (payload === null) this._worker.postMessage({ type: "call", id, op, json: args });
        else if (args instanceof Uint8Array) this._worker.postMessage({ type: "call", id, op, json: args }, [args.buffer]);
        else if (typeof args === "string") this._worker.postMessage({ type: "call", id, op, json: args });
        else this._worker.postMessage({ type: "call", id, op, args });
      } catch (e) {
        this._pending.delete(id);
        reject(new HypeError("INVALID_ARGUMENT", `cannot send ${op} arguments to the worker: ${e.message}`, {}, "Pass plain data only."));
      }
    });
  }

  /**
   * Run a Lua chunk as an async main chunk (timers, promises, top-level `await(p)` work);
   * resolves with the array of its return values once its work is idle (no timer,
   * microtask or pending promise left, like Node). Rejects with TIMEOUT after
   * `options.timeout` ms (default 10000) and clears the chunk's leftover timers.
   * A chunk that never yields (`while true do end`) is caught by a watchdog
   * (`timeout` + 2 s): the worker is replaced, every pending call rejects with
   * TIMEOUT (`details.restarted`), Lua globals reset, persisted data is kept.
   * @param {string} code
   * @param {{timeout?: number}} [options]
   */
  run(code, options = {}) {
    return this._call("run", { code: String(code), ...timeoutArg(options) });
  }

  /** Like `run`, resolving with the first return value. */
  compute(code, options = {}) {
    return this._call("compute", { code: String(code), ...timeoutArg(options) });
  }

  /** A fresh Lua state (globals, module caches, timers; the HTTP app is unloaded); storage and project files stay. */
  reset() {
    this._app = null;
    return this._call("reset", {});
  }

  // ------------------------------------------------------------- project files (issue 4)
  // The worker's project directory (/home/pyodide/project, persisted in IndexedDB) is the
  // module root: require("./x"), hype_modules/<pkg> and hype.json resolve there. Paths are
  // relative to it; escapes ("../x", other absolute paths) reject with PATH_OUTSIDE_PROJECT.

  /** Write a UTF-8 text file (parents created); resolves with `{path, size}` once persisted. */
  writeFile(path, text) {
    return this._call("writeFile", { path: String(path), text: String(text) });
  }

  /** Read a text file; rejects with FILE_NOT_FOUND. */
  readFile(path) {
    return this._call("readFile", { path: String(path) });
  }

  /**
   * List a directory recursively: `[{path, type: "file"|"dir", size}]`. `hype_modules` and
   * dot-directories below `dir` are listed but not entered unless `{all: true}`.
   */
  listFiles(dir = ".", options = {}) {
    return this._call("listFiles", { dir: String(dir), all: !!options?.all });
  }

  /** Delete a file or directory (recursively); resolves with whether it existed. */
  removeFile(path) {
    return this._call("removeFile", { path: String(path) });
  }

  /**
   * Run a project Lua file as the main chunk (like `hype run FILE`); resolves with its
   * return values. `options.args` become `...`; `options.timeout` as for `run`.
   */
  runFile(path, options = {}) {
    const args = { path: String(path), ...timeoutArg(options) };
    if (Array.isArray(options?.args)) args.args = toWire(options.args, "args");
    return this._call("runFile", args);
  }

  /**
   * Install packages into the project (`hype install name@range`): adds them to hype.json,
   * resolves the tree, fetches every tarball from the registry (CORS), checks its SRI sha512
   * integrity, extracts it safely into hype_modules/ and writes hype-lock.json. With no
   * packages, installs what hype.json lists. Nothing changes on failure (INTEGRITY_MISMATCH,
   * PACKAGE_NOT_FOUND, NO_MATCHING_VERSION, REGISTRY_UNREACHABLE, UNSAFE_TARBALL, ...).
   * @param {string|string[]} [packages]
   * @param {{registry?: string, dev?: boolean, onProgress?: (p: {done: number, total: number}) => void}} [options]
   * @returns {Promise<{added: object, packages: object, fetched: number, changed: boolean, lock_written: boolean}>}
   */
  install(packages = [], options = {}) {
    const list = typeof packages === "string" ? [packages] : Array.from(packages ?? [], String);
    const args = { packages: list, dev: !!options?.dev };
    if (options?.registry) args.registry = String(options.registry);
    const onProgress = typeof options?.onProgress === "function" ? options.onProgress : undefined;
    return this._call("install", args, onProgress);
  }

  /**
   * Run spec files (`*_spec.lua`, `*.test.lua`) of the project with `hype test`'s runner.
   * @param {string|string[]} [paths=["."]] files or directories
   * @param {{filter?: string, timeout?: number}} [options] timeout: per test, ms (default 5000)
   * @returns {Promise<{results: {file, name, full_name, path, status, message, duration_ms}[],
   *   summary: {passed, failed, pending, total}, tap: string}>}
   */
  runTests(paths = undefined, options = {}) {
    const args = {};
    if (paths !== undefined && paths !== null) args.paths = typeof paths === "string" ? [paths] : Array.from(paths, String);
    if (options?.filter) args.filter = String(options.filter);
    if (options?.timeout !== undefined) args.timeout = Number(options.timeout);
    return this._call("runTests", args);
  }

  /**
   * Persist a Lua function (source text of a function expression) as `table[key]`.
   * @param {{compress?: boolean}} [options]
   */
  persistFunction(table, key, code, options = {}) {
    return this._call("persistFunction", { table: String(table), key, code: String(code), options: { ...options } });
  }

  /** Describe the external tables and their entries. */
  tables() {
    return this._call("tables", {});
  }

  /** Delete `table[key]` durably. */
  deleteEntry(table, key) {
    return this._call("deleteEntry", { table: String(table), key });
  }

  /** Wait until every pending write is durable in IndexedDB. */
  flush() {
    return this._call("flush", {});
  }

  /** Versions and back-ends in use ({version, python, lua_backend, storage_backend}). */
  info() {
    return this._call("info", {});
  }

  // ------------------------------------------------------------- storage (issue 3)

  /**
   * Create a B-tree index on a field path (`"users.age"`) or several (compound).
   * Resolves with its name (the fields joined by "+"). Rejects with BAD_FIELD_PATH,
   * BAD_INDEX, UNIQUE_VIOLATION (existing rows share a value; no index is created).
   * @param {string} table
   * @param {string|string[]} fieldOrFields
   * @param {string|{unique?: boolean}} [kind="btree"]
   * @param {{unique?: boolean}} [options]
   */
  createIndex(table, fieldOrFields, kind = "btree", options = {}) {
    if (kind && typeof kind === "object") { options = kind; kind = "btree"; }
    return this._call("createIndex", {
      table: String(table), fields: fieldOrFields, kind: kind ?? "btree", options: { unique: !!options?.unique },
    });
  }

  /** Drop an index by name (or by its fields); resolves with whether it existed. */
  dropIndex(table, nameOrFields) {
    return this._call("dropIndex", { table: String(table), name: nameOrFields });
  }

  /** The indices of a table: `[{name, fields, unique, ...}]`. */
  indexes(table) {
    return this._call("indexes", { table: String(table) });
  }

  /**
   * Query a table: `{field, operator, value}` or `{where: [...]}`, plus `order`,
   * `orderBy`, `limit`, `offset`, `cursor`. Resolves with an array of `{key, value}`
   * whose `cursor` property is the next page's cursor (null on the last page).
   */
  async queryTable(table, query = {}) {
    // sent as JSON text: the worker hands it to Python as is (and its prepared-query cache keys on it)
    const r = await this._call("queryTable", JSON.stringify({ table: String(table), query: toWire(query ?? {}, "query") }));
    const { keys, values } = r;
    const rows = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) rows[i] = { key: keys[i], value: fromStored(values[i]) };
    rows.cursor = r.cursor ?? null;
    return rows;
  }

  /** How a query would run: `{plan: "index" | "full_scan", index, ...}`. */
  explain(table, query = {}) {
    return this._call("explain", { table: String(table), query: toWire(query ?? {}, "query") });
  }

  /**
   * Apply operations atomically and durably (resolved = in IndexedDB):
   * `{type: "set"|"get"|"delete"|"update", table, key, value}`. Resolves with one
   * result per operation; rejects with BATCH_FAILED (details.index, details.cause)
   * and nothing applied.
   * @param {object[]} ops
   * @param {{onProgress?: (p: {done: number, total: number}) => void}} [options]
   */
  batchTableOperations(ops, options = {}) {
    if (!Array.isArray(ops)) {
      return Promise.reject(new HypeError("BAD_OPERATION", "batchTableOperations expects an array of operations", {},
        "Pass [{type: 'set', table, key, value}, ...]."));
    }
    const wire = [];
    let anyTagged = false;
    // consecutive plain sets of one table travel as one run of columns
    // ({type: "setRun", table, keys, values}): a smaller request, cheaper to parse and apply
    let run = null;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      try {
        if (op === null || typeof op !== "object" || Array.isArray(op)) {
          throw new HypeError("BAD_OPERATION", "an operation must be an object {type, table, key, value}", {}, "");
        }
        const key = op.key;
        if (op.type === "set" && typeof op.table === "string" && (typeof key === "string" || typeof key === "number")
            && op.value !== null && op.value !== undefined && isPlainJson(op.value)) {
          if (run !== null && run.table === op.table) {
            run.keys.push(key);
            run.values.push(op.value);
          } else {
            run = { type: "setRun", table: op.table, keys: [key], values: [op.value] };
            wire.push(run);
          }
          continue;
        }
        run = null;
        const w = { type: op.type, table: op.table, key: op.key };
        if (op.value !== undefined) {
          if (isPlainJson(op.value)) {
            w.value = op.value;  // serialised as is below: no copy
          } else {
            const tags = { found: false };
            w.value = toWire(op.value, `ops[${i}].value`, 0, new Set(), tags);
            if (tags.found) w.tagged = anyTagged = true;
          }
        }
        if (typeof w.key === "bigint") w.key = toWire(w.key, `ops[${i}].key`);
        wire.push(w);
      } catch (e) {
        const cause = HypeError.from(e);
        return Promise.reject(new HypeError("BATCH_FAILED",
          `operation ${i} of the batch failed: ${cause.message}; the batch was rolled back`,
          { index: i, op: { type: op?.type, table: op?.table, key: op?.key }, cause: cause.toJSON() },
          "Fix the operation at details.index (see details.cause); nothing of the batch was applied."));
      }
    }
    const onProgress = options?.onProgress;
    let json;
    try {
      // one JSON text for the worker: posting a string is cheaper than cloning 1000 objects
      json = JSON.stringify({ ops: wire, progress: typeof onProgress === "function", tagged: anyTagged });
    } catch (e) {
      return Promise.reject(new HypeError("INVALID_ARGUMENT", `cannot serialise the batch: ${e.message}`, {},
        "Pass plain data only."));
    }
    return this._call("batchTableOperations", utf8.encode(json),
      typeof onProgress === "function" ? onProgress : undefined).then((results) => results.map(fromWire));
  }

  /** Attach a JSON Schema (draft 2020-12) to a table; resolves with the recorded version. */
  defineSchema(table, schema, version = undefined) {
    return this._call("defineSchema", { table: String(table), schema, ...(version === undefined ? {} : { version }) });
  }

  /**
   * Migrate a table to a new schema version atomically.
   * @param {string} table
   * @param {{steps?: Object<string, string>, schema?: object, toVersion?: number}} spec
   *   steps: `{2: "function(key, row) row.x = 1 return row end"}` (Lua source; returning nil deletes the row)
   */
  migrate(table, spec = {}) {
    const steps = {};
    for (const [v, src] of Object.entries(spec.steps ?? {})) {
      if (typeof src !== "string") {
        return Promise.reject(new HypeError("BAD_REQUEST", `migration step ${v} must be Lua source text`, { step: v },
          "Write steps as strings: {2: 'function(key, row) ... return row end'}."));
      }
      steps[v] = src;
    }
    const args = { table: String(table), steps };
    if (spec.schema !== undefined) args.schema = spec.schema;
    if (spec.toVersion !== undefined) args.toVersion = spec.toVersion;
    return this._call("migrate", args);
  }

  /** Sizes per table: `{tables: {name: {rows, bytes_raw, bytes_stored, ratio, indexes}}, rows, ...}`. */
  stats() {
    return this._call("stats", {});
  }

  /** Fold the IndexedDB journal into its rows store now (it also happens by itself when idle). */
  compact() {
    return this._call("compact", {});
  }

  // ------------------------------------------------------------- HTTP apps (issue 9)
  // The Lua app of `hype serve` (`require("hype.http").app()`) answers requests inside the
  // worker: no network, no server. One app at a time; requests are served one at a time.

  /**
   * Load a Lua HTTP app into the worker (replacing the one loaded before; a failing load
   * keeps it). The chunk must return an app (`local app = require("hype.http").app() ... return app`).
   * Rejects with FILE_NOT_FOUND, PATH_OUTSIDE_PROJECT, LUA_SYNTAX_ERROR, LUA_RUNTIME_ERROR, ...
   * After a worker restart (see `run`) the app is loaded again; `reset()` unloads it.
   * @param {string|{path?: string, source?: string, chunkname?: string, options?: object}} spec
   *   a project file path, or `{source}` (Lua text, e.g. an editor buffer; `chunkname` names it in
   *   error messages, default "=app"); `options` are `hypelua.http.lua_app` keyword arguments
   * @returns {Promise<{app: string}>}
   */
  async loadApp(spec) {
    const s = typeof spec === "string" ? { path: spec } : { ...(spec ?? {}) };
    const args = {};
    if (s.path !== undefined) args.path = String(s.path);
    if (s.source !== undefined) args.source = String(s.source);
    if (s.chunkname !== undefined) args.chunkname = String(s.chunkname);
    if (s.options !== undefined) args.options = toWire(s.options, "options");
    const result = await this._call("httpLoad", args);
    this._app = args;
    return result;
  }

  /** Unload the HTTP app; resolves with whether one was loaded. */
  async unloadApp() {
    this._app = null;
    return this._call("httpUnload", {});
  }

  /**
   * `fetch()` answered by the loaded Lua app, in the worker (no network): takes what
   * `fetch` takes (a Request, or a URL and `init`) and resolves with a real `Response`
   * (status, headers, binary-safe body; `response.url` is the request's URL). Redirects
   * are returned, not followed. `init.timeout` (ms, default 30000): a handler still busy
   * then gives a 503; one that never yields is stopped by replacing the worker (rejects
   * with TIMEOUT). A handler error is the app's 500 response. Rejects with NO_APP when no
   * app is loaded and BAD_REQUEST for a malformed request (or a status Response refuses).
   * @param {Request|string|URL} input
   * @param {RequestInit & {timeout?: number}} [init]
   * @returns {Promise<Response>}
   */
  async fetch(input, init = undefined) {
    const request = input instanceof Request && init === undefined ? input : new Request(input, init);
    const timeout = init && Number.isFinite(init.timeout) ? Number(init.timeout) : undefined;
    const method = request.method.toUpperCase();
    const body = method === "GET" || method === "HEAD" ? null : await request.arrayBuffer();
    const r = await this._fetchParts(method, request.url, [...request.headers], body, timeout);
    const headers = new Headers();
    for (const [name, value] of r.headers) {
      try { headers.append(name, value); } catch { /* not a valid header for fetch: dropped */ }
    }
    const response = new Response(r.body, { status: r.status, headers });
    Object.defineProperty(response, "url", { value: request.url });
    return response;
  }

  /**
   * One request through the app: `{status, headers: [[name, value]], body: ArrayBuffer|null}`
   * (body null when the status or method carries none). Used by `fetch` and the service worker.
   */
  async _fetchParts(method, url, headers, body, timeout) {
    const args = { method, url, headers };
    if (timeout !== undefined) args.timeout = timeout;
    const { value, payload } = await this._call("httpFetch", JSON.stringify(args), undefined,
      body && body.byteLength ? body : null, timeout ?? DEFAULT_FETCH_TIMEOUT_MS);
    const status = value.status;
    if (!(status >= 200 && status <= 599)) {
      throw new HypeError("BAD_RESPONSE", `the app answered status ${status}, which a Response cannot carry`,
        { status }, "Answer with a status between 200 and 599.");
    }
    const noBody = method === "HEAD" || NULL_BODY_STATUSES.has(status);
    return { status, headers: value.headers, body: noBody ? null : (payload ?? new ArrayBuffer(0)) };
  }

  /**
   * Route the page's own requests under `prefixes` (same origin) to the loaded app: registers
   * the service worker `hype-sw.js` (from baseUrl), which forwards matching requests of every page it
   * controls to a page that called routeFetches, so plain `fetch("/api/users/1")`, `<img src>`, forms
   * and XHR are answered by the Lua app, offline. Other requests go to the network untouched.
   * Resolves once the service worker controls this page (also on the first visit). With no page
   * able to answer, the service worker answers 503 `{"error": {"code": "NO_HYPE_CLIENT", ...}}`.
   * The script's scope must cover the pages: `scope` defaults to "/", which needs hype-sw.js served
   * from the site root or with the header `Service-Worker-Allowed: /` (`hype playground` sends it).
   * @param {string|string[]} [prefixes="/api/"] path prefixes, e.g. "/api/"
   * @param {{scope?: string, serviceWorkerUrl?: string, timeout?: number}} [options]
   * @returns {Promise<{prefixes: string[], scope: string, unroute: () => Promise<boolean>}>}
   */
  async routeFetches(prefixes = "/api/", options = {}) {
    const sw = typeof navigator !== "undefined" ? navigator.serviceWorker : undefined;
    if (!sw) {
      throw new HypeError("UNSUPPORTED", "service workers are not available in this context", {},
        "Service workers need a secure context (https or http://localhost / 127.0.0.1); use hype.fetch() otherwise.");
    }
    const list = (Array.isArray(prefixes) ? prefixes : [prefixes]).map(String);
    if (!list.length || list.some((p) => !p.startsWith("/"))) {
      throw new HypeError("BAD_REQUEST", "route prefixes must be paths starting with '/'", { prefixes: list },
        'Pass e.g. "/api/".');
    }
    const script = new URL(options.serviceWorkerUrl ?? this.baseUrl + "hype-sw.js", location.href);
    script.search = "";
    for (const p of list) script.searchParams.append("prefix", p);
    const scope = new URL(options.scope ?? "/", location.href).href;
    if (!this._routing) {
      const onMessage = (ev) => {
        if (ev.data?.type === SW_FETCH && ev.ports?.[0]) this._answerServiceWorker(ev.data, ev.ports[0]);
      };
      sw.addEventListener("message", onMessage);
      sw.startMessages();
      this._routing = { onMessage };
    }
    let registration;
    try {
      registration = await sw.register(script.href, { scope });
    } catch (e) {
      throw new HypeError("SERVICE_WORKER_FAILED", `registering ${script.href} failed: ${e.message}`,
        { script: script.href, scope },
        "Serve hype-sw.js from the site root, or with the header Service-Worker-Allowed: / (or pass a narrower scope).");
    }
    const wait = Number.isFinite(options.timeout) ? options.timeout : 30000;
    const controlled = () => sw.controller && sw.controller.scriptURL === script.href;
    if (!controlled()) {
      // first visit (or new prefixes): the worker installs, activates and claims this page
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          sw.removeEventListener("controllerchange", check);
          reject(new HypeError("SERVICE_WORKER_FAILED", `the service worker did not control the page within ${wait} ms`,
            { script: script.href, scope }, "Check the page is inside the scope and the browser console for errors."));
        }, wait);
        const check = () => {
          if (!controlled()) return;
          clearTimeout(timer);
          sw.removeEventListener("controllerchange", check);
          resolve();
        };
        sw.addEventListener("controllerchange", check);
        check();
      });
    }
    sw.controller.postMessage({ type: SW_HELLO });
    this._routing.prefixes = list;
    this._routing.registration = registration;
    return {
      prefixes: list,
      scope: registration.scope,
      unroute: async () => {
        sw.removeEventListener("message", this._routing?.onMessage);
        this._routing = null;
        return registration.unregister();
      },
    };
  }

  /** A request forwarded by the service worker: acknowledge at once, then answer through `port`. */
  async _answerServiceWorker(msg, port) {
    port.postMessage({ type: "accepted" });
    try {
      const r = await this._fetchParts(String(msg.method).toUpperCase(), msg.url, msg.headers ?? [],
        msg.body ?? null, undefined);
      port.postMessage({ type: "response", status: r.status, headers: r.headers, body: r.body }, r.body ? [r.body] : []);
    } catch (e) {
      port.postMessage({ type: "error", error: HypeError.from(e).toJSON() });
    }
  }

  // ------------------------------------------------------------- LiveView (issue 10)

  /**
   * Mount a LiveView running inside the worker (no server) on `element`: the same views,
   * protocol and connector as `hype serve` over a WebSocket. `target` is a project Lua file
   * (`"counter.lua"`, returning `require("hype.live").view{...}`) or a Python view
   * (`"package.module:ClassName"`; modules in the project directory import too). Resolves,
   * once the view is rendered, with its LiveConnection (`close()`, `pushEvent(event, payload)`);
   * rejects with FILE_NOT_FOUND, NO_VIEW, the view's mount error (VIEW_CRASHED), ...
   * After a worker restart the view is opened again and re-joined with the `hype-model`
   * values the page shows.
   * @param {Element} element
   * @param {string} target
   * @param {object} [params] the view's connect params (`mount(params, session)`)
   * @param {object} [options] LiveConnection options (hooks, ...)
   * @returns {Promise<LiveConnection>}
   */
  async mountLive(element, target, params = {}, options = {}) {
    if (this._dead) throw this._dead;
    const transport = new WorkerTransport(this, target);
    const conn = new LiveConnection(element, transport, { ...options, path: String(target), params: params ?? {},
                                                          session: null });
    try {
      await conn.connect();
    } catch (e) {
      conn.close();
      throw e instanceof HypeError ? e : new HypeError(e?.code ?? "LIVE_ERROR", e?.message ?? String(e),
        e?.error?.details ?? {}, e?.hint ?? "");
    }
    return conn;
  }

  /** Stop the worker; pending and later calls reject with WORKER_ERROR. */
  terminate() {
    this._fail(new HypeError("WORKER_ERROR", "the hypelua worker was terminated", { phase: "terminated" }, "Call Hype.load() again."));
  }
}
