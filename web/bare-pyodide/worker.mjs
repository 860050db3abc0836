const t0 = performance.now();
const indexURL = new URL("../pyodide/", import.meta.url).href;
try {
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL });
  const value = pyodide.runPython("1+1");
  self.postMessage({ value, workerMs: performance.now() - t0 });
} catch (e) {
  self.postMessage({ error: String(e && e.stack || e) });
}
