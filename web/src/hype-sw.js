// hypelua service worker (dist/web/hype-sw.js): answers same-origin requests under a
// path prefix with the Lua app loaded in a page's hypelua worker. Opt-in, registered by
// `await hype.routeFetches("/api/")` (the prefixes travel in the script URL:
// hype-sw.js?prefix=/api/&prefix=/v2/, so they survive the service worker being stopped).
//
// For a matching request the service worker posts {type: "hype-sw-fetch", method, url,
// headers, body} with a MessageChannel port to a page that called routeFetches (the
// requesting page first); the page acknowledges at once ("accepted"), runs `hype.fetch`
// and answers {type: "response", status, headers, body} or {type: "error", error}.
// Requests outside the prefixes, or to other origins, are not touched (the network
// answers). With no page able to answer: 503 {"error": {"code": "NO_HYPE_CLIENT", ...}}.

const PREFIXES = (() => {
  const list = new URL(self.location.href).searchParams.getAll("prefix").filter((p) => p.startsWith("/"));
  return list.length ? list : ["/api/"];
})();
/** how long a page has to acknowledge a forwarded request (ms) before the next is tried */
const ACK_MS = 2000;
/** statuses whose responses carry no body */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** ids of the window clients that called routeFetches (lost when the browser stops this worker) */
const ready = new Set();

self.addEventListener("install", () => {
  self.skipWaiting(); // a new version (or new prefixes) takes over at once
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim()); // control the page that registered us, on its first load
});

self.addEventListener("message", (event) => {
  const source = event.source;
  if (event.data?.type === "hype-sw-hello" && source && source.id) ready.add(source.id);
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !PREFIXES.some((p) => url.pathname.startsWith(p))) return;
  event.respondWith(answer(event));
});

function jsonError(status, code, message, suggestion) {
  return new Response(JSON.stringify({ error: { code, message, suggestion } }), {
    status, headers: { "content-type": "application/json" },
  });
}

/** Window clients to ask, best first: the requesting page, pages that said hello, then the rest. */
async function candidates(event) {
  const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const id of ready) if (!all.some((c) => c.id === id)) ready.delete(id);  // closed pages
  const rank = (c) => (c.id === event.clientId ? 0 : 1) + (ready.has(c.id) ? 0 : 2);
  return all.sort((a, b) => rank(a) - rank(b));
}

/** Forward one request to `client`; resolves with its answer, or null when it does not acknowledge. */
function ask(client, message) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    let timer = setTimeout(() => { channel.port1.close(); resolve(null); }, ACK_MS);
    channel.port1.onmessage = (ev) => {
      const data = ev.data ?? {};
      if (data.type === "accepted") {
        clearTimeout(timer);  // the page has it: wait as long as the app takes
        timer = null;
        return;
      }
      if (timer) clearTimeout(timer);
      channel.port1.close();
      resolve(data);
    };
    const transfer = message.body ? [message.body] : [];
    client.postMessage({ type: "hype-sw-fetch", ...message }, [channel.port2, ...transfer]);
  });
}

async function answer(event) {
  const request = event.request;
  const method = request.method.toUpperCase();
  let body = null;
  if (method !== "GET" && method !== "HEAD") {
    body = await request.arrayBuffer();
    if (!body.byteLength) body = null;
  }
  const headers = [...request.headers];
  for (const client of await candidates(event)) {
    const reply = await ask(client, { method, url: request.url, headers, body: body ? body.slice(0) : null });
    if (reply === null) {
      ready.delete(client.id);
      continue;
    }
    ready.add(client.id);
    if (reply.type === "response") {
      const out = new Headers();
      for (const [name, value] of reply.headers ?? []) {
        try { out.append(name, value); } catch { /* not a valid header for fetch: dropped */ }
      }
      const noBody = method === "HEAD" || NULL_BODY.has(reply.status);
      return new Response(noBody ? null : reply.body, { status: reply.status, headers: out });
    }
    const err = reply.error ?? {};
    return jsonError(err.code === "BAD_REQUEST" ? 400 : 503, err.code ?? "HYPE_ERROR", err.message ?? "the page failed",
      err.suggestion ?? "");
  }
  return jsonError(503, "NO_HYPE_CLIENT", `no page is answering requests for ${PREFIXES.join(", ")}`,
    "Open a page that loads hypelua and calls hype.loadApp(...) and hype.routeFetches(...).");
}
