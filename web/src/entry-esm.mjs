// ESM entry (npm "hypelua", dist/web/hypelua.mjs): baseUrl defaults to this file's directory.
import { Hype, HypeError, setDefaultBaseUrl } from "./hypelua.mjs";
import { HypeLive } from "./live.mjs";

setDefaultBaseUrl(new URL("./", import.meta.url).href);

export { Hype, HypeError, HypeLive };
