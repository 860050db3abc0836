// Replays rendered-format diffs through the connector's applyDiff/toHtml (web/src/live-render.mjs).
// stdin: JSON [[diff, diff, ...], ...] (one list per connection; an item {"$join": rendered} starts
// over with a fresh statics cache, {"$crash": rendered} replaces the state keeping it);
// stdout: JSON [[html, ...], ...], the HTML after each item, or {"error": message, html}.
// Used by tests/live/test_connector_node.py.
import { applyDiff, toHtml } from "../src/live-render.mjs";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const sequences = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const out = sequences.map((diffs) => {
  let statics = new Map();
  let state = null;
  const html = [];
  try {
    for (const d of diffs) {
      if (d && d.$join !== undefined) {
        statics = new Map();
        state = applyDiff(null, d.$join, statics);
      } else if (d && d.$crash !== undefined) {
        state = applyDiff(null, d.$crash, statics);
      } else {
        state = applyDiff(state, d, statics);
      }
      html.push(toHtml(state));
    }
  } catch (e) {
    return { error: `${e.name}: ${e.message}`, html };
  }
  return html;
});
process.stdout.write(JSON.stringify(out));
