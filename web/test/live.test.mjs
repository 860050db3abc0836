// The client side of the LiveView rendered format (web/src/live-render.mjs) under node:test.
// tests/live/test_connector_node.py checks it against Python's renderer over random renders.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LiveFormatError, applyDiff, toHtml } from "../src/live-render.mjs";
import { formObject, parseBinding } from "../src/live.mjs";

const run = (...diffs) => {
  const statics = new Map();
  let state = null;
  const html = [];
  for (const d of diffs) {
    state = applyDiff(state, d, statics);
    html.push(toHtml(state));
  }
  return { state, html, statics };
};

test("a render is statics around dynamics", () => {
  const { html } = run({ f: 1, s: ["<h1>Count: ", "</h1>"], 0: "3" });
  assert.deepEqual(html, ["<h1>Count: 3</h1>"]);
});

test("a diff patches only the changed dynamic; statics come from the cache", () => {
  const { html } = run(
    { f: 1, s: ["<p>", " ", "</p>"], 0: "a", 1: "b" },
    { 1: "c" },
    null,
    { 0: "z" },
  );
  assert.deepEqual(html, ["<p>a b</p>", "<p>a c</p>", "<p>a c</p>", "<p>z c</p>"]);
});

test("statics are sent once per fingerprint: an if branch coming back carries only f", () => {
  const { html } = run(
    { f: 1, s: ["", ""], 0: { f: 2, s: ["<b>", "</b>"], 0: "1" } },
    { 0: { f: 3, s: ["<i>", "</i>"], 0: "1" } },
    { 0: { f: 2, 0: "2" } },
  );
  assert.deepEqual(html, ["<b>1</b>", "<i>1</i>", "<b>2</b>"]);
});

test("an unknown fingerprint without statics is a format error, and the state is untouched", () => {
  const statics = new Map();
  const state = applyDiff(null, { f: 1, s: ["", ""], 0: "x" }, statics);
  const before = JSON.stringify(state);
  assert.throws(() => applyDiff(state, { 0: { f: 99, 0: "y" } }, statics), LiveFormatError);
  assert.equal(JSON.stringify(state), before);
});

const table = (rows) => ({
  f: 10, s: ["<ul>", "</ul>"],
  0: { f: 11, s: ['<li id="', '">', "</li>"], k: Object.assign(Object.fromEntries(rows.map((r, i) => [i, { 0: r[0], 1: r[1] }])), { kc: rows.length }) },
});

test("comprehensions: patched, moved, moved and changed, new entries, count", () => {
  const { html } = run(
    table([["a", "A"], ["b", "B"], ["c", "C"]]),
    { 0: { k: { 1: { 1: "B2" } } } },
    { 0: { k: { 0: 2, 1: 0, 2: [1, { 1: "B3" }], 3: [null, { 0: "d", 1: "D" }], kc: 4 } } },
    { 0: { k: { kc: 1 } } },
  );
  assert.equal(html[0], '<ul><li id="a">A</li><li id="b">B</li><li id="c">C</li></ul>');
  assert.equal(html[1], '<ul><li id="a">A</li><li id="b">B2</li><li id="c">C</li></ul>');
  assert.equal(html[2], '<ul><li id="c">C</li><li id="a">A</li><li id="b">B3</li><li id="d">D</li></ul>');
  assert.equal(html[3], '<ul><li id="c">C</li></ul>');
});

test("nested renders inside comprehension entries keep their own statics", () => {
  const rows = { f: 11, s: ["<li>", "</li>"], k: { 0: { 0: { f: 12, s: ["<b>", "</b>"], 0: "x" } }, 1: { 0: "" }, kc: 2 } };
  const { html } = run(
    { f: 10, s: ["<ul>", "</ul>"], 0: rows },
    { 0: { k: { 1: { 0: { f: 12, 0: "y" } } } } },
  );
  assert.deepEqual(html, ["<ul><li><b>x</b></li><li></li></ul>", "<ul><li><b>x</b></li><li><b>y</b></li></ul>"]);
});

test("components: integer dynamics render c[cid]; components off the page are kept for later diffs", () => {
  const { html, state } = run(
    { f: 1, s: ["<main>", "", "</main>"], 0: 1, 1: 2,
      c: { 1: { f: 5, s: ["<i>", "</i>"], 0: "one" }, 2: { f: 5, 0: "two" } } },
    { c: { 2: { 0: "TWO" } } },
    { 1: "", c: {} },
    { 0: { f: 6, s: ["[", "]"], 0: 3 }, c: { 3: { f: 5, 0: "three" } } },
    { 0: { f: 6, 0: 2 }, c: { 2: { 0: "two again" }, 3: null } },
  );
  assert.deepEqual(html, [
    "<main><i>one</i><i>two</i></main>",
    "<main><i>one</i><i>TWO</i></main>",
    "<main><i>one</i></main>",
    "<main>[<i>three</i>]</main>",
    "<main>[<i>two again</i>]</main>",
  ]);
  assert.deepEqual(Object.keys(state.c).sort(), ["1", "2"]);
});

test("components may contain components; a cycle is a format error", () => {
  const { html } = run({ f: 1, s: ["", ""], 0: 1, c: { 1: { f: 2, s: ["(", ")"], 0: 2 }, 2: { f: 3, s: ["x"] } } });
  assert.deepEqual(html, ["(x)"]);
  const bad = applyDiff(null, { f: 1, s: ["", ""], 0: 1, c: { 1: { f: 2, s: ["(", ")"], 0: 1 } } }, new Map());
  assert.throws(() => toHtml(bad), LiveFormatError);
});

const stream = (st, k = {}) => ({ 0: { k, st } });

test("streams: entries kept by key, appended, prepended, replaced in place, deleted, reset", () => {
  const root = {
    f: 1, s: ["<ul>", "</ul>"],
    0: { f: 2, s: ['<li id="', '">', "</li>"], k: { 0: { 0: "a", 1: "A" }, 1: { 0: "b", 1: "B" }, kc: 2 },
         st: { keys: ["a", "b"], at: [-1, -1], del: [], reset: false } },
  };
  const { html } = run(
    root,
    stream({ keys: ["c"], at: [0] }, { 0: { 0: "c", 1: "C" } }),
    stream({ keys: ["a", "d"], at: [-1, -1] }, { 0: { 0: "a", 1: "A2" }, 1: [null, { 0: "d", 1: "D" }] }),
    stream({ keys: [], at: [], del: ["b", "c"] }),
    stream({ keys: ["x"], at: [1] }, { 0: { 0: "x", 1: "X" } }),
    stream({ keys: ["z"], at: [-1], reset: true }, { 0: { 0: "z", 1: "Z" } }),
  );
  const li = (...ids) => `<ul>${ids.map(([id, t]) => `<li id="${id}">${t}</li>`).join("")}</ul>`;
  assert.deepEqual(html, [
    li(["a", "A"], ["b", "B"]),
    li(["c", "C"], ["a", "A"], ["b", "B"]),
    li(["c", "C"], ["a", "A2"], ["b", "B"], ["d", "D"]),
    li(["a", "A2"], ["d", "D"]),
    li(["a", "A2"], ["x", "X"], ["d", "D"]),
    li(["z", "Z"]),
  ]);
});

test("malformed diffs throw LiveFormatError, never anything else", () => {
  const statics = new Map();
  const state = applyDiff(null, table([["a", "A"]]), statics);
  const bad = [
    "text", 42, [1, 2], { 0: { k: { 0: 7 } } }, { 0: { k: { kc: -1 } } }, { 0: { k: { kc: 1e9 } } },
    { 0: { k: { 0: [5, {}] } } }, { 0: { k: { 0: [null, 3] } } }, { 0: { k: "x" } }, { 9: { 0: "no such part" } },
    { f: 77 }, { c: [] }, { c: { x: {} } }, { c: { 4: { 0: "no statics" } } }, { 0: { k: { 0: "str" } } },
    { 0: { st: "x" } }, { 0: { st: { keys: "x" } } }, { f: 1, s: [1, 2] },
  ];
  for (const d of bad) {
    assert.throws(() => applyDiff(state, d, statics), LiveFormatError, JSON.stringify(d));
  }
  let deep = { 0: "x" };
  for (let i = 0; i < 500; i++) deep = { 0: deep };
  assert.throws(() => applyDiff(state, deep, statics), LiveFormatError);
});

test("hype-on attribute names parse into event, modifiers and key filters", () => {
  assert.deepEqual(parseBinding("hype-on:keydown.enter.prevent"),
    { event: "keydown", prevent: true, stop: false, self: false, debounce: null, throttle: null, keys: ["enter"] });
  const b = parseBinding("hype-on:input.debounce.300ms.stop");
  assert.equal(b.debounce, 300);
  assert.equal(b.stop, true);
  assert.equal(parseBinding("hype-on:scroll.throttle.1s").throttle, 1000);
  assert.equal(parseBinding("hype-on:input.debounce").debounce, 300);
  assert.deepEqual(parseBinding("hype-on:keyup.esc.space.up.a").keys, ["escape", " ", "arrowup", "a"]);
});

test("formObject: repeated names become arrays", () => {
  class FakeFormData {
    entries() { return [["a", "1"], ["b", "x"], ["a", "2"], ["a", "3"], ["f", { name: "file.txt" }]][Symbol.iterator](); }
  }
  globalThis.FormData = FakeFormData;
  try {
    assert.deepEqual(formObject({}), { a: ["1", "2", "3"], b: "x", f: "file.txt" });
  } finally {
    delete globalThis.FormData;
  }
});
