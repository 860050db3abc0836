// Build-time Pyodide memory snapshot for instant start (SPEC 1.2, issue 12).
//
//   node web/tools/make-snapshot.mjs dist/web
//
// Boots Pyodide under Node from <dist>/pyodide/ with `_makeSnapshot`, unpacks the wheels of
// <dist>/manifest.json into site-packages, imports the pure-Python hypelua core (the
// snapshot point of the worker's boot order: nothing below it -- no ctypes.CDLL, no JS
// object held by Python, no asyncio task -- may be in a snapshot), then writes
// <dist>/snapshot/<build>.bin.gz and records its name in manifest.json ("snapshot").
// The worker (web/src/worker.mjs) restores it with `_loadSnapshot`, unpacks the wheels
// again (MEMFS files are not in a snapshot) and falls back to a plain boot when Pyodide
// refuses it (another Pyodide build, a browser that cannot restore it).
import { readFileSync, writeFileSync, mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { pathToFileURL } from "node:url";

const dist = resolve(process.argv[2] ?? "dist/web");
const manifestPath = join(dist, "manifest.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
if (!manifest.build) throw new Error(`${manifestPath} has no "build" id`);

const t0 = performance.now();
const { loadPyodide } = await import(pathToFileURL(join(dist, "pyodide", "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: join(dist, "pyodide") + "/", _makeSnapshot: true,
                                   stdout: () => {}, stderr: (t) => process.stderr.write(t + "\n") });
const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
for (const name of manifest.wheels ?? []) {
  pyodide.unpackArchive(new Uint8Array(readFileSync(join(dist, "wheels", name))), "wheel", { extractDir: sitePackages });
}
// the worker's PY_BOOT_CORE: keep the two in step
await pyodide.runPythonAsync("import hypelua.browser._preload\n");
const snapshot = pyodide.makeMemorySnapshot();

const dir = join(dist, "snapshot");
mkdirSync(dir, { recursive: true });
for (const old of readdirSync(dir)) unlinkSync(join(dir, old));
// gzip: ~30 MiB of wasm memory is mostly zeros and repeats (~1/5 the bytes on the wire);
// the worker inflates it with DecompressionStream and caches the inflated bytes
const file = `${manifest.build}.bin.gz`;
const packed = gzipSync(snapshot, { level: 6 });
writeFileSync(join(dir, file), packed);
manifest.snapshot = `snapshot/${file}`;
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
console.log(`snapshot ${manifest.snapshot}: ${(snapshot.byteLength / 1048576).toFixed(1)} MiB ` +
            `(${(packed.byteLength / 1048576).toFixed(1)} MiB gzip) in ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s`);
