// hypelua LiveView connector (docs/live-protocol.md, protocol version 1).
//
//   const conn = new LiveConnection(rootEl, new WebSocketTransport("/_hype/live/ws"),
//                                   { path: "/", params: {}, session: token });
//   await conn.connect();        // join, render into rootEl, bind the hype-* directives
//
// One connection drives one root element: it keeps the rendered state (live-render.mjs),
// patches the root's children with morphdom, delegates DOM events (`hype-on:EVENT`,
// `hype-model`, `hype-patch` links) from the root, runs JS hooks (`hype-hook`) and
// reconnects with backoff (re-joining with the `hype-model` values, so what the user
// typed survives). Transports share one interface:
//   open() -> Promise (resolved when frames can flow; rejects when it cannot connect,
//             with `err.permanent = true` when retrying is pointless)
//   send(text), close() (no onclose for a close() we asked for),
//   onmessage(text) and onclose(info), set by the connection.

import morphdom from "morphdom";
import { LiveFormatError, applyDiff, toHtml } from "./live-render.mjs";

export { LiveFormatError, applyDiff, toHtml };

export const PROTOCOL_VERSION = 1;
/** The global hook registry: `HypeLive.hooks.Name = {mounted() {...}, ...}`. */
export const hooks = {};

const DEFAULTS = {
  heartbeatMs: 30_000,
  backoffMinMs: 100,
  backoffMaxMs: 5_000,
  modelDebounceMs: 150,
  defaultDebounceMs: 300,
};

const KEY_ALIASES = {
  enter: "enter", escape: "escape", esc: "escape", space: " ", spacebar: " ", tab: "tab",
  up: "arrowup", down: "arrowdown", left: "arrowleft", right: "arrowright",
  arrowup: "arrowup", arrowdown: "arrowdown", arrowleft: "arrowleft", arrowright: "arrowright",
  del: "delete", delete: "delete", backspace: "backspace", home: "home", end: "end",
  pageup: "pageup", pagedown: "pagedown",
};
/** Inputs whose model updates on `input` (debounced); the others on `change`. */
const TEXT_TYPES = new Set(["text", "search", "email", "url", "tel", "password", "number", ""]);
/** Events the root always listens to (directives besides `hype-on:*`). */
const BASE_EVENTS = ["input", "change", "submit", "click"];

/** An error reply, a refused join, or a lost connection: `{code, message, hint}`. */
export class LiveError extends Error {
  constructor(error) {
    const e = error && typeof error === "object" ? error : { message: String(error) };
    super(e.message ?? e.code ?? "LiveView error");
    this.name = "LiveError";
    this.code = e.code ?? "LIVE_ERROR";
    this.hint = e.hint ?? "";
    this.error = e;
  }
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function parseMs(text, fallback) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(String(text ?? "").trim());
  if (!m) return fallback;
  return Math.round(Number(m[1]) * (m[2] === "s" ? 1000 : 1));
}

const bindingCache = new Map();

/** `hype-on:keydown.enter.prevent` -> {event: "keydown", prevent, stop, debounce, throttle, keys}. */
export function parseBinding(attrName) {
  let b = bindingCache.get(attrName);
  if (b) return b;
  const parts = attrName.slice("hype-on:".length).split(".");
  b = { event: parts[0], prevent: false, stop: false, self: false, debounce: null, throttle: null, keys: [] };
  for (let i = 1; i < parts.length; i++) {
    const tok = parts[i].toLowerCase();
    if (tok === "prevent") b.prevent = true;
    else if (tok === "stop") b.stop = true;
    else if (tok === "self") b.self = true;
    else if (tok === "debounce" || tok === "throttle") {
      const ms = parseMs(parts[i + 1], null);
      if (ms !== null) i++;
      b[tok] = ms ?? DEFAULTS.defaultDebounceMs;
    } else if (tok) b.keys.push(KEY_ALIASES[tok] ?? tok);
  }
  if (bindingCache.size > 1000) bindingCache.clear();
  bindingCache.set(attrName, b);
  return b;
}

function keyMatches(binding, ev) {
  if (!binding.keys.length || !binding.event.startsWith("key")) return true;
  const key = String(ev.key ?? "").toLowerCase();
  return binding.keys.includes(key);
}

const isControl = (el) => el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");

function isTextLike(el) {
  if (el.tagName === "TEXTAREA") return true;
  return el.tagName === "INPUT" && TEXT_TYPES.has((el.getAttribute("type") ?? "").toLowerCase());
}

/** A form control's value for `{value}` payloads: checkbox -> checked, select-multiple -> array. */
function controlValue(el) {
  if (el.tagName === "INPUT" && el.type === "checkbox") return el.checked;
  if (el.tagName === "SELECT" && el.multiple) return [...el.selectedOptions].map((o) => o.value);
  return el.value;
}

/** A `hype-model` field's value: numbers for number/range inputs (null when empty). */
function modelValue(el) {
  if (el.tagName === "INPUT" && (el.type === "number" || el.type === "range")) {
    const n = el.valueAsNumber;
    return Number.isNaN(n) ? (el.value === "" ? null : el.value) : n;
  }
  return controlValue(el);
}

/** What the server rendered as a control's value (its attributes / text), as a string. */
function serverValue(el) {
  if (el.tagName === "INPUT") {
    const t = (el.getAttribute("type") ?? "").toLowerCase();
    if (t === "checkbox" || t === "radio") return el.hasAttribute("checked") ? "c1" : "c0";
    return "v" + (el.getAttribute("value") ?? "");
  }
  if (el.tagName === "TEXTAREA") return "t" + el.textContent;
  if (el.tagName === "SELECT") {
    return "s" + JSON.stringify([...el.querySelectorAll("option")].map((o) => o.hasAttribute("selected")));
  }
  return "";
}

/** Make `to` (the server's element) carry `from`'s current value, so morphdom leaves it. */
function keepUserValue(from, to) {
  if (from.tagName === "SELECT") {
    const chosen = new Set([...from.options].filter((o) => o.selected).map((o) => o.value));
    for (const o of to.querySelectorAll("option")) {
      if (chosen.has(o.value)) o.setAttribute("selected", "");
      else o.removeAttribute("selected");
    }
  } else if (from.tagName === "INPUT" && (from.type === "checkbox" || from.type === "radio")) {
    to.checked = from.checked;
  } else {
    to.value = from.value;
  }
}

/** A form's fields (FormData; repeated names -> arrays, files by name only). */
export function formObject(form, submitter = null) {
  let data;
  try {
    data = submitter ? new FormData(form, submitter) : new FormData(form);
  } catch {
    data = new FormData(form);
  }
  const out = {};
  for (const [name, raw] of data.entries()) {
    const value = typeof raw === "string" ? raw : raw?.name ?? "";
    if (Object.prototype.hasOwnProperty.call(out, name)) {
      out[name] = Array.isArray(out[name]) ? [...out[name], value] : [out[name], value];
    } else {
      out[name] = value;
    }
  }
  return out;
}

function backoffDelay(attempt, min, max) {
  const base = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** One LiveView mounted on one root element, over one transport. */
export class LiveConnection {
  /**
   * @param {Element} root the element whose children the view renders
   * @param {{open: () => Promise<void>, send: (text: string) => void, close: () => void}} transport
   * @param {{path?: string, params?: object, session?: string|null, hooks?: object, history?: boolean,
   *          heartbeatMs?: number, backoffMinMs?: number, backoffMaxMs?: number, modelDebounceMs?: number}} [options]
   *   history: follow the page URL (`popstate` sends `patch`); the auto-connected views do
   */
  constructor(root, transport, options = {}) {
    this.root = root;
    this.transport = transport;
    const loc = typeof location !== "undefined" ? location : null;
    this.path = options.path ?? (loc ? loc.pathname + loc.search : "/");
    this.params = options.params ?? {};
    this.session = options.session ?? null;
    this.hooks = options.hooks ?? {};
    this.history = Boolean(options.history);
    this.opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k]) => k in DEFAULTS)) };
    /** "idle" | "connecting" | "connected" | "disconnected" | "error" | "closed" */
    this.status = "idle";
    /** the rendered state (live-render.mjs) and its statics cache */
    this.state = null;
    this.statics = new Map();
    /** how many joins succeeded (1 after the first connect) */
    this.joins = 0;
    /** delays (ms) of the reconnects scheduled so far, for inspection */
    this.reconnectDelays = [];
    this._ref = 0;
    this._pending = new Map();
    this._attempt = 0;
    this._reconnectTimer = null;
    this._heartbeat = null;
    this._heartbeatRef = null;
    this._closed = false;
    this._listening = new Set();
    this._listeners = [];
    this._hooks = new Map(); // element -> hook instance
    this._loading = new Map(); // element -> Map(class -> count)
    this._locked = new Map(); // element -> {html, value, disabled, refs}
    this._timers = new Map(); // "debounce"/"throttle" per element+attribute
    this._models = new Map(); // element -> {timer, last}
    this._serverValues = new WeakMap(); // control -> the value the server last rendered
    this._resetFocus = false;
    this._focus = null;
    this._connected = null;
    this._doc = null;
    transport.onmessage = (text) => this._onMessage(text);
    transport.onclose = (info) => this._lost(info?.reason ?? "transport closed");
    root.hypeLive = this;
  }

  /** Join (and keep re-joining after drops); resolves after the first join, rejects when refused. */
  connect() {
    if (this._connected) return this._connected.promise;
    this._closed = false;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {});
    this._connected = { promise, resolve, reject, settled: false };
    this._bindRoot();
    this._setStatus("connecting");
    this._open(false);
    return promise;
  }

  /** Leave: the server frees the session; no reconnect. */
  close() {
    if (this._closed) return;
    if (this.status === "connected") {
      try { this.transport.send(JSON.stringify({ v: PROTOCOL_VERSION, t: "leave", ref: ++this._ref })); } catch { /* gone */ }
    }
    this._closed = true;
    clearTimeout(this._reconnectTimer);
    this._stopHeartbeat();
    this._failPending({ code: "CLOSED", message: "the LiveView connection was closed" });
    this._clearTimers();
    try { this.transport.close(); } catch { /* already closed */ }
    for (const [el, inst] of this._hooks) this._callHook(inst, "destroyed", el);
    this._hooks.clear();
    for (const [type, fn, capture] of this._listeners) this.root.removeEventListener(type, fn, capture);
    this._listeners = [];
    this._listening.clear();
    if (this._popstate) removeEventListener("popstate", this._popstate);
    this._setStatus("closed");
    this._settleConnect(new LiveError({ code: "CLOSED", message: "closed before joining" }));
    if (this.root.hypeLive === this) delete this.root.hypeLive;
  }

  /**
   * Send an event (what `hype-on:*` does); resolves with the reply frame once its diff is
   * applied, rejects with a LiveError on an error reply (also dispatched as `hype:error`).
   * @param {string} event
   * @param {object} [payload]
   * @param {{cid?: number, el?: Element, domEvent?: string}} [options]
   */
  pushEvent(event, payload = {}, options = {}) {
    if (this.status !== "connected") {
      return Promise.reject(new LiveError({ code: "DISCONNECTED", message: `cannot send "${event}": not connected` }));
    }
    const frame = { v: PROTOCOL_VERSION, t: "event", ref: ++this._ref, event: String(event), payload: payload ?? {} };
    if (Number.isInteger(options.cid)) frame.cid = options.cid;
    const el = options.el ?? null;
    const type = options.domEvent ?? null;
    if (el) this._startLoading(el, type, frame.ref, options.lock ?? []);
    return this._request(frame, { el, type, event: frame.event }).then((reply) => {
      this._onEventReply(reply, el, type);
      return reply;
    }, (err) => {
      if (el) this._endLoading(el, type, frame.ref);
      throw err;
    });
  }

  /** Live navigation inside the view: `handle_params` on the server; the page URL follows. */
  pushPatch(url, { replace = false } = {}) {
    const href = typeof location !== "undefined" ? new URL(url, location.href).href : String(url);
    if (this.history && typeof history !== "undefined") {
      if (replace) history.replaceState(null, "", href);
      else history.pushState(null, "", href);
    }
    if (this.status !== "connected") return Promise.resolve(null);
    const frame = { v: PROTOCOL_VERSION, t: "patch", ref: ++this._ref, url: href };
    return this._request(frame, {}).then((reply) => {
      this._onEventReply(reply, null, null);
      return reply;
    });
  }

  // ------------------------------------------------------------------ connection

  async _open(rejoin) {
    this._reconnectTimer = null;
    if (this._closed) return;
    try {
      await this.transport.open();
    } catch (e) {
      if (this._closed) return;
      if (e?.permanent) {
        this._refused(e.error ?? { code: e.code ?? "CONNECT_FAILED", message: e.message ?? String(e) });
        return;
      }
      this._setStatus("disconnected");
      this._scheduleReconnect();
      return;
    }
    if (this._closed) {
      try { this.transport.close(); } catch { /* ignore */ }
      return;
    }
    this.statics = new Map(); // the server's "sent" set is per connection
    const frame = { v: PROTOCOL_VERSION, t: "join", ref: ++this._ref, path: this.path, params: this.params,
                    session: this.session };
    if (rejoin) frame.form = this.formValues();
    let reply;
    try {
      reply = await this._request(frame, {});
    } catch {
      return; // lost while joining: _lost() scheduled the reconnect
    }
    if (reply.status !== "ok") {
      // a stale token on a reconnect (the server's key changed, the session expired): like
      // Phoenix, reload the server-rendered page for a fresh one, at most once per 10 s
      if (rejoin && reply.error?.code === "BAD_SESSION" && this._reloadForFreshSession()) return;
      this._refused(reply.error ?? { code: "JOIN_FAILED", message: "the server refused the join" });
      return;
    }
    try {
      this.state = applyDiff(null, reply.rendered, this.statics);
    } catch (e) {
      console.warn("hype-live: malformed join reply", e);
      this._refused({ code: "BAD_FRAME", message: `malformed join reply: ${e.message}` });
      return;
    }
    this._attempt = 0;
    this.joins += 1;
    this._setStatus("connected");
    this._setTitle(reply.title);
    this._render();
    this._startHeartbeat();
    if (rejoin) for (const [el, inst] of this._hooks) this._callHook(inst, "reconnected", el);
    this._settleConnect(null);
  }

  _reloadForFreshSession() {
    if (!(this.transport instanceof WebSocketTransport) || typeof location === "undefined") return false;
    try {
      const key = "hype-live-reload";
      const last = Number(sessionStorage.getItem(key) || 0);
      if (Date.now() - last < 10_000) return false;
      sessionStorage.setItem(key, String(Date.now()));
    } catch {
      return false; // no sessionStorage: never risk a reload loop
    }
    location.reload();
    return true;
  }

  _refused(error) {
    this._setStatus("error");
    this._dispatch("hype:error", error);
    try { this.transport.close(); } catch { /* ignore */ }
    this._stopHeartbeat();
    this._settleConnect(new LiveError(error));
  }

  _settleConnect(err) {
    const c = this._connected;
    if (!c || c.settled) return;
    c.settled = true;
    if (err) c.reject(err);
    else c.resolve(this);
  }

  /** The transport is gone (closed, a `close` frame, heartbeat timeout): reconnect with backoff. */
  _lost(reason) {
    if (this._closed || this.status === "error") return;
    const wasConnected = this.status === "connected";
    this._stopHeartbeat();
    this._failPending({ code: "DISCONNECTED", message: `connection lost: ${reason}` });
    this._unlockAll();
    this._clearTimers();
    if (this._reconnectTimer !== null) return;
    try { this.transport.close(); } catch { /* ignore */ }
    this._setStatus("disconnected");
    if (wasConnected) for (const [el, inst] of this._hooks) this._callHook(inst, "disconnected", el);
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._closed || this._reconnectTimer !== null) return;
    const delay = backoffDelay(this._attempt++, this.opts.backoffMinMs, this.opts.backoffMaxMs);
    this.reconnectDelays.push(delay);
    this._reconnectTimer = setTimeout(() => this._open(true), delay);
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    this._heartbeat = setInterval(() => {
      if (this._heartbeatRef !== null) { // the last one was never answered
        this._lost("heartbeat timeout");
        return;
      }
      const ref = ++this._ref;
      this._heartbeatRef = ref;
      this._request({ v: PROTOCOL_VERSION, t: "heartbeat", ref }, {}).then(() => {
        if (this._heartbeatRef === ref) this._heartbeatRef = null;
      }, () => {});
    }, this.opts.heartbeatMs);
  }

  _stopHeartbeat() {
    clearInterval(this._heartbeat);
    this._heartbeat = null;
    this._heartbeatRef = null;
  }

  _request(frame, info) {
    return new Promise((resolve, reject) => {
      this._pending.set(frame.ref, { resolve, reject, ...info });
      try {
        this.transport.send(JSON.stringify(frame));
      } catch (e) {
        this._pending.delete(frame.ref);
        reject(new LiveError({ code: "DISCONNECTED", message: `send failed: ${e?.message ?? e}` }));
        queueMicrotask(() => this._lost("send failed"));
      }
    });
  }

  _failPending(error) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) p.reject(new LiveError(error));
  }

  _setStatus(status) {
    this.status = status;
    const cls = this.root.classList;
    cls.toggle("hype-connected", status === "connected");
    cls.toggle("hype-disconnected", status === "disconnected" || status === "connecting");
    cls.toggle("hype-error", status === "error");
  }

  _dispatch(name, detail) {
    try {
      this.root.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));
    } catch (e) {
      console.error(e);
    }
  }

  _setTitle(title) {
    if (typeof title === "string" && typeof document !== "undefined") document.title = title;
  }

  // ------------------------------------------------------------------ frames

  /** One frame from the transport; never throws (a bad frame is logged and dropped). */
  _onMessage(text) {
    let frame;
    try {
      frame = typeof text === "string" ? JSON.parse(text) : text;
    } catch (e) {
      console.warn("hype-live: a frame that is not JSON was dropped", e);
      return;
    }
    try {
      this._handleFrame(frame);
    } catch (e) {
      console.warn("hype-live: a malformed frame was dropped", e, frame);
    }
  }

  _handleFrame(frame) {
    if (!isObj(frame) || typeof frame.t !== "string") throw new LiveFormatError("a frame must be an object with t");
    if (frame.v !== undefined && frame.v !== PROTOCOL_VERSION) throw new LiveFormatError(`protocol version ${frame.v}`);
    if (this._closed) return;
    switch (frame.t) {
      case "reply": {
        const p = this._pending.get(frame.ref);
        if (!p) return;
        this._pending.delete(frame.ref);
        p.resolve(frame);
        return;
      }
      case "diff":
        this._applyAndRender(frame.diff);
        return;
      case "redirect": {
        const url = this._safeUrl(frame.to);
        if (url) location.assign(url);
        return;
      }
      case "patch": {
        const url = this._safeUrl(frame.to);
        if (url && this.history) history.pushState(null, "", url);
        this._applyAndRender(frame.diff);
        this._dispatch("hype:patch", { to: frame.to });
        return;
      }
      case "crash":
        this._showCrash(frame.error);
        if (frame.rendered) {
          this.state = applyDiff(null, frame.rendered, this.statics);
          this._render();
        }
        this._dispatch("hype:crash", frame.error ?? {});
        return;
      case "close":
        this._lost(`server closed (${frame.reason ?? "no reason"})`);
        return;
      default:
        throw new LiveFormatError(`unknown frame type ${JSON.stringify(frame.t)}`);
    }
  }

  _safeUrl(to) {
    if (typeof to !== "string") throw new LiveFormatError('"to" must be a URL');
    const url = new URL(to, location.href);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new LiveFormatError(`refused URL ${to}`);
    return url.href;
  }

  _applyAndRender(diff) {
    if (diff === null || diff === undefined) return;
    this.state = applyDiff(this.state, diff, this.statics); // throws before touching the state
    this._render();
  }

  _onEventReply(reply, el, type) {
    if (el) this._endLoading(el, type, reply.ref);
    if (reply.status === "ok") {
      // the reply to a form's submit may reset the field the user pressed Enter in
      if (type === "submit" && el && reply.diff != null && el.contains(document.activeElement)) this._resetFocus = true;
      try {
        if (reply.diff !== undefined && reply.diff !== null) {
          this.state = applyDiff(this.state, reply.diff, this.statics);
        }
        this._setTitle(reply.title);
        this._render(); // also re-applies what a locked element skipped meanwhile
      } catch (e) {
        console.warn("hype-live: a malformed reply diff was dropped", e);
      } finally {
        this._resetFocus = false;
      }
      return;
    }
    const error = isObj(reply.error) ? reply.error : { code: "ERROR", message: "the server answered an error" };
    if (reply.versions) error.versions = reply.versions;
    this._dispatch("hype:error", error);
    throw new LiveError(error);
  }

  _showCrash(error) {
    const e = isObj(error) ? error : { message: String(error ?? "the view crashed") };
    const banner = document.createElement("div");
    banner.className = "hype-error-banner";
    banner.setAttribute("role", "alert");
    banner.id = `hype-error-banner-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
    const text = document.createElement("span");
    text.className = "hype-error-message";
    text.textContent = e.message ?? e.code ?? "the view crashed";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "hype-error-dismiss";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.addEventListener("click", () => banner.remove());
    banner.append(text, close);
    this.root.prepend(banner);
  }

  // ------------------------------------------------------------------ rendering

  /** Morph the root's children into the state's HTML. */
  _render() {
    if (!this.state) return;
    const html = toHtml(this.state);
    const root = this.root;
    const banners = [...root.children].filter((c) => c.classList.contains("hype-error-banner"));
    for (const b of banners) b.remove();
    const before = new Map();
    for (const el of this._hooks.keys()) before.set(el, el.outerHTML);
    this._doc ??= document.implementation.createHTMLDocument("");
    const target = this._doc.createElement(root.tagName);
    target.innerHTML = html;
    const active = document.activeElement;
    morphdom(root, target, {
      childrenOnly: true,
      onBeforeElUpdated: (from, to) => this._beforeUpdate(from, to, active),
      onElUpdated: (el) => this._afterUpdate(el),
    });
    if (banners.length) root.prepend(...banners);
    if (active && active !== document.activeElement && active.isConnected && root.contains(active)) active.focus();
    this._syncHooks(before);
    this._listen(html);
  }

  _beforeUpdate(from, to, active) {
    if (from.getAttribute("hype-update") === "ignore") return false;
    if (this._locked.has(from)) return false; // disable-with in flight: re-rendered on its reply
    const loading = this._loading.get(from);
    if (loading) for (const cls of loading.keys()) to.classList.add(cls);
    if (isControl(from)) {
      // a control keeps what the user entered unless the server changed its rendered value;
      // the focused one keeps it (and its caret) always, but after its own form's submit
      const server = serverValue(to);
      const prev = this._serverValues.has(from) ? this._serverValues.get(from) : serverValue(from);
      this._serverValues.set(from, server);
      if (from === active && !this._resetFocus) {
        const f = { el: from, value: from.value, scrollTop: from.scrollTop, scrollLeft: from.scrollLeft };
        try {
          f.start = from.selectionStart;
          f.end = from.selectionEnd;
          f.dir = from.selectionDirection;
        } catch { /* no selection on this input type */ }
        if (from.tagName === "SELECT") f.selected = [...from.options].map((o) => [o.value, o.selected]);
        this._focus = f;
        keepUserValue(from, to);
      } else if (server === prev) {
        keepUserValue(from, to);
      }
    }
    return true;
  }

  _afterUpdate(el) {
    const f = this._focus;
    if (!f || f.el !== el) return;
    this._focus = null;
    if (f.selected) {
      const chosen = new Set(f.selected.filter(([, s]) => s).map(([v]) => v));
      for (const o of el.options) o.selected = chosen.has(o.value);
    } else if (el.type !== "checkbox" && el.type !== "radio" && el.value !== f.value) {
      el.value = f.value;
    }
    if (typeof f.start === "number") {
      try { el.setSelectionRange(f.start, f.end, f.dir ?? "none"); } catch { /* not a text control */ }
    }
    el.scrollTop = f.scrollTop;
    el.scrollLeft = f.scrollLeft;
  }

  // ------------------------------------------------------------------ hooks

  _hookDef(name) {
    return this.hooks[name] ?? hooks[name] ?? null;
  }

  _syncHooks(before) {
    const seen = new Set();
    for (const el of this.root.querySelectorAll("[hype-hook]")) {
      seen.add(el);
      const name = el.getAttribute("hype-hook");
      const inst = this._hooks.get(el);
      if (inst && inst.__hookName === name) {
        if (before.has(el) && before.get(el) !== el.outerHTML) this._callHook(inst, "updated", el);
        continue;
      }
      if (inst) this._callHook(inst, "destroyed", el);
      const def = this._hookDef(name);
      if (!def) {
        this._hooks.delete(el);
        console.warn(`hype-live: no hook named ${name} (HypeLive.hooks.${name} = {mounted() {...}})`);
        continue;
      }
      const hook = Object.create(def);
      hook.__hookName = name;
      hook.el = el;
      hook.liveConnection = this;
      hook.pushEvent = (event, payload = {}) => this.pushEvent(event, payload, { cid: this._cidOf(el) });
      this._hooks.set(el, hook);
      this._callHook(hook, "mounted", el);
    }
    for (const [el, inst] of [...this._hooks]) {
      if (!seen.has(el)) {
        this._hooks.delete(el);
        this._callHook(inst, "destroyed", el);
      }
    }
  }

  _callHook(inst, name, el) {
    const fn = inst?.[name];
    if (typeof fn !== "function") return;
    try {
      inst.el = el;
      fn.call(inst);
    } catch (e) {
      console.error(`hype-live: hook ${inst.__hookName}.${name}() threw`, e);
    }
  }

  // ------------------------------------------------------------------ events

  _bindRoot() {
    if (this._listening.size) return;
    for (const type of BASE_EVENTS) this._listenTo(type);
    this._listen(this.root.innerHTML);
    if (this.history && typeof addEventListener !== "undefined") {
      this._popstate = () => {
        if (this.status !== "connected") return;
        const frame = { v: PROTOCOL_VERSION, t: "patch", ref: ++this._ref, url: location.href };
        this._request(frame, {}).then((r) => this._onEventReply(r, null, null)).catch(() => {});
      };
      addEventListener("popstate", this._popstate);
    }
  }

  /** Listen on the root for every event named by a `hype-on:EVENT` in `html`. */
  _listen(html) {
    const re = /\shype-on:([a-z0-9_-]+)/gi;
    let m;
    while ((m = re.exec(html))) this._listenTo(m[1].toLowerCase());
  }

  _listenTo(type) {
    if (this._listening.has(type)) return;
    this._listening.add(type);
    // bubbling events once they reach the root; the others (focus, blur, ...) while capturing
    const bubble = (ev) => { if (ev.bubbles) this._onDomEvent(ev); };
    const capture = (ev) => { if (!ev.bubbles) this._onDomEvent(ev); };
    this.root.addEventListener(type, bubble, false);
    this.root.addEventListener(type, capture, true);
    this._listeners.push([type, bubble, false], [type, capture, true]);
  }

  _onDomEvent(ev) {
    try {
      this._handleDomEvent(ev);
    } catch (e) {
      console.error("hype-live: handling a DOM event failed", e);
    }
  }

  _handleDomEvent(ev) {
    const type = ev.type;
    let el = ev.target?.nodeType === 1 ? ev.target : ev.target?.parentElement;
    if (!el || !this.root.contains(el)) return;
    if ((type === "input" || type === "change") && el.hasAttribute("hype-model")) this._onModel(el, ev);
    if (type === "click" && !ev.defaultPrevented && ev.button === 0 && !ev.metaKey && !ev.ctrlKey && !ev.shiftKey) {
      const link = el.closest("a[hype-patch]");
      if (link && this.root.contains(link) && link.getAttribute("href") !== null) {
        ev.preventDefault();
        this.pushPatch(link.getAttribute("href")).catch(() => {});
      }
    }
    while (el) {
      let matched = false;
      for (const attr of el.attributes) {
        if (!attr.name.startsWith("hype-on:")) continue;
        const b = parseBinding(attr.name);
        if (b.event !== type || !keyMatches(b, ev) || (b.self && ev.target !== el)) continue;
        matched = true;
        this._fire(el, attr, b, ev);
      }
      if (matched || !ev.bubbles || el === this.root) break;
      el = el.parentElement;
    }
  }

  _fire(el, attr, b, ev) {
    if (b.prevent || ev.type === "submit") ev.preventDefault();
    if (b.stop) ev.stopPropagation();
    const name = attr.value;
    const payload = this._payload(el, ev);
    const submitter = ev.type === "submit" ? ev.submitter ?? null : null;
    const send = () => this._sendDom(el, ev.type, name, payload, submitter);
    if (b.debounce !== null) {
      const key = this._timerKey(el, attr.name);
      clearTimeout(this._timers.get(key)?.timer);
      this._timers.set(key, { timer: setTimeout(() => { this._timers.delete(key); send(); }, b.debounce) });
    } else if (b.throttle !== null) {
      const key = this._timerKey(el, attr.name);
      const t = this._timers.get(key);
      if (t) {
        t.trailing = send; // sent when the interval ends
        return;
      }
      send();
      const tick = () => {
        const cur = this._timers.get(key);
        if (cur?.trailing) {
          const next = cur.trailing;
          cur.trailing = null;
          next();
          cur.timer = setTimeout(tick, b.throttle);
        } else {
          this._timers.delete(key);
        }
      };
      this._timers.set(key, { timer: setTimeout(tick, b.throttle), trailing: null });
    } else {
      send();
    }
  }

  _timerKey(el, attrName) {
    el.__hypeTimerId ??= Math.random().toString(36).slice(2);
    return `${el.__hypeTimerId}|${attrName}`;
  }

  _clearTimers() {
    for (const t of this._timers.values()) clearTimeout(t.timer);
    this._timers.clear();
    for (const m of this._models.values()) clearTimeout(m.timer);
    this._models.clear();
  }

  _cidOf(el) {
    const t = el.closest("[hype-target]");
    if (!t || !this.root.contains(t)) return undefined;
    const cid = Number.parseInt(t.getAttribute("hype-target"), 10);
    return Number.isInteger(cid) ? cid : undefined;
  }

  /** The payload of a DOM event: form fields (submit), `{value}` (input/change), `hype-value-*`. */
  _payload(el, ev) {
    const p = {};
    const type = ev.type;
    if (el.tagName === "FORM" && (type === "submit" || type === "input" || type === "change")) {
      Object.assign(p, formObject(el, type === "submit" ? ev.submitter ?? null : null));
      if (type !== "submit" && ev.target?.name) p._target = ev.target.name;
    } else if ((type === "input" || type === "change") && isControl(el)) {
      p.value = controlValue(el);
    } else if (type.startsWith("key")) {
      p.key = ev.key;
      if (isControl(el)) p.value = el.value;
    }
    for (const attr of el.attributes) {
      if (attr.name.startsWith("hype-value-")) p[attr.name.slice("hype-value-".length)] = attr.value;
    }
    return p;
  }

  _sendDom(el, type, name, payload, submitter) {
    if (type === "submit") this._flushModels();
    const lock = [];
    if (el.hasAttribute("hype-disable-with")) lock.push(el);
    if (el.tagName === "FORM") {
      for (const b of el.querySelectorAll("[hype-disable-with]")) lock.push(b);
      if (submitter?.hasAttribute("hype-disable-with") && !lock.includes(submitter)) lock.push(submitter);
    }
    this.pushEvent(name, payload, { el, domEvent: type, cid: this._cidOf(el), lock }).catch(() => {});
  }

  // ------------------------------------------------------------------ hype-model

  _onModel(el, ev) {
    const textLike = isTextLike(el);
    const state = this._models.get(el) ?? { timer: null, last: undefined };
    this._models.set(el, state);
    const send = () => {
      clearTimeout(state.timer);
      state.timer = null;
      if (!el.isConnected) return;
      const value = modelValue(el);
      state.last = JSON.stringify(value);
      const field = el.getAttribute("hype-model");
      this.pushEvent("hype:model", { field, value }, { el, domEvent: ev.type, cid: this._cidOf(el) }).catch(() => {});
    };
    state.send = send;
    if (textLike && ev.type === "input") {
      const spec = el.getAttribute("hype-debounce");
      if (spec === "blur") return; // sent on change
      const ms = parseMs(spec, this.opts.modelDebounceMs);
      clearTimeout(state.timer);
      if (ms <= 0) send();
      else state.timer = setTimeout(send, ms);
      return;
    }
    if (ev.type !== "change") return;
    if (el.type === "radio" && !el.checked) return;
    if (textLike) { // blur after typing: flush now, or nothing if the value was sent already
      if (state.timer !== null || state.last !== JSON.stringify(modelValue(el))) send();
      return;
    }
    send();
  }

  /** Send the debounced `hype-model` updates now (before a submit). */
  _flushModels() {
    for (const state of this._models.values()) if (state.timer !== null) state.send();
  }

  /** `{field: value}` of every `hype-model` control in the root (the `form` of a re-join). */
  formValues() {
    const out = {};
    for (const el of this.root.querySelectorAll("[hype-model]")) {
      if (!isControl(el)) continue;
      const field = el.getAttribute("hype-model");
      if (el.type === "radio") {
        if (el.checked) out[field] = el.value;
        else if (!(field in out)) out[field] = null;
        continue;
      }
      out[field] = modelValue(el);
    }
    return out;
  }

  // ------------------------------------------------------------------ loading, disable-with

  _startLoading(el, type, ref, lock) {
    const classes = this._loading.get(el) ?? new Map();
    this._loading.set(el, classes);
    for (const cls of ["hype-loading", ...(type ? [`hype-${type}-loading`] : [])]) {
      classes.set(cls, (classes.get(cls) ?? 0) + 1);
      el.classList.add(cls);
    }
    for (const b of lock) {
      const l = this._locked.get(b);
      if (l) {
        l.refs.add(ref);
        continue;
      }
      this._locked.set(b, { refs: new Set([ref]), html: b.innerHTML, value: b.value, disabled: b.disabled });
      const text = b.getAttribute("hype-disable-with");
      if (b.tagName === "INPUT") b.value = text;
      else b.textContent = text;
      b.disabled = true;
    }
  }

  _endLoading(el, type, ref) {
    const classes = this._loading.get(el);
    if (classes) {
      for (const cls of ["hype-loading", ...(type ? [`hype-${type}-loading`] : [])]) {
        const n = (classes.get(cls) ?? 1) - 1;
        if (n > 0) classes.set(cls, n);
        else {
          classes.delete(cls);
          el.classList.remove(cls);
        }
      }
      if (!classes.size) this._loading.delete(el);
    }
    for (const [b, l] of [...this._locked]) {
      if (!l.refs.delete(ref) || l.refs.size) continue;
      this._unlock(b, l);
    }
  }

  _unlock(b, l) {
    this._locked.delete(b);
    if (b.tagName === "INPUT") b.value = l.value;
    else b.innerHTML = l.html;
    b.disabled = l.disabled;
  }

  _unlockAll() {
    for (const [b, l] of [...this._locked]) this._unlock(b, l);
    for (const [el, classes] of this._loading) for (const cls of classes.keys()) el.classList.remove(cls);
    this._loading.clear();
  }
}

// ---------------------------------------------------------------------- transports

/** The LiveView WebSocket (`hype serve` / `live.app`): one JSON text frame per message. */
export class WebSocketTransport {
  /** @param {string} url ws:/wss: URL, or a path resolved against the page (ws: or wss: by its protocol) */
  constructor(url) {
    this.url = wsUrl(url);
    this.ws = null;
    this.onmessage = null;
    this.onclose = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (ev) => {
        if (this.ws === ws && typeof ev.data === "string") this.onmessage?.(ev.data);
      };
      ws.onclose = (ev) => {
        if (!opened) {
          reject(new Error(`WebSocket ${this.url} closed before opening (code ${ev.code})`));
          return;
        }
        if (this.ws === ws) {
          this.ws = null;
          this.onclose?.({ code: ev.code, reason: ev.reason || `WebSocket closed (${ev.code})` });
        }
      };
      ws.onerror = () => {}; // followed by close
    });
  }

  send(text) {
    if (!this.ws || this.ws.readyState !== 1) throw new Error("the WebSocket is not open");
    this.ws.send(text);
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close(1000, "leave");
  }
}

/** `url` as a ws:/wss: URL: relative ones against the page, wss: on https pages. */
export function wsUrl(url) {
  const base = typeof location !== "undefined" ? location.href : "http://localhost/";
  const u = new URL(url, base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.href;
}

/**
 * A view running inside the page's hypelua worker (`hype.mountLive`): frames go through
 * the worker ops liveOpen / liveFrame / liveClose; pushes come back as `{type: "live", id, frame}`.
 */
export class WorkerTransport {
  /** @param {object} hype a loaded `Hype` @param {string} target "counter.lua" or "pkg.mod:Class" */
  constructor(hype, target) {
    this.hype = hype;
    this.target = String(target);
    this.id = null;
    this.onmessage = null;
    this.onclose = null;
  }

  async open() {
    let r;
    try {
      r = await this.hype._call("liveOpen", { target: this.target });
    } catch (e) {
      // a worker that died or restarted may do better next time; anything else will not
      if (this.hype._dead || (e?.code !== "WORKER_ERROR" && e?.code !== "TIMEOUT")) {
        e.permanent = true;
        e.error = { code: e.code, message: e.message, hint: e.suggestion ?? "" };
      }
      throw e;
    }
    this.id = r.id;
    this.hype._liveTransports.set(this.id, this);
  }

  send(text) {
    const id = this.id;
    if (id === null) throw new Error("the worker LiveView is not open");
    this.hype._call("liveFrame", { id, frame: text }).then((reply) => {
      if (typeof reply === "string" && this.id === id) this.onmessage?.(reply);
    }, (e) => {
      if (this.id !== id) return;
      if (e?.code === "NO_SESSION" || e?.code === "WORKER_ERROR" || e?.code === "TIMEOUT") this._gone(e.message);
      else console.warn("hype-live: liveFrame failed", e);
    });
  }

  /** Called by `Hype` for the frames the worker pushes. */
  _deliver(frame) {
    this.onmessage?.(frame);
  }

  /** The worker lost this session (restarted, crashed). */
  _gone(reason) {
    if (this.id === null) return;
    this.hype._liveTransports.delete(this.id);
    this.id = null;
    this.onclose?.({ reason });
  }

  close() {
    const id = this.id;
    if (id === null) return;
    this.id = null;
    this.hype._liveTransports.delete(id);
    this.hype._call("liveClose", { id }).catch(() => {});
  }
}

// ---------------------------------------------------------------------- auto-connect

/**
 * Connect `el` to its LiveView. Options as for LiveConnection, plus `transport`
 * (default: a WebSocket to `data-hype-ws`) and `path` / `session` (default: the element's
 * `data-hype-live` / `data-hype-session`).
 */
export function connect(el, options = {}) {
  if (el.hypeLive) return el.hypeLive;
  const ds = el.dataset ?? {};
  const transport = options.transport ?? new WebSocketTransport(ds.hypeWs || "/_hype/live/ws");
  const params = { ...(options.params ?? {}) };
  const csrf = typeof document !== "undefined" ? document.querySelector('meta[name="csrf-token"]') : null;
  if (csrf && params._csrf === undefined) params._csrf = csrf.getAttribute("content");
  const conn = new LiveConnection(el, transport, {
    history: true,
    ...options,
    path: options.path ?? ds.hypeLive,
    session: options.session ?? ds.hypeSession ?? null,
    params,
  });
  conn.connect().catch((e) => console.warn(`hype-live: ${e.code}: ${e.message}`));
  return conn;
}

/** Connect every `[data-hype-live]` element of `root` (the document) not connected yet. */
export function connectAll(root = document, options = {}) {
  return [...root.querySelectorAll("[data-hype-live]")].map((el) => connect(el, options));
}

export const HypeLive = {
  version: PROTOCOL_VERSION, hooks, connect, connectAll, LiveConnection, LiveError, LiveFormatError,
  WebSocketTransport, WorkerTransport, applyDiff, toHtml, formObject, parseBinding,
};
