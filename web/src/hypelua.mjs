// hypelua JavaScript API: a real Lua 5.4 VM + Python (Pyodide) in a module Web Worker.
//
//   const hype = await Hype.load({ baseUrl: "/dist/web/", database: "app" });
//   await hype.run("return 6 * 7");            // [42]
//
// Every call is one request/response over postMessage, matched by id.
// Errors reject with HypeError {code, message, details, suggestion}; a worker
// crash or boot failure rejects every pending call with code WORKER_ERROR.

import { HypeError } from "./errors.mjs";

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

function emitLines(cb, text) {
  if (!text || !cb) return;
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  for (const line of body.split("\n")) cb(line);
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
    worker.addEventListener("message", (ev) => this._onMessage(ev.data));
    worker.addEventListener("error", (ev) => {
      ev.preventDefault?.();
      const where = ev.filename ? ` (${ev.filename}:${ev.lineno})` : "";
      this._fail(new HypeError("WORKER_ERROR", `the hypelua worker crashed: ${ev.message || "failed to load worker.mjs"}${where}`,
        { phase: this._bootDone ? "run" : "boot", baseUrl: this.baseUrl },
        "Check that baseUrl points at a built dist/web/ directory served over http(s), and look at the browser console."));
    });
    worker.addEventListener("messageerror", () => {
      this._fail(new HypeError("WORKER_ERROR", "a message from the hypelua worker could not be deserialised", {}, ""));
    });
  }

  /**
   * Start the worker and boot Pyodide + hypelua.
   * @param {object} [options]
   * @param {string} [options.baseUrl] URL of dist/web/ (default: where this script was loaded from)
   * @param {string} [options.database="hypelua"] IndexedDB database name (stored as "hypelua:<name>")
   * @param {(line: string) => void} [options.stdout] Lua/Python print output (default console.log)
   * @param {(line: string) => void} [options.stderr] Python stderr (default console.warn)
   * @param {(status: {phase: string, ms: number}) => void} [options.onStatus] boot progress
   * @returns {Promise<Hype>}
   */
  static async load(options = {}) {
    const baseUrl = resolveBaseUrl(options.baseUrl);
    const database = options.database ?? "hypelua";
    const worker = new Worker(baseUrl + "worker.mjs", { type: "module", name: `hypelua:${database}` });
    const hype = new Hype(worker, {
      baseUrl,
      database,
      stdout: options.stdout ?? ((line) => console.log(line)),
      stderr: options.stderr ?? ((line) => console.warn(line)),
      onStatus: options.onStatus,
    });
    worker.postMessage({ type: "init", baseUrl, database });
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
      case "reply": {
        const p = this._pending.get(msg.id);
        if (!p) return;
        this._pending.delete(msg.id);
        const reply = msg.reply ?? {};
        emitLines(this._stdout, reply.output);
        for (const w of reply.warnings ?? []) emitLines(this._stderr, typeof w === "string" ? w : JSON.stringify(w));
        if (reply.ok) p.resolve(reply.value);
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
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
    try { this._worker.terminate(); } catch { /* already gone */ }
  }

  _call(op, args = {}) {
    if (this._dead) return Promise.reject(this._dead);
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, op });
      try {
        this._worker.postMessage({ type: "call", id, op, args });
      } catch (e) {
        this._pending.delete(id);
        reject(new HypeError("INVALID_ARGUMENT", `cannot send ${op} arguments to the worker: ${e.message}`, {}, "Pass plain data only."));
      }
    });
  }

  /** Run a Lua chunk; resolves with the array of its return values. */
  run(code) {
    return this._call("run", { code: String(code) });
  }

  /** Run a Lua chunk; resolves with its first return value. */
  compute(code) {
    return this._call("compute", { code: String(code) });
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

  /** Stop the worker; pending and later calls reject with WORKER_ERROR. */
  terminate() {
    this._fail(new HypeError("WORKER_ERROR", "the hypelua worker was terminated", { phase: "terminated" }, "Call Hype.load() again."));
  }
}
