// <script src=".../hype-live.js"> (dist/web/hype-live.js, served by live.app at /_hype/live.js):
// sets window.HypeLive and, once the document is parsed, connects every [data-hype-live]
// element over its WebSocket (data-hype-ws). Hooks registered before DOMContentLoaded
// (HypeLive.hooks.Name = {...} in a later <script>) are used; so are hooks of a
// `window.HypeLive = {hooks: {...}}` defined before this script.
import { HypeLive, connectAll } from "./live.mjs";

const earlier = globalThis.HypeLive;
if (earlier && typeof earlier === "object" && earlier.hooks && earlier.hooks !== HypeLive.hooks) {
  Object.assign(HypeLive.hooks, earlier.hooks);
}
globalThis.HypeLive = HypeLive;

if (typeof document !== "undefined") {
  const start = () => {
    try {
      connectAll(document);
    } catch (e) {
      console.error("hype-live: auto-connect failed", e);
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
}
