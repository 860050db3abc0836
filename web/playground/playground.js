// hypelua playground: editor, output, external tables, persist-function form, HTTP panel.
import { Hype, HypeError } from "../hypelua.mjs";

const EXAMPLE = `-- hypelua playground: Lua 5.4 in a Web Worker (Pyodide), Ctrl+Enter runs.
-- Functions stored in external tables persist in IndexedDB across reloads
-- (the PRD example: persistFunction('Memory', 'calculate', ...)).

Memory.calculate = function(x, y)
  return x * y + math.sin(x)
end

print("Memory.calculate(5, 3) =", Memory.calculate(5, 3))
return Memory.calculate(5, 3), _VERSION
`;

// The "Actors" example (issue 11): see the Processes panel while it runs.
const ACTORS_EXAMPLE = `-- Actors (issue 11): Erlang-style processes in the worker. Watch the Processes panel.
-- A supervisor with two gen_server workers and a process that crashes every second
-- (restarted: a new pid each time), and a ping-pong pair, for ~10 s.
-- The run returns at once and the processes live on in the worker: they wait on an
-- unref'd timer (actor.sleep's timer would hold the run, and the worker answers one
-- request at a time, so the panel could only look after they all ended).
local actor = require("hype.actor")

local naps = 0
local function nap(ms)  -- actor.sleep(ms) on an unref'd timer
  naps = naps + 1
  local n = naps   -- (messages are copies: match a number, not a table)
  actor.send_after(actor.self(), { "wake", n }, ms):unref()
  actor.receive(function(m) return type(m) == "table" and m[1] == "wake" and m[2] == n end)
end

-- a gen_server worker counting the jobs cast to it
local counter = actor.server{
  init = function(name) return { name = name, jobs = 0 } end,
  handle_cast = function(job, s) s.jobs = s.jobs + job; return "noreply", s end,
  handle_call = function(req, from, s) return "reply", s.jobs, s end,
}

-- crashes on its first message; its supervisor restarts it
local function crasher()
  actor.register("crasher", actor.self())
  local msg = actor.receive()
  error("crasher: got " .. tostring(msg) .. ", crashing on purpose")
end

local sup = actor.supervisor{
  strategy = "one_for_one", intensity = 30, period = 10,
  children = {
    { id = "worker_a", start = { counter, "start_link", "a" } },
    { id = "worker_b", start = { counter, "start_link", "b" } },
    { id = "crasher", start = { fn = crasher } },
  },
}
local sup_pid = assert(sup:start())
actor.register("sup", sup_pid)

-- ping-pong: a rally of n hits each time it is served
local function player(name)
  actor.register(name, actor.self())
  while true do
    local m = actor.receive()
    if m == "stop" then return end
    local _, from, n = m[1], m[2], m[3]
    if n > 0 then actor.send(from, { "ball", actor.self(), n - 1 }) end
  end
end
local ping = actor.spawn(player, "ping")
local pong = actor.spawn(function()
  actor.link(ping)
  player("pong")
end)

actor.spawn(function()
  actor.register("clock", actor.self())
  for tick = 1, 10 do
    nap(1000)
    actor.send(ping, { "ball", pong, 2000 })
    for _, c in ipairs(actor.which_children(sup_pid)) do
      if c.id ~= "crasher" and c.pid then actor.cast(c.pid, tick) end
    end
    local old = actor.whereis("crasher")
    if old then actor.send(old, "boom") end
    nap(50)
    print(("tick %2d: crasher %s -> %s, worker_a did %d jobs"):format(tick, tostring(old),
      tostring(actor.whereis("crasher")), actor.call(actor.which_children(sup_pid)[1].pid, "jobs")))
  end
  actor.exit(sup_pid, "kill")   -- its children are linked to it: they go too
  actor.send(ping, "stop")
  actor.send(pong, "stop")
  print("done: stopped the supervisor and the ping-pong pair")
end)

print("started: supervisor " .. tostring(sup_pid) .. ", ping " .. tostring(ping) .. ", pong " .. tostring(pong))

`;

const $ = (sel) => document.querySelector(sel);
const code = $("#code");
const gutter = $("#gutter");
const output = $("#output");
const statusEl = $("#status");
const runBtn = $("#run");
const persistBtn = $("#persist-btn");
const params = new URLSearchParams(location.search);

// ---------- editor: line numbers, Tab / Shift+Tab, Ctrl+Enter ----------
function updateGutter() {
  const n = code.value.split("\n").length;
  let s = "";
  for (let i = 1; i <= n; i++) s += i + "\n";
  gutter.textContent = s;
  gutter.scrollTop = code.scrollTop;
}
code.addEventListener("input", updateGutter);
code.addEventListener("scroll", () => { gutter.scrollTop = code.scrollTop; });
code.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    runCode();
    return;
  }
  if (ev.key !== "Tab") return;
  ev.preventDefault();
  const { selectionStart: s, selectionEnd: e, value } = code;
  const lineStart = value.lastIndexOf("\n", s - 1) + 1;
  if (ev.shiftKey || s !== e) {
    // (un)indent every selected line
    const block = value.slice(lineStart, e);
    const lines = block.split("\n");
    const changed = ev.shiftKey ? lines.map((l) => l.replace(/^ {1,2}/, "")) : lines.map((l) => "  " + l);
    const text = changed.join("\n");
    code.setRangeText(text, lineStart, e, "preserve");
    code.selectionStart = ev.shiftKey ? Math.max(lineStart, s - (lines[0].length - changed[0].length)) : s + 2;
    code.selectionEnd = lineStart + text.length;
  } else {
    code.setRangeText("  ", s, e, "end");
  }
  updateGutter();
});
code.value = localStorage.getItem("hypelua.playground.code") ?? EXAMPLE;
updateGutter();

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
async function refreshTables() {
  const box = $("#tables");
  let tables;
  try {
    tables = normalizeTables(await hype.tables());
  } catch (e) {
    box.replaceChildren(el("p", "muted", `tables(): ${e.code ?? ""} ${e.message}`));
    return;
  }
  if (!tables.length) {
    box.replaceChildren(el("p", "muted", "No entries yet. Try Memory.x = 1 or storage.table(\"notes\").a = {1, 2}."));
    return;
  }
  const frag = document.createDocumentFragment();
  for (const t of tables) {
    frag.appendChild(el("div", "table-name", `${t.name} (${t.entries.length})`));
    const tbl = el("table");
    for (const e of t.entries) {
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
  }
  box.replaceChildren(frag);
  await refreshStorage(tables.map((t) => t.name));
}
$("#refresh").addEventListener("click", () => hype && refreshTables());

// ---------- run / persist ----------
let hype = null;
let busy = false;

async function runCode() {
  if (!hype || busy) return;
  busy = true;
  runBtn.disabled = true;
  localStorage.setItem("hypelua.playground.code", code.value);
  append(el("div", "entry src", `▶ run (${new Date().toLocaleTimeString()})`));
  const t = performance.now();
  try {
    const values = await hype.run(code.value);
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
    code.value = await hype.readFile(path);
    filePath.value = path;
    updateGutter();
    for (const li of fileList.querySelectorAll("li")) li.classList.toggle("open", li.dataset.path === path);
    append(el("div", "entry info", `opened ${path}`));
  } catch (e) { showError(e); }
}

$("#file-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!hype) return;
  const path = filePath.value.trim();
  try {
    const r = await hype.writeFile(path, code.value);
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
    await hype.writeFile(path, code.value);
    const values = await hype.runFile(path);
    if (values && values.length) append(el("div", "entry value", values.map(show).join(", ")));
  } catch (e) { showError(e); } finally { busy = false; }
  await refreshFiles();
  await refreshTables();
});

$("#run-tests").addEventListener("click", async () => {
  if (!hype) return;
  const box = $("#test-results");
  const summaryEl = $("#test-summary");
  summaryEl.textContent = "running…";
  box.replaceChildren();
  try {
    const { results, summary } = await hype.runTests();
    for (const r of results) {
      const li = el("li", r.status, `${r.file}: ${r.full_name}`);
      li.dataset.status = r.status;
      if (r.message) li.appendChild(el("span", "message", r.message));
      box.appendChild(li);
    }
    summaryEl.textContent = `${summary.passed} passed, ${summary.failed} failed` +
      (summary.pending ? `, ${summary.pending} pending` : "") + `, ${summary.total} total`;
    summaryEl.className = summary.failed ? "failed" : "passed";
  } catch (e) {
    summaryEl.textContent = `${e.code}`;
    showError(e);
  }
});
$("#files-refresh").addEventListener("click", refreshFiles);

// ---------- HTTP panel: the editor's code as a hype.http app, requests via hype.fetch ----------
const HTTP_EXAMPLE = `-- An Express-like app (hype serve app.lua runs it on a server);
-- the HTTP panel loads this buffer into the worker and sends requests with hype.fetch.
local app = require("hype.http").app()

app:get("/users/:id", function(req, res)
  res:json({ id = req.params.id, q = req.query.q })
end)

app:post("/echo", function(req, res)
  res:status(201):json(req:json())
end)

return app
`;
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
  code.value = HTTP_EXAMPLE;
  updateGutter();
});

$("#http-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!hype) return;
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
  localStorage.setItem("hypelua.playground.code", code.value);
  try {
    await hype.loadApp({ source: code.value, chunkname: "=playground" });
    const t = performance.now();
    const response = await hype.fetch(new URL(path, location.origin).href, init);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const dt = (performance.now() - t).toFixed(1);
    httpStatus.className = response.ok ? "ok" : "err";
    httpStatus.textContent = `${response.status} · ${dt} ms`;
    $("#http-headers").textContent = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
    $("#http-response").textContent = showBody(bytes, response.headers.get("content-type") ?? "");
  } catch (e) {
    httpStatus.className = "err";
    httpStatus.textContent = e.code ?? "error";
    showError(e);
  } finally {
    sendBtn.disabled = false;
  }
});

// ---------- examples ----------
const EXAMPLES = { memory: EXAMPLE, actors: ACTORS_EXAMPLE, http: HTTP_EXAMPLE };
$("#examples").addEventListener("change", (ev) => {
  const text = EXAMPLES[ev.target.value];
  if (text !== undefined) {
    code.value = text;
    updateGutter();
    localStorage.setItem("hypelua.playground.code", code.value);
  }
  ev.target.value = "";
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
