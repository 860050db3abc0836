// ESM entry (npm "hypelua", dist/web/hypelua.mjs): baseUrl defaults to this file's directory.
import { Hype, HypeError, setDefaultBaseUrl } from "./hypelua.mjs";
import { HypeLive } from "./live.mjs";

// (import.meta.url is undefined once an app's bundler turns this module into a classic
// script: then Hype.load() needs an explicit baseUrl instead of failing at import)
if (typeof import.meta.url === "string") setDefaultBaseUrl(new URL("./", import.meta.url).href);

export { Hype, HypeError, HypeLive };
