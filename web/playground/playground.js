// hypelua playground: editor (CodeMirror 6), share links, examples gallery, output, external
// tables, indices & queries, persist-function form, files & tests, HTTP panel, LiveView, processes.
import { Hype, HypeError } from "../hypelua.mjs";
import { createEditor } from "./editor.mjs";
import { EXAMPLES, MEMORY_EXAMPLE, HTTP_EXAMPLE } from "./examples.mjs";

const $ = (sel) => document.querySelector(sel);
const output = $("#output");
const statusEl = $("#status");
const runBtn = $("#run");
const persistBtn = $("#persist-btn");
const params = new URLSearchParams(location.search);

// ---------- editor (CodeMirror 6): the buffer persists, #code=… links share it ----------
const STORE_KEY = "hypelua.playground.code";

function b64url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function unb64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
async function pipeBytes(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}
/** The fragment of a share link: `code=<base64url>` of the UTF-8 text, deflated when the
 * browser has CompressionStream (then `&z=deflate-raw` says so). */
async function encodeShare(text) {
  let bytes = new TextEncoder().encode(text);
  const params = new URLSearchParams();
  if (typeof CompressionStream === "function") {
    params.set("code", b64url(await pipeBytes(bytes, new CompressionStream("deflate-raw"))));
    params.set("z", "deflate-raw");
  } else {
    params.set("code", b64url(bytes));
  }
  return params.toString();
}
/** The code a fragment carries, or null. */
async function decodeShare(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const data = params.get("code");
  if (data == null) return null;
  let bytes = unb64url(data);
  const z = params.get("z");
  if (z) bytes = await pipeBytes(bytes, new DecompressionStream(z));
  return new TextDecoder().decode(bytes);
}

let sharedCode = null;
try { sharedCode = await decodeShare(location.hash); } catch (e) {
  console.warn("playground: the link's #code= does not decode", e);
}
let fromLink = sharedCode != null;   // the buffer is the link's until it is edited
let saveTimer = 0;
function saveBuffer() {
  clearTimeout(saveTimer);
  localStorage.setItem(STORE_KEY, editor.getCode());
}
const editor = createEditor($("#editor"), {
  doc: sharedCode ?? localStorage.getItem(STORE_KEY) ?? MEMORY_EXAMPLE,
  onRun: () => runCode(),
  onChange: () => {
    if (fromLink) {   // an edited shared buffer is the user's own: drop the fragment, keep it stored
      fromLink = false;
      history.replaceState(null, "", location.pathname + location.search);
    }
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveBuffer, 300);
  },
});
addEventListener("pagehide", () => { if (!fromLink) saveBuffer(); });
addEventListener("hashchange", async () => {
  let text = null;
  try { text = await decodeShare(location.hash); } catch { return; }
  if (text == null || text === editor.getCode()) return;
  editor.setCode(text);
  fromLink = true;
});

$("#share").addEventListener("click", async () => {
  const fragment = await encodeShare(editor.getCode());
  const url = location.origin + location.pathname + location.search + "#" + fragment;
  history.replaceState(null, "", url);
  fromLink = true;
  const box = $("#share-link");
  box.value = url;
  box.hidden = false;
  try {
    await navigator.clipboard.writeText(url);
    box.title = "copied to the clipboard";
    append(el("div", "entry info", `share link copied (${url.length} characters)`));
  } catch {
    box.select();
    append(el("div", "entry info", "share link in the address bar and the box above (copy it from there)"));
  }
});

// (tests and scripts) window.playground.setCode(text) / getCode()
window.playground = {
  getCode: () => editor.getCode(),
  setCode: (text) => editor.setCode(text),
  editor,
};

// ---------- output ----------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
function append(node) {
  output.appendChild(node);
  output.scrollTop = output.scrollHeight;
}
function show(value) {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value);
  return JSON.stringify(value, null, 2);
}
function printLine(line) { append(el("div", "entry print", line)); }
function showError(err) {
  const box = el("div", "entry error");
  box.appendChild(el("span", "code", err.code || "ERROR"));
  box.appendChild(el("span", "message", err.message));
  if (err.suggestion) box.appendChild(el("div", "suggestion", "→ " + err.suggestion));
  const tb = err.details && (err.details.traceback || err.details.stack);
  if (tb) {
    const d = el("details");
    d.appendChild(el("summary", null, "details"));
    d.appendChild(el("pre", null, tb));
    box.appendChild(d);
  }
  append(box);
}
$("#clear").addEventListener("click", () => { output.textContent = ""; });

// ---------- external tables ----------
// Accepts [{name, entries:[{key, kind, size}]}] or {name: [...entries]} / {name: {entries}}.
function normalizeTables(v) {
  const list = [];
  const entriesOf = (t) => {
    const raw = Array.isArray(t) ? t : (t && (t.entries ?? t.keys ?? t.rows)) ?? [];
    if (Array.isArray(raw)) return raw.map((e) => (typeof e === "object" && e !== null ? e : { key: e }));
    return Object.entries(raw).map(([key, info]) => ({ key, ...(typeof info === "object" ? info : { kind: info }) }));
  };
  if (Array.isArray(v)) {
    for (const t of v) list.push({ name: t.name ?? t.table ?? "?", entries: entriesOf(t) });
  } else if (v && typeof v === "object") {
    for (const [name, t] of Object.entries(v)) list.push({ name, entries: entriesOf(t) });
  }
  return list;
}
function fmtSize(n) {
  if (n == null) return "";
  if (n < 1024) return `${n} B`;
  return `${(n / 1024).toFixed(1)} KB`;
}
const PAGE_SIZE = 50;
const tablePages = new Map();   // table name -> offset of the page shown
let lastTables = null;

/** "rows a–b of N" with previous / next buttons; go(offset) shows another page. */
function pager(offset, size, count, total, go, data = {}) {
  const box = el("div", "pager");
  Object.assign(box.dataset, data);
  const prev = el("button", "secondary small prev", "‹ previous");
  prev.type = "button";
  prev.disabled = offset <= 0;
  prev.addEventListener("click", () => go(Math.max(0, offset - size)));
  const next = el("button", "secondary small next", "next ›");
  next.type = "button";
  next.disabled = total != null ? offset + count >= total : count < size;
  next.addEventListener("click", () => go(offset + size));
  const range = el("span", "range muted",
    count ? `rows ${offset + 1}–${offset + count}${total != null ? ` of ${total}` : ""}` : `no rows${total != null ? ` of ${total}` : ""}`);
  box.append(prev, range, next);
  return box;
}
function renderTablesAgain() { if (lastTables) refreshTables(lastTables); }

async function refreshTables(cached) {
  const box = $("#tables");
  let tables;
  try {
    tables = cached ?? normalizeTables(await hype.tables());
  } catch (e) {
    box.replaceChildren(el("p", "muted", `tables(): ${e.code ?? ""} ${e.message}`));
    return;
  }
  if (!tables.length) {
    box.replaceChildren(el("p", "muted", "No entries yet. Try Memory.x = 1 or storage.table(\"notes\").a = {1, 2}."));
    return;
  }
  lastTables = tables;
  const frag = document.createDocumentFragment();
  for (const t of tables) {
    frag.appendChild(el("div", "table-name", `${t.name} (${t.entries.length})`));
    // large tables page by PAGE_SIZE rows
    const n = t.entries.length;
    let offset = Math.min(tablePages.get(t.name) ?? 0, Math.max(0, Math.floor((n - 1) / PAGE_SIZE) * PAGE_SIZE));
    tablePages.set(t.name, offset);
    const tbl = el("table");
    tbl.dataset.table = t.name;
    for (const e of t.entries.slice(offset, offset + PAGE_SIZE)) {
      const tr = el("tr");
      tr.dataset.table = t.name;
      tr.dataset.key = String(e.key);
      tr.appendChild(el("td", "key", typeof e.key === "number" ? `[${e.key}]` : String(e.key)));
      const kind = e.kind ?? e.type ?? (e.function ? "function" : "data");
      const td = el("td");
      td.appendChild(el("span", `badge ${kind}`, kind));
      if (e.compressed) td.appendChild(el("span", "badge", "zlib"));
      tr.appendChild(td);
      tr.appendChild(el("td", "size", fmtSize(e.size ?? e.bytes)));
      const del = el("button", "link", "✕");
      del.type = "button";
      del.title = `delete ${t.name}[${e.key}]`;
      del.addEventListener("click", async () => {
        try { await hype.deleteEntry(t.name, e.key); } catch (err) { showError(err); }
        refreshTables();
      });
      const tdDel = el("td");
      tdDel.appendChild(del);
      tr.appendChild(tdDel);
      tbl.appendChild(tr);
    }
    frag.appendChild(tbl);
    if (n > PAGE_SIZE) {
      frag.appendChild(pager(offset, PAGE_SIZE, t.entries.slice(offset, offset + PAGE_SIZE).length, n, (to) => {
        tablePages.set(t.name, to);
        renderTablesAgain();
      }, { table: t.name }));
    }
  }
  box.replaceChildren(frag);
  if (!cached) await refreshStorage(tables.map((t) => t.name));
}
$("#refresh").addEventListener("click", () => hype && refreshTables());

// ---------- run / persist ----------
let hype = null;
let busy = false;

async function runCode() {
  if (!hype || busy) return;
  busy = true;
  runBtn.disabled = true;
  if (!fromLink) saveBuffer();
  append(el("div", "entry src", `▶ run (${new Date().toLocaleTimeString()})`));
  const t = performance.now();
  try {
    const values = await hype.run(editor.getCode());
    const dt = (performance.now() - t).toFixed(1);
    if (values && values.length) append(el("div", "entry value", values.map(show).join(", ")));
    append(el("div", "entry info", `done in ${dt} ms`));
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
    runBtn.disabled = false;
  }
  await refreshProcesses();
  await refreshTables();
}
runBtn.addEventListener("click", runCode);

$("#persist").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!hype) return;
  const f = ev.target;
  const table = f.table.value.trim();
  const key = f.key.value.trim();
  persistBtn.disabled = true;
  try {
    await hype.persistFunction(table, key, f.code.value, { compress: f.compress.checked });
    append(el("div", "entry info", `persisted ${table}.${key}`));
  } catch (e) {
    showError(e);
  } finally {
    persistBtn.disabled = false;
  }
  await refreshTables();
});

// ---------- indices & queries ----------
const stTable = $("#st-table");
let lastQuery = null;

function parseValue(text) {
  const t = text.trim();
  if (t === "") return null;
  try { return JSON.parse(t); } catch { return t; }
}

async function refreshStorage(names) {
  if (!hype) return;
  const current = stTable.value;
  if (names) {
    stTable.replaceChildren(...names.map((n) => { const o = el("option", null, n); o.value = n; return o; }));
    if (names.includes(current)) stTable.value = current;
  }
  const table = stTable.value;
  const box = $("#st-indexes");
  if (!table) { box.replaceChildren(el("p", "muted", "no tables yet")); return; }
  let list;
  try { list = await hype.indexes(table); } catch (e) { box.replaceChildren(el("p", "muted", `${e.code}: ${e.message}`)); return; }
  if (!list.length) { box.replaceChildren(el("p", "muted", `no indices on ${table}`)); return; }
  const ul = el("ul", "index-list");
  for (const ix of list) {
    const li = el("li");
    li.dataset.index = ix.name;
    li.appendChild(el("code", null, ix.name));
    if (ix.unique) li.appendChild(el("span", "badge", "unique"));
    const drop = el("button", "link", "✕");
    drop.type = "button";
    drop.title = `drop index ${ix.name}`;
    drop.addEventListener("click", async () => {
      try { await hype.dropIndex(table, ix.name); } catch (err) { showError(err); }
      refreshStorage();
    });
    li.appendChild(drop);
    ul.appendChild(li);
  }
  box.replaceChildren(ul);
}
stTable.addEventListener("change", () => refreshStorage());

$("#st-index-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const fields = f.fields.value.split(",").map((x) => x.trim()).filter(Boolean);
  try {
    const name = await hype.createIndex(stTable.value, fields.length === 1 ? fields[0] : fields, "btree", { unique: f.unique.checked });
    append(el("div", "entry info", `index ${name} on ${stTable.value}`));
  } catch (e) { showError(e); }
  refreshStorage();
});

function renderResults(rows, plan, append_ = false) {
  const box = $("#st-results");
  $("#st-plan").textContent = plan ? `plan: ${plan.plan}${plan.index ? ` via ${plan.index}` : ""} · ${rows.length} row(s)${rows.cursor ? " · more…" : ""}` : "";
  const tbl = append_ && box.querySelector("table") ? box.querySelector("table") : el("table");
  for (const r of rows) {
    const tr = el("tr");
    tr.dataset.key = String(r.key);
    tr.appendChild(el("td", "key", typeof r.key === "number" ? `[${r.key}]` : String(r.key)));
    tr.appendChild(el("td", "value", JSON.stringify(r.value)));
    tbl.appendChild(tr);
  }
  const nodes = [tbl];
  if (rows.cursor) {
    const more = el("button", "secondary small", "next page");
    more.type = "button";
    more.id = "st-next";
    more.addEventListener("click", async () => {
      try {
        const page = await hype.queryTable(stTable.value, { ...lastQuery, cursor: rows.cursor });
        renderResults(page, plan, true);
      } catch (e) { showError(e); }
    });
    nodes.push(more);
  }
  box.replaceChildren(...nodes);
}

/** Browse the selected table, PAGE_SIZE rows a page (queryTable with limit/offset; N from stats()). */
async function browseTable(offset = 0) {
  if (!hype || !stTable.value) return;
  const table = stTable.value;
  try {
    const [rows, stats] = await Promise.all([
      hype.queryTable(table, { limit: PAGE_SIZE, offset }),
      hype.stats().catch(() => null),
    ]);
    const total = stats?.tables?.[table]?.rows ?? null;
    rows.cursor = null;   // (the pager pages; no query "next page")
    renderResults(rows, null);
    $("#st-plan").textContent = `browse ${table} (key order)`;
    $("#st-results").appendChild(pager(offset, PAGE_SIZE, rows.length, total, browseTable, { table }));
  } catch (e) {
    showError(e);
  }
}
$("#st-browse").addEventListener("click", () => browseTable(0));

$("#st-query-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const q = {};
  if (f.field.value.trim()) Object.assign(q, { field: f.field.value.trim(), operator: f.operator.value, value: parseValue(f.value.value) });
  if (f.limit.value !== "") q.limit = Number(f.limit.value);
  if (f.order.value) q.order = f.order.value;
  lastQuery = q;
  try {
    const [rows, plan] = await Promise.all([hype.queryTable(stTable.value, q), hype.explain(stTable.value, q)]);
    renderResults(rows, plan);
  } catch (e) {
    $("#st-plan").textContent = "";
    $("#st-results").replaceChildren();
    showError(e);
  }
});

// ---------- project files & tests ----------
const fileList = $("#file-list");
const filePath = $("#file-path");
const fileButtons = ["#file-save", "#file-run", "#run-tests"];

async function refreshFiles() {
  if (!hype) return;
  let files;
  try { files = await hype.listFiles("."); } catch (e) { fileList.replaceChildren(el("li", "muted", `${e.code}: ${e.message}`)); return; }
  if (!files.length) { fileList.replaceChildren(el("li", "muted", "no files yet: type a path and Save")); return; }
  const items = files.map((f) => {
    const li = el("li", f.type, f.type === "dir" ? `${f.path}/` : f.path);
    li.dataset.path = f.path;
    if (f.type === "file") {
      li.appendChild(el("span", "size", fmtSize(f.size)));
      if (f.path === filePath.value) li.classList.add("open");
      li.addEventListener("click", () => openFile(f.path));
    }
    return li;
  });
  fileList.replaceChildren(...items);
}

async function openFile(path) {
  try {
    editor.setCode(await hype.readFile(path));
    filePath.value = path;
    for (const li of fileList.querySelectorAll("li")) li.classList.toggle("open", li.dataset.path === path);
    append(el("div", "entry info", `opened ${path}`));
  } catch (e) { showError(e); }
}

$("#file-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!hype) return;
  const path = filePath.value.trim();
  try {
    const r = await hype.writeFile(path, editor.getCode());
    append(el("div", "entry info", `saved ${r.path} (${fmtSize(r.size)})`));
  } catch (e) { showError(e); }
  await refreshFiles();
});

$("#file-run").addEventListener("click", async () => {
  if (!hype || busy) return;
  const path = filePath.value.trim();
  busy = true;
  append(el("div", "entry src", `▶ runFile ${path}`));
  try {
    await hype.writeFile(path, editor.getCode());
    const values = await hype.runFile(path);
    if (values && values.length) append(el("div", "entry value", values.map(show).join(", ")));
  } catch (e) { showError(e); } finally { busy = false; }
  await refreshFiles();
  await refreshTables();
});

/** Run the project's specs (or `paths`); resolves with the summary, null on an error. */
async function runTests(paths) {
  if (!hype) return null;
  const box = $("#test-results");
  const summaryEl = $("#test-summary");
  summaryEl.textContent = "running…";
  box.replaceChildren();
  try {
    const { results, summary } = await (paths ? hype.runTests(paths) : hype.runTests());
    for (const r of results) {
      const li = el("li", r.status, `${r.file}: ${r.full_name}`);
      li.dataset.status = r.status;
      if (r.message) li.appendChild(el("span", "message", r.message));
      box.appendChild(li);
    }
    summaryEl.textContent = `${summary.passed} passed, ${summary.failed} failed` +
      (summary.pending ? `, ${summary.pending} pending` : "") + `, ${summary.total} total`;
    summaryEl.className = summary.failed ? "failed" : "passed";
    return summary;
  } catch (e) {
    summaryEl.textContent = `${e.code}`;
    showError(e);
    return null;
  }
}
$("#run-tests").addEventListener("click", () => runTests());
$("#files-refresh").addEventListener("click", refreshFiles);

// ---------- HTTP panel: the editor's code as a hype.http app, requests via hype.fetch ----------
const httpStatus = $("#http-status");

function showBody(bytes, type) {
  if (!bytes.length) return "(empty body)";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (/json/.test(type)) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as text */ }
  }
  if (/^(text\/|application\/(json|javascript|xml))/.test(type) || !text.includes("\ufffd")) return text;
  const hex = [...bytes.subarray(0, 64)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${bytes.length} bytes: ${hex}${bytes.length > 64 ? " …" : ""}`;
}

$("#http-example").addEventListener("click", () => {
  editor.setCode(HTTP_EXAMPLE);
});

$("#http-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sendHttp();
});
/** Load the buffer as the app, send the panel's request; resolves with the status (null on an error). */
async function sendHttp() {
  if (!hype) return null;
  const method = $("#http-method").value;
  const path = $("#http-path").value.trim() || "/";
  const bodyText = $("#http-body").value;
  const init = { method, headers: {} };
  if (bodyText && method !== "GET" && method !== "HEAD") {
    init.body = bodyText;
    try { JSON.parse(bodyText); init.headers["content-type"] = "application/json"; } catch {
      init.headers["content-type"] = "text/plain; charset=utf-8";
    }
  }
  const sendBtn = $("#http-send");
  sendBtn.disabled = true;
  httpStatus.className = "muted";
  httpStatus.textContent = "…";
  $("#http-headers").textContent = "";
  $("#http-response").textContent = "";
  if (!fromLink) saveBuffer();
  try {
    await hype.loadApp({ source: editor.getCode(), chunkname: "=playground" });
    const t = performance.now();
    const response = await hype.fetch(new URL(path, location.origin).href, init);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const dt = (performance.now() - t).toFixed(1);
    httpStatus.className = response.ok ? "ok" : "err";
    httpStatus.textContent = `${response.status} · ${dt} ms`;
    $("#http-headers").textContent = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
    $("#http-response").textContent = showBody(bytes, response.headers.get("content-type") ?? "");
    return response.status;
  } catch (e) {
    httpStatus.className = "err";
    httpStatus.textContent = e.code ?? "error";
    showError(e);
    return null;
  } finally {
    sendBtn.disabled = false;
  }
}

// ---------- examples gallery ----------
const examplesSel = $("#examples");
const exampleHint = $("#example-hint");
const exampleRun = $("#example-run");
const liveRoot = $("#live-root");
let currentExample = null;
let liveConn = null;
for (const ex of EXAMPLES) {
  const o = el("option", null, ex.title);
  o.value = ex.id;
  examplesSel.appendChild(o);
}
examplesSel.addEventListener("change", async () => {
  const ex = EXAMPLES.find((x) => x.id === examplesSel.value);
  currentExample = ex ?? null;
  exampleHint.textContent = ex ? ex.hint : "";
  exampleRun.hidden = !ex;
  if (!ex) return;
  editor.setCode(ex.code);
  saveBuffer();
  if (ex.path) filePath.value = ex.path;
  if (ex.files && hype) {
    for (const [path, text] of Object.entries(ex.files)) {
      try { await hype.writeFile(path, text); } catch (e) { showError(e); }
    }
    append(el("div", "entry info", `example files saved: ${Object.keys(ex.files).join(", ")}`));
    await refreshFiles();
  }
});

/** "Run example": what the selected example needs (a run, an HTTP request, its tests, a mount). */
async function runExample() {
  const ex = currentExample;
  if (!ex || !hype) return;
  if (ex.files) {   // (selected before the worker was ready)
    for (const [path, text] of Object.entries(ex.files)) await hype.writeFile(path, text);
  }
  if (ex.action === "run") return runCode();
  if (ex.action === "http") {
    $("#http-method").value = ex.request.method;
    $("#http-path").value = ex.request.path;
    const status = await sendHttp();
    if (status != null) {
      append(el("div", "entry info", `HTTP ${ex.request.method} ${ex.request.path} → ${status} (HTTP panel)`));
    }
    return;
  }
  if (ex.action === "tests") {
    try {
      await hype.writeFile(ex.path, editor.getCode());
    } catch (e) { showError(e); return; }
    await refreshFiles();
    const summary = await runTests([ex.path]);
    if (summary) {
      append(el("div", summary.failed ? "entry error" : "entry info",
        `tests ${ex.path}: ${summary.passed} passed, ${summary.failed} failed (Files panel)`));
    }
    return;
  }
  if (ex.action === "live") {
    if (liveConn) { liveConn.close(); liveConn = null; }
    liveRoot.replaceChildren();
    $("#live-pane").hidden = false;
    try {
      await hype.writeFile(ex.path, editor.getCode());
      liveConn = await hype.mountLive(liveRoot, ex.path);
      append(el("div", "entry info", `LiveView ${ex.path} mounted below`));
    } catch (e) { showError(e); }
    await refreshFiles();
  }
}
exampleRun.addEventListener("click", runExample);
$("#live-close").addEventListener("click", () => {
  if (liveConn) { liveConn.close(); liveConn = null; }
  liveRoot.replaceChildren();
  $("#live-pane").hidden = true;
});

// ---------- processes (hype.actor, like Erlang's observer) ----------
const procPanel = $("#processes");
const procBody = $("#proc-body");
const procCount = $("#proc-count");
let procRows = [];
let procSort = { key: "pid", desc: false };
let procSelected = null;   // pid string of the selected row
let procInFlight = false;

function pidNumber(pid) {
  const m = /^<(\d+)\.(\d+)\.(\d+)>$/.exec(pid ?? "");
  return m ? Number(m[1]) * 1e9 + Number(m[2]) : 0;
}
function fmtBytes(n) {
  if (n == null) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
function renderProcesses() {
  procCount.textContent = procRows.length ? `(${procRows.length})` : "";
  for (const th of document.querySelectorAll("#proc-table th")) {
    th.classList.toggle("sorted", th.dataset.key === procSort.key);
    th.classList.toggle("asc", th.dataset.key === procSort.key && !procSort.desc);
  }
  if (!procRows.length) {
    const tr = el("tr", "empty");
    const td = el("td", "muted", "no processes");
    td.colSpan = 7;
    tr.appendChild(td);
    procBody.replaceChildren(tr);
    return;
  }
  const { key, desc } = procSort;
  const val = (r) => (key === "pid" ? pidNumber(r.pid) : key === "links" ? r.links.length : r[key] ?? "");
  const rows = [...procRows].sort((a, b) => {
    const x = val(a), y = val(b);
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return (desc ? -c : c) || pidNumber(a.pid) - pidNumber(b.pid);
  });
  const selected = procRows.find((r) => r.pid === procSelected);
  if (!selected) procSelected = null;
  const linked = new Set(selected ? selected.links : []);
  procBody.replaceChildren(...rows.map((r) => {
    const tr = el("tr");
    tr.dataset.pid = r.pid;
    if (r.pid === procSelected) tr.classList.add("selected");
    else if (linked.has(r.pid)) tr.classList.add("linked");
    tr.appendChild(el("td", "pid", r.pid));
    tr.appendChild(el("td", "name", r.name ?? ""));
    tr.appendChild(el("td", `status status-${r.status}`, r.status));
    tr.appendChild(el("td", "num mailbox", String(r.mailbox)));
    tr.appendChild(el("td", "num reductions", String(r.reductions)));
    tr.appendChild(el("td", "num memory", fmtBytes(r.memory)));
    tr.appendChild(el("td", "links", r.links.join(" ")));
    tr.title = `${r.kind ?? ""} process · ${r.monitors} monitor(s)`;
    tr.addEventListener("click", () => {
      procSelected = procSelected === r.pid ? null : r.pid;
      renderProcesses();
    });
    return tr;
  }));
}
for (const th of document.querySelectorAll("#proc-table th")) {
  th.addEventListener("click", () => {
    const k = th.dataset.key;
    // numbers sort largest first on the first click
    procSort = procSort.key === k ? { key: k, desc: !procSort.desc }
      : { key: k, desc: ["mailbox", "reductions", "memory", "links"].includes(k) };
    renderProcesses();
  });
}
async function refreshProcesses() {
  // (the worker answers it out of turn during a run; one poll at a time)
  if (!hype || procInFlight) return;
  procInFlight = true;
  try {
    procRows = await hype.actors.processes();
  } catch (e) {
    procRows = [];
    procCount.textContent = `(${e.code ?? "error"})`;
    return;
  } finally {
    procInFlight = false;
  }
  renderProcesses();
}
setInterval(() => {
  if (procPanel.open && document.visibilityState === "visible") refreshProcesses();
}, 500);
procPanel.addEventListener("toggle", () => { if (procPanel.open) refreshProcesses(); });

// ---------- boot ----------
const bootStart = performance.now();
const phaseNames = { start: "worker started", pyodide: "Pyodide loaded", wheels: "wheels installed", core: "hypelua imported", project: "project files loaded", host: "Lua VM + storage ready" };
statusEl.textContent = "loading Pyodide…";
const timer = setInterval(() => {
  if (!hype) statusEl.dataset.elapsed = ((performance.now() - bootStart) / 1000).toFixed(1);
}, 100);

window.Hype = Hype;
window.HypeError = HypeError;
window.hypeReady = Hype.load({
  baseUrl: new URL("../", import.meta.url).href,
  database: params.get("db") || "playground",
  registry: params.get("registry") || undefined, // ?registry=URL: default of hype.install()
  sandbox: params.get("sandbox") === "1", // ?sandbox=1: run the editor's code as untrusted (README "Sandbox")
  stdout: printLine,
  stderr: (line) => append(el("div", "entry error", line)),
  onStatus: ({ phase, ms }) => {
    statusEl.textContent = `${phaseNames[phase] ?? phase} · ${(ms / 1000).toFixed(2)} s`;
  },
}).then(async (h) => {
  hype = h;
  window.hype = h;
  clearInterval(timer);
  const total = ((performance.now() - bootStart) / 1000).toFixed(2);
  statusEl.className = "status ready";
  statusEl.textContent = `ready in ${total} s`;
  statusEl.title = JSON.stringify(h.timings);
  runBtn.disabled = false;
  persistBtn.disabled = false;
  $("#st-index-btn").disabled = false;
  $("#st-query-btn").disabled = false;
  $("#st-browse").disabled = false;
  exampleRun.disabled = false;
  for (const b of fileButtons) $(b).disabled = false;
  $("#http-send").disabled = false;
  await refreshFiles();
  await refreshTables();
  return h;
}, (e) => {
  clearInterval(timer);
  statusEl.className = "status error";
  statusEl.textContent = `failed: ${e.code ?? ""}`;
  showError(e);
  throw e;
});
window.hypeReady.catch(() => {});
