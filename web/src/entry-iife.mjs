// <script src=".../hypelua.js"> entry: sets window.Hype / window.HypeError / window.HypeLive
// (the LiveView connector; unlike hype-live.js it connects nothing by itself);
// baseUrl defaults to the directory the script was loaded from.
import { Hype, HypeError, setDefaultBaseUrl } from "./hypelua.mjs";
import { HypeLive } from "./live.mjs";

const script = typeof document !== "undefined" ? document.currentScript : null;
if (script && script.src) setDefaultBaseUrl(new URL("./", script.src).href);

globalThis.Hype = Hype;
globalThis.HypeError = HypeError;
globalThis.HypeLive ??= HypeLive;
