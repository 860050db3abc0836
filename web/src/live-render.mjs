// The LiveView rendered format on the client (docs/live-protocol.md, "Rendered format"):
// a port of `apply` / `to_html` in py/hypelua/live/_render.py, plus stateful components
// ("c") and streams ("st"). Pure functions over JSON data: no DOM, testable under Node.
//
// State (a "materialised" render, as `_render.apply` builds it):
//   render         {f, s: [statics], "0": dyn, "1": dyn, ...}      s filled from the cache
//   dynamic        string (escaped HTML) | render | comprehension | integer (component id)
//   comprehension  {f, s, k: {"0": entry, ..., kc: count}}          entries: {"0": dyn, ...}
//   stream         a comprehension that also keeps `sk` (the key of each entry, in order)
//   root state     a render plus `c: {"<cid>": render}`: every component the server sent, also
//                  those no dynamic refers to any more (the server keeps them and may diff them
//                  later); `"c": {"<cid>": null}` forgets one
//
// `statics` is the connection's cache: a Map fingerprint -> statics (filled in place);
// a new connection (a re-join) starts with a fresh one, as the server's `sent` set does.
// Malformed input throws LiveFormatError; the state passed in is never modified.

/** Nesting deeper than this is refused (a malformed or hostile frame). */
const MAX_DEPTH = 200;
/** Largest comprehension count accepted. */
const MAX_ENTRIES = 1_000_000;

export class LiveFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "LiveFormatError";
    this.code = "BAD_DIFF";
  }
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

function fail(message) {
  throw new LiveFormatError(message);
}

/**
 * `state` patched with `diff` (a join's `rendered`, or any later diff): a new state.
 * @param {object|null} state the previous root state (null before the join)
 * @param {object|null} diff the server's diff; null/undefined: nothing changed
 * @param {Map<number, string[]>} [statics] fingerprint -> statics seen on this connection
 * @returns {object} the new root state (`c`: the components, see above)
 * @throws {LiveFormatError} on a diff that does not fit the state
 */
export function applyDiff(state, diff, statics = new Map()) {
  if (diff === null || diff === undefined) return state;
  if (!isObj(diff)) fail("a diff must be an object");
  const { c: cdiff, ...body } = diff;
  let oldBody = state;
  let oldC = {};
  if (isObj(state)) {
    const { c, ...rest } = state;
    oldBody = rest;
    if (isObj(c)) oldC = c;
  }
  const next = applyNode(oldBody, body, statics, 0);
  if (!isObj(next) || !Array.isArray(next.s)) fail("the root of a render must be a render {f, s, ...}");
  let comps = oldC;
  if (cdiff !== undefined) {
    if (!isObj(cdiff)) fail('"c" must be an object {cid: render}');
    comps = { ...oldC };
    for (const [cid, d] of Object.entries(cdiff)) {
      if (!/^\d+$/.test(cid)) fail(`component id ${JSON.stringify(cid)} is not an integer`);
      if (d === null) {
        delete comps[cid];
        continue;
      }
      const c = applyNode(has(oldC, cid) ? oldC[cid] : undefined, d, statics, 1);
      if (!isObj(c) || !Array.isArray(c.s)) fail(`component ${cid} is not a render`);
      comps[cid] = c;
    }
  }
  return Object.keys(comps).length ? { ...next, c: comps } : next;
}

/** `_render.apply`: `old` patched with `d`. */
function applyNode(old, d, statics, depth) {
  if (depth > MAX_DEPTH) fail(`a diff nested deeper than ${MAX_DEPTH} levels`);
  if (d === null || d === undefined) return old;
  if (!isObj(d)) return d; // a string, a component id, statics
  if (has(d, "f") && (!isObj(old) || old.f !== d.f)) return materialise(d, statics, depth);
  if (!isObj(old)) fail("a diff for a part the client does not have (no fingerprint)");
  const out = { ...old };
  for (const [key, value] of Object.entries(d)) {
    if (key === "st") continue;
    if (key === "k") {
      if (has(d, "st")) {
        const { k, sk } = applyStream(old, d.k, d.st, statics, depth);
        out.k = k;
        out.sk = sk;
      } else {
        out.k = applyEntries(old.k, value, statics, depth);
      }
    } else {
      out[key] = applyNode(old[key], value, statics, depth + 1);
    }
  }
  if (has(d, "st") && !has(d, "k")) {
    const { k, sk } = applyStream(old, {}, d.st, statics, depth);
    out.k = k;
    out.sk = sk;
  }
  return out;
}

/** `_render._materialise`: a full render (statics from `d` or the cache) as state. */
function materialise(d, statics, depth) {
  if (depth > MAX_DEPTH) fail(`a render nested deeper than ${MAX_DEPTH} levels`);
  const out = {};
  if (has(d, "f") && has(d, "s")) {
    if (!Array.isArray(d.s) || d.s.some((x) => typeof x !== "string")) fail('"s" must be an array of strings');
    statics.set(d.f, d.s);
  }
  for (const [key, value] of Object.entries(d)) {
    if (key === "st" || key === "s") continue;
    if (key === "k") {
      if (has(d, "st")) continue; // below
      if (!isObj(value)) fail('"k" must be an object');
      const k = {};
      for (const [ek, ev] of Object.entries(value)) k[ek] = isObj(ev) ? materialise(ev, statics, depth + 1) : ev;
      checkCount(k.kc);
      for (let i = 0; i < k.kc; i++) if (!isObj(k[String(i)])) fail(`comprehension entry ${i} is missing`);
      out.k = k;
    } else {
      out[key] = isObj(value) ? materialise(value, statics, depth + 1) : value;
    }
  }
  if (has(d, "st")) {
    const { k, sk } = applyStream(null, has(d, "k") ? d.k : {}, d.st, statics, depth);
    out.k = k;
    out.sk = sk;
  }
  if (has(d, "f")) {
    const s = statics.get(d.f);
    if (!s) fail(`no statics for fingerprint ${d.f} (never sent on this connection)`);
    out.s = s;
  }
  return out;
}

function checkCount(n) {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ENTRIES) fail(`bad comprehension count ${JSON.stringify(n)}`);
}

/** `_render._apply_entries`: a keyed comprehension's entries patched. */
function applyEntries(old, d, statics, depth) {
  if (!isObj(old) || !isObj(d)) fail('"k" patches a comprehension the client does not have');
  const count = has(d, "kc") ? d.kc : old.kc;
  checkCount(count);
  const out = { kc: count };
  const prev = (j) => {
    const e = old[String(j)];
    if (!isObj(e)) fail(`comprehension entry ${j} is not on the client`);
    return e;
  };
  for (let i = 0; i < count; i++) {
    const key = String(i);
    const change = d[key];
    if (change === undefined) {
      out[key] = prev(i);
    } else if (typeof change === "number") { // moved, unchanged
      out[key] = prev(change);
    } else if (Array.isArray(change)) {
      if (change.length !== 2) fail(`comprehension entry ${i}: [index, diff] expected`);
      if (change[0] === null) { // a new entry
        if (!isObj(change[1])) fail(`comprehension entry ${i}: a new entry must be an object`);
        out[key] = materialise(change[1], statics, depth + 1);
      } else { // moved and changed
        out[key] = applyNode(prev(change[0]), change[1], statics, depth + 1);
      }
    } else if (isObj(change)) { // the entry at this index, patched
      out[key] = applyNode(prev(i), change, statics, depth + 1);
    } else {
      fail(`comprehension entry ${i}: unexpected ${JSON.stringify(change)}`);
    }
  }
  return out;
}

/**
 * A stream's entries: `st = {keys: [key per entry in k], at: [-1 append | 0 prepend | index],
 * del: [keys], reset: bool}`; an entry whose key is already there is replaced in place.
 */
/** A stream key as compared (JSON text: 1 and "1" differ, as on the server). */
const streamKey = (key) => JSON.stringify(key ?? null);

function applyStream(old, kdiff, st, statics, depth) {
  if (!isObj(st)) fail('"st" must be an object');
  if (!isObj(kdiff)) fail('"k" must be an object');
  const keys = st.keys ?? [];
  const at = st.at ?? [];
  const del = st.del ?? [];
  if (!Array.isArray(keys) || !Array.isArray(at) || !Array.isArray(del)) fail('"st" keys, at and del must be arrays');
  let sk = [];
  let entries = [];
  if (isObj(old) && !st.reset && Array.isArray(old.sk) && isObj(old.k)) {
    sk = old.sk.slice();
    for (let i = 0; i < sk.length; i++) entries.push(old.k[String(i)]);
  }
  if (del.length) {
    const gone = new Set(del.map(streamKey));
    const keep = sk.map((key) => !gone.has(streamKey(key)));
    sk = sk.filter((_, i) => keep[i]);
    entries = entries.filter((_, i) => keep[i]);
  }
  for (let i = 0; i < keys.length; i++) {
    let entry = kdiff[String(i)];
    if (Array.isArray(entry) && entry.length === 2 && entry[0] === null) entry = entry[1];
    if (!isObj(entry)) fail(`stream entry ${i} must be an entry object`);
    const value = materialise(entry, statics, depth + 1);
    const key = keys[i];
    const where = sk.findIndex((x) => streamKey(x) === streamKey(key));
    if (where >= 0) {
      entries[where] = value;
      continue;
    }
    const pos = at[i] ?? -1;
    if (!Number.isInteger(pos)) fail(`stream entry ${i}: "at" must be an integer`);
    const index = pos < 0 || pos > sk.length ? sk.length : pos;
    sk.splice(index, 0, key);
    entries.splice(index, 0, value);
  }
  checkCount(entries.length);
  const k = { kc: entries.length };
  entries.forEach((e, i) => { k[String(i)] = e; });
  return { k, sk };
}

/**
 * The HTML of a state (`_render.to_html`); integer dynamics are components, rendered
 * from `components` (default: the state's own `c`).
 * @param {object} state a root state from `applyDiff` (or any materialised render)
 * @param {object} [components] cid -> component render
 * @returns {string}
 */
export function toHtml(state, components = undefined) {
  const out = [];
  const comps = components ?? (isObj(state) && isObj(state.c) ? state.c : {});
  write(state, undefined, comps, out, 0, new Set());
  return out.join("");
}

function write(r, statics, comps, out, depth, open) {
  if (depth > MAX_DEPTH) fail(`a render nested deeper than ${MAX_DEPTH} levels`);
  if (typeof r === "string") {
    out.push(r);
    return;
  }
  if (typeof r === "number") { // a stateful component
    const cid = String(r);
    if (open.has(cid)) fail(`component ${cid} contains itself`);
    const c = comps[cid];
    if (c === undefined) return;
    open.add(cid);
    write(c, undefined, comps, out, depth + 1, open);
    open.delete(cid);
    return;
  }
  if (r === null || r === undefined || r === false) return;
  if (!isObj(r)) {
    out.push(String(r));
    return;
  }
  const s = statics ?? r.s;
  if (!Array.isArray(s)) fail("a render without statics");
  if (has(r, "k")) {
    const k = r.k;
    for (let i = 0; i < k.kc; i++) write(k[String(i)], s, comps, out, depth + 1, open);
    return;
  }
  out.push(s[0]);
  for (let i = 1; i < s.length; i++) {
    write(r[String(i - 1)], undefined, comps, out, depth + 1, open);
    out.push(s[i]);
  }
}
