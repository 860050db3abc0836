// hypelua module Web Worker: boots Pyodide + the hypelua Python core and
// serves requests from the page ({type:"call", id, op, args}) one at a time.
//
// Boot order (SPEC 1.2):
//   1. Pyodide (loadPyodide from <baseUrl>pyodide/), restored from the build-time memory
//      snapshot (manifest.json "snapshot", made by web/tools/make-snapshot.mjs at step 3,
//      cached in Cache Storage) when there is one and Pyodide accepts it, else booted plainly
//   2. the hypelua wheels from manifest.json (always: MEMFS files are not in a snapshot);
//      import the pure-Python core (already imported after a restore)
//   3. [snapshot point: nothing below may be in a memory snapshot]
//   4. the project directory (PROJECT_DIR, Pyodide's IDBFS) loaded from IndexedDB
//   5. WorkerHost.create(): Lua side module (ctypes), storage (IndexedDB), callbacks;
//      the project directory is the module root and the working directory, and is
//      written back (FS.syncfs) after every request that may change files.

import { createIdbBridge } from "./idb.mjs";

const t0 = performance.now();
const timings = {};
const ms = () => Math.round((performance.now() - t0) * 10) / 10;

function status(phase) {
  timings[phase] = ms();
  self.postMessage({ type: "status", phase, ms: timings[phase] });
}

function errorObject(code, err, suggestion = "") {
  const message = err && err.message ? err.message : String(err);
  return { code, message, details: { name: err?.name ?? null, stack: err?.stack ?? null }, suggestion };
}

let host = null;
let booting = null;
/** how Pyodide started: "restored" (memory snapshot), "none" (no snapshot in this build),
 *  "off" (turned off), "refused: why" (fell back to a plain boot) */
let snapshotState = "none";
let queue = Promise.resolve();
/** frames from other workers' schedulers, in order */
let actorsChain = Promise.resolve();
/** requests being dispatched (0 or 1: they are serialised) */
let inFlight = 0;
/** ops the host answers synchronously (`WorkerHost.dispatch_sync`), from Python at boot */
let syncOps = new Set();
/** the host's two entry points, looked up once (each lookup is a trip through the FFI) */
let dispatchSync = null;
let dispatchAsync = null;
/** ops with a binary payload both ways (`WorkerHost.binary_ops`: httpFetch), and the reply's getter */
let binaryOps = new Set();
let takePayload = null;

const PY_BOOT_CORE = `
import hypelua.browser._preload  # the pure-Python core: no side effects, snapshot-safe
`;

const PY_BOOT_HOST = `
import os
from hypelua.browser import WorkerHost
os.chdir(project_root)
host = await WorkerHost.create(database=database, idb=idb, project_root=project_root,
                               project_sync=project_sync, registry=registry, sandbox=sandbox,
                               live_post=live_post, actors_post=actors_post,
                               actors_control=actors_control, actors_node=actors_node)
`;

/** The persisted project directory (IDBFS: one IndexedDB database named after the mount point). */
const PROJECT_DIR = "/home/pyodide/project";

function syncfs(FS, populate) {
  return new Promise((resolve, reject) => {
    FS.syncfs(populate, (err) => (err ? reject(new Error(`IDBFS sync failed: ${err.message ?? err}`)) : resolve()));
  });
}

/** Mount IDBFS at PROJECT_DIR and load its files from IndexedDB; returns the sync-back function. */
async function mountProject(pyodide) {
  const FS = pyodide.FS;
  FS.mkdirTree(PROJECT_DIR);
  FS.mount(FS.filesystems.IDBFS, {}, PROJECT_DIR);
  await syncfs(FS, true);
  let chain = Promise.resolve();
  // serialised: a sync never overlaps another
  return () => (chain = chain.then(() => syncfs(FS, false)));
}

/** Cache Storage name of snapshots (one entry per build: older ones are dropped) */
const SNAPSHOT_CACHE = "hypelua-snapshots";

/**
 * The memory snapshot named by the manifest, from Cache Storage or the network (then cached);
 * null when the build has none, it is turned off, or it cannot be fetched.  The cache key is
 * its URL, which carries the build id (a hash of the wheels); Pyodide's version is checked
 * against the manifest's, and Pyodide itself refuses a snapshot of another build.
 */
async function fetchSnapshot(baseUrl, manifest, pyodideVersion) {
  if (!manifest.snapshot || !manifest.build) return null;
  if (pyodideVersion && manifest.pyodide && pyodideVersion !== manifest.pyodide) return null;
  const url = new URL(manifest.snapshot, baseUrl).href;
  let cache = null;
  try {
    cache = self.caches ? await self.caches.open(SNAPSHOT_CACHE) : null;
  } catch { cache = null; } // opaque origins, private modes: no Cache Storage
  try {
    const hit = cache ? await cache.match(url) : undefined;
    if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
    const r = await fetch(url);
    if (!r.ok) return null;
    // a ".gz" snapshot travels compressed; inflated here, and cached inflated
    const body = url.endsWith(".gz") ? r.body.pipeThrough(new DecompressionStream("gzip")) : r.body;
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    if (cache) {
      for (const old of await cache.keys()) if (old.url !== url) await cache.delete(old);
      await cache.put(url, new Response(bytes));
    }
    return { bytes, cached: false };
  } catch {
    return null;
  }
}

async function boot({ baseUrl, database, registry, sandbox, actorNode, snapshot: useSnapshot = true }) {
  status("start");
  const idb = createIdbBridge(self.indexedDB);
  const idbOpen = idb.open(database).catch((e) => e); // overlap with Pyodide's boot
  const manifestP = fetch(baseUrl + "manifest.json").then((r) => {
    if (!r.ok) throw new Error(`GET ${baseUrl}manifest.json: HTTP ${r.status}`);
    return r.json();
  });

  // fetch our Python files while Pyodide boots: the site-packages image of the build
  // (manifest "site_packages": every wheel's files, concatenated, and their index), else the
  // wheels themselves (unpacked below)
  const filesP = manifestP.then(async (manifest) => {
    if (manifest.site_packages) {
      const get = async (suffix, kind) => {
        const url = new URL(manifest.site_packages + suffix, baseUrl).href;
        const r = await fetch(url);
        if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
        return kind === "json" ? r.json() : new Uint8Array(await r.arrayBuffer());
      };
      try {
        const [index, blob] = await Promise.all([get(".json", "json"), get(".bin", "bytes")]);
        return { index, blob };
      } catch (e) {
        // a copy of dist/web without the image (an older package layout): the wheels
        self.postMessage({ type: "stderr", text: `hypelua: ${e.message}; unpacking the wheels instead` });
      }
    }
    return { wheels: await Promise.all((manifest.wheels ?? []).map(async (w) => {
      const url = new URL(w, baseUrl + "wheels/").href;
      const r = await fetch(url);
      if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
      return { name: w, data: await r.arrayBuffer() };
    })) };
  });
  filesP.catch(() => {}); // reported when awaited

  const pyodideModule = import(baseUrl + "pyodide/pyodide.mjs");
  const manifest = await manifestP;
  const { loadPyodide, version: pyodideVersion } = await pyodideModule;
  const options = {
    indexURL: baseUrl + "pyodide/",
    stdout: (text) => self.postMessage({ type: "stdout", text }),
    stderr: (text) => self.postMessage({ type: "stderr", text }),
  };
  let pyodide = null;
  snapshotState = useSnapshot ? "none" : "off";
  const snap = useSnapshot ? await fetchSnapshot(baseUrl, manifest, pyodideVersion) : null;
  if (snap) {
    status(snap.cached ? "snapshot-cached" : "snapshot-fetched");
    try {
      pyodide = await loadPyodide({ ...options, _loadSnapshot: snap.bytes });
      snapshotState = "restored";
    } catch (e) {
      // another Pyodide build, a browser that cannot restore it: boot plainly
      snapshotState = `refused: ${e?.message ?? e}`;
      self.postMessage({ type: "stderr", text: `hypelua: memory snapshot refused (${e?.message ?? e}); booting without it` });
      try { await self.caches?.delete(SNAPSHOT_CACHE); } catch { /* nothing cached */ }
    }
  }
  if (pyodide === null) pyodide = await loadPyodide(options);
  status("pyodide");

  // pure-Python packages and the Lua side module (loaded later by ctypes.CDLL from
  // site-packages); also after a snapshot restore: MEMFS files are not in a snapshot
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  const files = await filesP;
  if (files.index) {
    const FS = pyodide.FS;
    const made = new Set();
    for (const [path, offset, length] of files.index) {
      const full = `${sitePackages}/${path}`;
      const dir = full.slice(0, full.lastIndexOf("/"));
      if (!made.has(dir)) { FS.mkdirTree(dir); made.add(dir); }
      FS.writeFile(full, files.blob.subarray(offset, offset + length));
    }
  } else {
    for (const { name, data } of files.wheels) {
      try {
        pyodide.unpackArchive(data, "wheel", { extractDir: sitePackages });
      } catch (e) {
        throw new Error(`installing ${name} failed: ${e.message ?? e}`);
      }
    }
  }
  status("wheels");

  await pyodide.runPythonAsync(PY_BOOT_CORE);
  status("core");
  // ---- [snapshot point] ---------------------------------------------------
  // Everything above is pure Python state; below: ctypes.CDLL, JS objects held
  // by Python, IndexedDB connections, asyncio tasks.

  const projectSync = await mountProject(pyodide);
  status("project");
  const opened = await idbOpen;
  if (opened instanceof Error) throw opened;
  const ns = pyodide.globals.get("dict")();
  ns.set("database", database);
  ns.set("idb", idb);
  ns.set("project_root", PROJECT_DIR);
  ns.set("project_sync", projectSync);
  ns.set("registry", registry ?? null);
  ns.set("sandbox", Boolean(sandbox));
  // frames a LiveView pushes by itself (handle_info, timers, pub/sub) -> the page's WorkerTransport
  ns.set("live_post", (id, frame) => self.postMessage({ type: "live", id: Number(id), frame: String(frame) }));
  // actors across workers: frames to the page's hub (hype.actors in hypelua.mjs)
  ns.set("actors_post", (to, frame) => self.postMessage({ type: "actors", to: Number(to), frame: String(frame) }));
  ns.set("actors_control", (frame) => self.postMessage({ type: "actorsControl", frame: String(frame) }));
  ns.set("actors_node", actorNode ?? 0);
  await pyodide.runPythonAsync(PY_BOOT_HOST, { globals: ns });
  host = ns.get("host");
  ns.destroy();
  const readOnly = host.read_only_ops();
  syncOps = new Set(readOnly.toJs());
  readOnly.destroy();
  dispatchSync = host.dispatch_sync;
  dispatchAsync = host.dispatch;
  const binary = host.binary_ops();
  binaryOps = new Set(binary.toJs());
  binary.destroy();
  takePayload = host.take_payload;
  status("host");
  return { pyodide, manifest };
}

/** The binary result of the request just handled (a Python bytes -> a fresh Uint8Array), or null. */
function replyPayload() {
  const p = takePayload();
  if (p === null || p === undefined) return null;
  try {
    return p.toJs();  // a copy out of the wasm heap: its buffer can be transferred
  } finally {
    p.destroy();
  }
}

async function dispatch(op, args, id, argsJson, payload) {
  let raw;
  // progress events ({done, total}) of long operations, posted while the operation runs
  const progress = (done, total) => {
    self.postMessage({ type: "progress", id, done: Number(done), total: Number(total) });
  };
  try {
    const json = typeof argsJson === "string" || argsJson instanceof Uint8Array ? argsJson : JSON.stringify(args ?? {});
    // read-only ops are answered synchronously (no Python event-loop round trip);
    // the others go straight to dispatch (a large request crosses into Python once)
    if (syncOps.has(op)) raw = dispatchSync(op, json);
    if (raw === undefined || raw === null) {
      // (undefined, not null: a JS null reaches Python as jsnull, undefined as None)
      raw = binaryOps.has(op) ? await dispatchAsync(op, json, progress, payload ? new Uint8Array(payload) : undefined)
        : await dispatchAsync(op, json, progress);
    }
  } catch (e) {
    return { ok: false, error: errorObject("INTERNAL_ERROR", e, "This is a bug in hypelua's worker host; please report it."), output: "" };
  }
  if (raw && typeof raw === "object" && typeof raw.toJs === "function") {
    const v = raw.toJs({ dict_converter: Object.fromEntries });
    raw.destroy?.();
    return v;
  }
  // the JSON text goes to the page as is (a string is cheaper to post than the
  // object graph it describes); the page parses it
  return typeof raw === "string" ? raw : { ok: false, error: errorObject("INTERNAL_ERROR",
    new Error(`reply of type ${typeof raw}`), "This is a bug in hypelua's worker host; please report it."), output: "" };
}

self.addEventListener("message", (ev) => {
  const msg = ev.data;
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "init") {
    if (booting) return;
    booting = boot(msg).then(
      (info) => {
        self.postMessage({ type: "ready", timings, snapshot: snapshotState,
                           versions: { pyodide: info.pyodide.version, hypelua: info.manifest.version } });
      },
      (e) => {
        self.postMessage({
          type: "fatal",
          error: {
            code: "WORKER_ERROR",
            message: `hypelua failed to start: ${e?.message ?? e}`,
            details: { phase: "boot", timings, stack: e?.stack ?? null },
            suggestion: "Check that dist/web/ is complete (./build.sh dist) and served with the right MIME types.",
          },
        });
        throw e;
      },
    );
    booting.catch(() => {});
    return;
  }
  if (msg.type === "actors" || msg.type === "actorsDown" || msg.type === "actorsSpares") {
    // not a serialised request: a process waiting in a `run` must hear from other workers;
    // chained so frames keep their order while the worker boots
    actorsChain = actorsChain.then(async () => {
      await booting;
      if (!host) return;
      try {
        if (msg.type === "actors") await host.actors_frame(msg.frame);
        else if (msg.type === "actorsDown") await host.actors_down(msg.node);
        else host.actors_spares(msg.nodes);
      } catch (e) {
        self.postMessage({ type: "stderr", text: `hypelua actors: ${e?.message ?? e}` });
      }
    });
    return;
  }
  if (msg.type === "call" && msg.op === "actor_processes" && inFlight > 0 && host) {
    // the Processes panel while a program runs: answered out of turn (a read of the
    // scheduler's table between two event-loop turns of the running request)
    self.postMessage({ type: "reply", id: msg.id, raw: host.actor_processes_live() });
    return;
  }
  if (msg.type === "call") {
    // Requests are serialised: one dispatch at a time, in arrival order.
    queue = queue.then(async () => {
      let reply;
      inFlight++;
      try {
        await booting;
        reply = await dispatch(msg.op, msg.args, msg.id, msg.json, msg.payload);
      } catch (e) {
        reply = { ok: false, error: errorObject("WORKER_ERROR", e), output: "" };
      } finally {
        inFlight--;
      }
      const out = typeof reply === "string" ? { type: "reply", id: msg.id, raw: reply } : { type: "reply", id: msg.id, reply };
      // binary replies (an httpFetch response body) move to the page without a copy
      const payload = host && binaryOps.has(msg.op) ? replyPayload() : null;
      if (payload) {
        out.payload = payload.buffer;
        self.postMessage(out, [payload.buffer]);
      } else {
        self.postMessage(out);
      }
    });
  }
});

self.addEventListener("unhandledrejection", (ev) => {
  const e = ev.reason;
  // Boot failures are already reported as "fatal".
  if (booting && !host) return;
  self.postMessage({ type: "stderr", text: `hypelua worker: unhandled rejection: ${e?.message ?? e}` });
});
