#!/usr/bin/env node
// Run a Python test module inside Pyodide 314 under Node and print ONE JSON line.
//
//   node tests/node/pyodide_runner.mjs <python-module-file> [options]
//
// Options:
//   --so PATH       write this Lua side module into Pyodide's MEMFS
//                   (/hypelua/lib/libhypelua_lua54.so) and export HYPE_LUA_LIBRARY;
//                   default: build/wasm/libhypelua_lua54.so when it exists
//   --wheel PATH    unpack a wheel (e.g. the hypelua_lua54 side-module wheel) into
//                   site-packages before running (repeatable)
//   --no-so         do not load any Lua side module
//   -k SUBSTRING    run only tests whose name contains SUBSTRING
//   --env K=V       set os.environ[K] = V inside Pyodide (repeatable)
//
// The repository is mounted (NODEFS) at its own absolute path, `<repo>/py` and the
// module's directory are put on sys.path, so `__file__`-relative paths work.
// Every top-level `test_*` callable of the module is run (sync or async, in
// definition order); Python's stdout/stderr go to Node's stderr, and stdout gets
// exactly one line:
//   {"ok": bool, "pyodide": "314.0.7", "python": "3.14.2", "load_ms": N,
//    "results": [{"name", "outcome": "passed"|"failed", "ms", "error", "traceback"}]}
// A test may return a JSON-serialisable value: it is reported as "value"
// (benchmarks use that).  Exit status: 0 all passed, 1 a test failed, 2 setup error.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");

function parseArgs(argv) {
  const opts = { module: null, so: undefined, wheels: [], filter: null, env: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--so") opts.so = argv[++i];
    else if (a === "--no-so") opts.so = null;
    else if (a === "--wheel") opts.wheels.push(argv[++i]);
    else if (a === "-k") opts.filter = argv[++i];
    else if (a === "--env") {
      const [k, ...v] = argv[++i].split("=");
      opts.env[k] = v.join("=");
    } else if (!opts.module) opts.module = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!opts.module) throw new Error("usage: pyodide_runner.mjs <python-module-file> [--so PATH] [--wheel PATH] [-k SUBSTR]");
  if (opts.so === undefined) {
    const def = path.join(ROOT, "build", "wasm", "libhypelua_lua54.so");
    opts.so = existsSync(def) ? def : null;
  }
  return opts;
}

function mountHost(pyodide, hostDir) {
  const { FS } = pyodide;
  FS.mkdirTree(hostDir);
  FS.mount(pyodide.FS.filesystems.NODEFS, { root: hostDir }, hostDir);
}

const RUN_PY = `
import asyncio, importlib.util, inspect, json, os, sys, time, traceback

async def _hype_run(module_path, filt):
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(module_path))[0], module_path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    results = []
    for name, fn in list(vars(mod).items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        if filt and filt not in name:
            continue
        t0 = time.perf_counter()
        entry = {"name": name}
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
            entry["outcome"] = "passed"
            if value is not None:
                try:
                    json.dumps(value)
                    entry["value"] = value
                except TypeError:
                    entry["value"] = repr(value)
        except BaseException as exc:
            entry["outcome"] = "failed"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc()
        entry["ms"] = round((time.perf_counter() - t0) * 1000, 3)
        results.append(entry)
    return json.dumps(results)
`;

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(String(e.message || e));
    process.exit(2);
  }
  const modulePath = path.resolve(opts.module);
  const require = createRequire(import.meta.url);
  const { loadPyodide, version } = require(path.join(ROOT, "node_modules", "pyodide", "pyodide.js"));
  const t0 = performance.now();
  const pyodide = await loadPyodide({
    indexURL: path.join(ROOT, "node_modules", "pyodide") + path.sep,
    stdout: (s) => process.stderr.write(s + "\n"),
    stderr: (s) => process.stderr.write(s + "\n"),
  });
  const loadMs = performance.now() - t0;
  mountHost(pyodide, ROOT);
  const modDir = path.dirname(modulePath);
  if (!modDir.startsWith(ROOT + path.sep)) mountHost(pyodide, modDir);

  const env = { ...opts.env };
  if (opts.so) {
    pyodide.FS.mkdirTree("/hypelua/lib");
    const target = "/hypelua/lib/libhypelua_lua54.so";
    pyodide.FS.writeFile(target, readFileSync(path.resolve(opts.so)));
    env.HYPE_LUA_LIBRARY = target;
  }
  pyodide.FS.mkdirTree("/hypelua/wheels");
  const wheels = opts.wheels.map((w, i) => {
    const target = `/hypelua/wheels/${i}_${path.basename(w)}`;
    pyodide.FS.writeFile(target, readFileSync(path.resolve(w)));
    return target;
  });
  pyodide.globals.set("_hype_env", pyodide.toPy(env));
  pyodide.globals.set("_hype_wheels", pyodide.toPy(wheels));
  pyodide.globals.set("_hype_paths", pyodide.toPy([path.join(ROOT, "py"), modDir]));
  await pyodide.runPythonAsync(`
import os, site, sys, zipfile
for _p in reversed(_hype_paths):
    if _p not in sys.path:
        sys.path.insert(0, _p)
os.environ.update(_hype_env)
_site = site.getsitepackages()[0]
for _w in _hype_wheels:
    with zipfile.ZipFile(_w) as _z:
        _z.extractall(_site)
` + RUN_PY);
  const run = pyodide.globals.get("_hype_run");
  let results;
  let setupError = null;
  try {
    results = JSON.parse(await run(modulePath, opts.filter));
  } catch (e) {
    setupError = String(e.message || e);
    results = [];
  }
  const ok = !setupError && results.length > 0 && results.every((r) => r.outcome === "passed");
  const out = {
    ok,
    pyodide: version,
    python: pyodide.runPython("import sys; sys.version.split()[0]"),
    load_ms: Math.round(loadMs),
    results,
  };
  if (setupError) out.error = setupError;
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(setupError ? 2 : ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e), results: [] }) + "\n");
  process.exit(2);
});
