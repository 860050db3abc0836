// Replays rendered-format diffs through the connector's applyDiff/toHtml (web/src/live-render.mjs).
// stdin: JSON [[diff, diff, ...], ...] (one list per connection); stdout: JSON [[html, ...], ...],
// the HTML after each diff, or {"error": message} for a sequence that failed.
// Used by tests/live/test_connector_node.py.
import { applyDiff, toHtml } from "../src/live-render.mjs";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const sequences = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const out = sequences.map((diffs) => {
  const statics = new Map();
  let state = null;
  const html = [];
  try {
    for (const d of diffs) {
      state = applyDiff(state, d, statics);
      html.push(toHtml(state));
    }
  } catch (e) {
    return { error: `${e.name}: ${e.message}`, html };
  }
  return html;
});
process.stdout.write(JSON.stringify(out));
