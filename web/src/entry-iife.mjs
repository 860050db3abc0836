// <script src=".../hypelua.js"> entry: sets window.Hype / window.HypeError;
// baseUrl defaults to the directory the script was loaded from.
import { Hype, HypeError, setDefaultBaseUrl } from "./hypelua.mjs";

const script = typeof document !== "undefined" ? document.currentScript : null;
if (script && script.src) setDefaultBaseUrl(new URL("./", script.src).href);

globalThis.Hype = Hype;
globalThis.HypeError = HypeError;
