// Type declarations of the `hypelua` npm package (dist/web/hypelua.mjs, the ESM bundle).
// Hand-written from web/src/hypelua.mjs, web/src/errors.mjs and web/src/live.mjs; keep them
// in step with those files (playwright/test_npm_package.py type-checks a program against them).
//
//   import { Hype, HypeError, HypeLive } from "hypelua";
//   const hype = await Hype.load({ baseUrl: "/hypelua/", database: "app" });
//   await hype.run("return 6 * 7");   // [42]

// ------------------------------------------------------------------ values

/**
 * Plain data crossing between JS and the worker (JSON, plus the conversions `toWire` makes):
 * `Uint8Array`/`ArrayBuffer` <-> `{"$bytes": base64}` (back as `Uint8Array`), `NaN`/`Infinity`
 * both ways, safe `BigInt`s as numbers. Functions, cycles, `Map`s, class instances and unsafe
 * `BigInt`s reject with `NOT_STORABLE`.
 */
export type HypeValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | HypeValue[]
  | { [key: string]: HypeValue };

/** What may be passed in: `HypeValue`, plus what converts to one (`undefined`, ArrayBuffer, views, BigInt). */
export type HypeInput =
  | HypeValue
  | undefined
  | bigint
  | ArrayBuffer
  | ArrayBufferView
  | readonly HypeInput[]
  | { readonly [key: string]: HypeInput };

/** A key of an external table: a string or an integer. */
export type TableKey = string | number;

/** `options.timeout` of the calls running Lua (ms; default 10000). */
export interface TimeoutOptions {
  timeout?: number;
}

export interface Progress {
  done: number;
  total: number;
}

// ------------------------------------------------------------------ errors

/**
 * Codes hypelua raises on purpose (web/src, py/hypelua, lua/hype). `HypeError.code` is typed
 * `HypeErrorCode`: these, with editor completion, plus any other string, since Lua code can
 * raise its own codes and a few are composed at run time (e.g. `<X>_TOO_LARGE`).
 */
export type KnownHypeErrorCode =
  // the page and the worker
  | "HYPE_ERROR" | "WORKER_ERROR" | "CONFIG_ERROR" | "TIMEOUT" | "INTERNAL_ERROR" | "INVALID_ARGUMENT"
  | "UNSUPPORTED" | "BAD_REQUEST" | "BAD_ARGUMENT" | "BAD_OPTION" | "CONVERSION_ERROR" | "INTERRUPTED"
  // Lua
  | "LUA_SYNTAX_ERROR" | "LUA_RUNTIME_ERROR" | "LUA_MEMORY_ERROR" | "LUA_CLOSED" | "LIMIT_EXCEEDED"
  | "UNCAUGHT_ERROR" | "UNHANDLED_REJECTION" | "UNSETTLED_TOP_LEVEL_AWAIT" | "LOOP_ERROR"
  | "MODULE_NOT_FOUND" | "MODULE_OUTSIDE_SANDBOX" | "SANDBOXED" | "NOT_A_FUNCTION" | "BYTECODE_REJECTED"
  // storage
  | "NOT_STORABLE" | "BATCH_FAILED" | "BAD_OPERATION" | "UPDATE_NOT_A_MAP" | "BAD_TABLE_NAME"
  | "BAD_FIELD_PATH" | "BAD_INDEX" | "INDEX_EXISTS" | "UNIQUE_VIOLATION" | "BAD_QUERY" | "BAD_QUERY_VALUE"
  | "BAD_OPERATOR" | "BAD_CURSOR" | "BAD_SCHEMA" | "SCHEMA_VIOLATION" | "MIGRATION_FAILED" | "STEP_RAISED"
  | "STORAGE_ERROR" | "DATABASE_ERROR" | "DATABASE_BUSY" | "DATABASE_CLOSED" | "DATABASE_CORRUPT"
  | "DATABASE_FORMAT" | "DATABASE_PATH" | "DATABASE_READ_ONLY" | "INDEXEDDB_ERROR" | "BACKEND_UNAVAILABLE"
  | "BAD_EXPORT"
  // project files, packages, tests
  | "FILE_NOT_FOUND" | "FILE_EXISTS" | "IS_A_DIRECTORY" | "PATH_NOT_FOUND" | "PATH_OUTSIDE_PROJECT"
  | "NO_PROJECT" | "REQUEST_TOO_LARGE" | "NO_TESTS" | "PACKAGE_ERROR" | "PACKAGE_NOT_FOUND"
  | "NO_MATCHING_VERSION" | "INVALID_RANGE" | "INTEGRITY_MISMATCH" | "REGISTRY_ERROR" | "REGISTRY_UNREACHABLE"
  | "REGISTRY_DOCUMENT_INVALID" | "REGISTRY_DOCUMENT_TOO_LARGE" | "TARBALL_NOT_FOUND" | "TARBALL_TOO_LARGE"
  | "TREE_TOO_LARGE" | "UNSAFE_TARBALL" | "UNSAFE_INSTALL_PATH" | "MANIFEST_INVALID" | "MANIFEST_NOT_FOUND"
  | "MANIFEST_EXISTS" | "MANIFEST_TOO_LARGE" | "LOCKFILE_INVALID" | "LOCKFILE_OUT_OF_DATE" | "VERSION_EXISTS"
  | "SCRIPT_NOT_FOUND"
  // HTTP apps, service worker
  | "NO_APP" | "BAD_APP" | "APP_NOT_FOUND" | "APP_LOAD_FAILED" | "BAD_RESPONSE" | "RESPONSE_TOO_LARGE"
  | "HTTP_ERROR" | "HTTP_BAD_ROUTE" | "HTTP_NOT_AN_APP" | "HTTP_NO_EXPORT" | "HTTP_OUTSIDE_ROOT"
  | "SERVICE_WORKER_FAILED" | "NOT_FOUND"
  // LiveView
  | "LIVE_ERROR" | "LIVE_NOT_A_VIEW" | "NO_VIEW" | "VIEW_CRASHED" | "NO_TEMPLATE" | "TEMPLATE_SYNTAX"
  | "TEMPLATE_RUNTIME" | "TEMPLATE_TYPE" | "BAD_FRAME" | "BAD_FORM" | "BAD_SESSION" | "NO_SESSION"
  | "NOT_JOINED" | "JOIN_FAILED" | "TOO_MANY_SESSIONS" | "CLOSED" | "DISCONNECTED" | "BAD_TOPIC"
  | "BAD_PUBSUB" | "NO_PUBSUB" | "PUBSUB_UNAVAILABLE"
  // actors
  | "ACTOR_ERROR" | "ACTOR_BAD_MESSAGE" | "ACTOR_BAD_SPAWN";

/** `KnownHypeErrorCode`, open to other strings (still completing the known ones). */
export type HypeErrorCode = KnownHypeErrorCode | (string & {});

/** The error shape shared by every hypelua surface: `{code, message, details, suggestion}`. */
export interface HypeErrorData {
  code: HypeErrorCode;
  message: string;
  details: Record<string, unknown>;
  suggestion: string;
}

/** What every call rejects with. */
export class HypeError extends Error {
  constructor(code: HypeErrorCode, message: string, details?: Record<string, unknown>, suggestion?: string);
  name: "HypeError";
  /** stable SCREAMING_SNAKE identifier, e.g. "LUA_SYNTAX_ERROR" */
  code: HypeErrorCode;
  /** plain-data context (`traceback` for Lua errors, `index`/`cause` for BATCH_FAILED, ...) */
  details: Record<string, unknown>;
  /** what to do about it ("" when there is nothing to say) */
  suggestion: string;
  /** what the chunk printed before failing, when it printed something */
  output?: string;
  /** A HypeError as is; an Error as `fallbackCode`; a plain `{code, message, details, suggestion}`. */
  static from(obj: unknown, fallbackCode?: HypeErrorCode): HypeError;
  toJSON(): HypeErrorData;
  toString(): string;
}

// ------------------------------------------------------------------ Hype.load

export interface BootStatus {
  /** e.g. "pyodide", "wheels", "runtime" */
  phase: string;
  /** ms since the worker started */
  ms: number;
}

export interface HypeLoadOptions {
  /**
   * URL of the directory holding worker.mjs, manifest.json, pyodide/ and wheels/ (a copy of
   * node_modules/hypelua/dist/web/). Default: the directory hypelua.mjs / hypelua.js was
   * loaded from (for a bundled app: the directory of the app's bundle).
   */
  baseUrl?: string | URL;
  /** IndexedDB database name (stored as "hypelua:<name>"); default "hypelua" */
  database?: string;
  /** Lua/Python print output, line by line (default console.log) */
  stdout?: (line: string) => void;
  /** Python stderr and warnings, line by line (default console.warn) */
  stderr?: (line: string) => void;
  /** boot progress */
  onStatus?: (status: BootStatus) => void;
  /** default package registry URL of `install()` (must send CORS headers) */
  registry?: string | null;
  /** run untrusted Lua in the sandbox (allow-list environment, 256 MiB heap); README "Sandbox" */
  sandbox?: boolean;
}

// ------------------------------------------------------------------ results

export interface RunFileOptions extends TimeoutOptions {
  /** become the chunk's `...` */
  args?: HypeInput[];
}

export interface FileWritten {
  path: string;
  /** bytes (UTF-8) */
  size: number;
}

export interface FileEntry {
  path: string;
  type: "file" | "dir";
  size: number;
}

export interface InstallOptions {
  registry?: string;
  dev?: boolean;
  onProgress?: (p: Progress) => void;
}

export interface InstallResult {
  added: Record<string, string>;
  packages: Record<string, unknown>;
  fetched: number;
  changed: boolean;
  lock_written: boolean;
}

export interface TestResult {
  file: string;
  name: string;
  full_name: string;
  path: string[];
  status: "passed" | "failed" | "pending";
  message: string | null;
  duration_ms: number;
}

export interface TestRun {
  results: TestResult[];
  summary: { passed: number; failed: number; pending: number; total: number };
  /** the run as TAP text */
  tap: string;
}

export interface RunTestsOptions {
  /** run only the tests whose full name contains this */
  filter?: string;
  /** per test, ms (default 5000) */
  timeout?: number;
}

export interface PersistFunctionOptions {
  compress?: boolean;
}

export interface PersistedFunctionInfo {
  table: string;
  key: TableKey;
  bytecode_bytes: number;
  source_bytes: number;
  compressed: boolean;
  [field: string]: unknown;
}

export interface TableEntrySummary {
  key: TableKey;
  /** "function" or the Lua type of the value */
  kind: string;
  /** stored size, bytes */
  size: number;
  compressed: boolean;
  preview?: string;
  [field: string]: unknown;
}

export interface TableSummary {
  name: string;
  entries: TableEntrySummary[];
}

export interface HypeInfo {
  version: string;
  python: string;
  lua_backend: string;
  storage_backend: string;
  [field: string]: unknown;
}

export interface IndexInfo {
  name: string;
  fields: string[];
  unique: boolean;
  [field: string]: unknown;
}

export type QueryOperator = "=" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "between" | "prefix" | "contains";

export interface QueryCondition {
  /** a field path, e.g. "users.age" */
  field: string;
  operator: QueryOperator;
  /** an array of two for "between", of candidates for "in" */
  value?: HypeInput;
}

export interface Query {
  field?: string;
  operator?: QueryOperator;
  value?: HypeInput;
  /** a conjunction of conditions */
  where?: QueryCondition[];
  order?: "asc" | "desc" | { field?: string; direction?: "asc" | "desc" };
  /** field path to sort by (default: the first condition's field, else the key) */
  orderBy?: string;
  limit?: number;
  offset?: number;
  /** `rows.cursor` of the previous page */
  cursor?: string | null;
}

export interface Row<V = HypeValue> {
  key: TableKey;
  /** stored values come back as JS values; a persisted function as `{$function: source}` */
  value: V;
}

/** `queryTable`'s rows, with the next page's cursor (null on the last page). */
export type Rows<V = HypeValue> = Row<V>[] & { cursor: string | null };

export interface QueryPlan {
  plan: "index" | "full_scan";
  index: string | null;
  [field: string]: unknown;
}

export type BatchOperation =
  | { type: "set"; table: string; key: TableKey; value: HypeInput }
  | { type: "update"; table: string; key: TableKey; value: HypeInput }
  | { type: "get"; table: string; key: TableKey }
  | { type: "delete"; table: string; key: TableKey };

export interface BatchOptions {
  onProgress?: (p: Progress) => void;
}

export interface MigrationSpec {
  /** `{2: "function(key, row) row.x = 1 return row end"}`: Lua source; returning nil deletes the row */
  steps?: Record<number | string, string>;
  schema?: Record<string, unknown>;
  toVersion?: number;
}

export interface MigrationResult {
  table: string;
  from_version: number;
  to_version: number;
  rows: number;
  deleted: number;
}

export interface TableStats {
  rows: number;
  bytes_raw: number;
  bytes_stored: number;
  ratio: number;
  indexes: unknown[];
  [field: string]: unknown;
}

export interface StorageStats {
  tables: Record<string, TableStats>;
  rows: number;
  bytes_raw: number;
  bytes_stored: number;
  ratio: number;
  [field: string]: unknown;
}

export interface CompactResult {
  entries: number;
  ops: number;
  [field: string]: unknown;
}

// ------------------------------------------------------------------ HTTP apps

export interface LoadAppSpec {
  /** a project file returning the app */
  path?: string;
  /** the app's Lua source (e.g. an editor buffer) */
  source?: string;
  /** names `source` in error messages (default "=app") */
  chunkname?: string;
  /** `hypelua.http.lua_app` keyword arguments */
  options?: Record<string, HypeInput>;
}

export interface HypeFetchInit extends RequestInit {
  /** ms (default 30000): a handler still busy then gives a 503 */
  timeout?: number;
}

export interface RouteFetchesOptions {
  /** service worker scope (default "/") */
  scope?: string;
  /** default `<baseUrl>hype-sw.js` */
  serviceWorkerUrl?: string;
  /** ms to wait for the service worker to control the page (default 30000) */
  timeout?: number;
}

export interface FetchRouting {
  prefixes: string[];
  scope: string;
  unroute(): Promise<boolean>;
}

// ------------------------------------------------------------------ actors

export interface ActorProcessInfo {
  /** e.g. "<0.12.0>" */
  pid: string;
  status: string;
  mailbox: number;
  reductions: number;
  /** bytes, or null when unknown */
  memory: number | null;
  links: string[];
  monitors: number;
  name: string | null;
  kind: string | null;
}

/** The hub of actor nodes: node 0 is the page's worker, `spawn{ worker = "new" }` starts others. */
export interface ActorHub {
  /** the live node numbers (0: the page's worker) */
  nodes(): number[];
  /** the live processes of the page's worker ([] while hype.actor was never required) */
  processes(): Promise<ActorProcessInfo[]>;
  /** stop node `node`'s worker (not 0); false for an unknown node */
  terminate(node: number): boolean;
}

// ------------------------------------------------------------------ Hype

/** A hypelua worker: a Lua 5.4 VM and Python (Pyodide), with persistent storage. */
export class Hype {
  /** Start the worker and boot Pyodide + hypelua. */
  static load(options?: HypeLoadOptions): Promise<Hype>;

  /** Internal: use `Hype.load()`. */
  private constructor(worker: Worker, opts: unknown);

  /** the resolved baseUrl (ends with "/") */
  readonly baseUrl: string;
  readonly database: string;
  /** run untrusted Lua in the sandbox (also after a worker restart) */
  readonly sandbox: boolean;
  /** boot timings reported by the worker (ms since the worker started) */
  timings: Record<string, number>;
  /** how many times a runaway call made hypelua replace the worker */
  restarts: number;
  /** hype.actor nodes and processes */
  readonly actors: ActorHub;

  /** Run a Lua chunk (async main chunk); resolves with its return values once its work is idle. */
  run(code: string, options?: TimeoutOptions): Promise<HypeValue[]>;
  /** Like `run`, resolving with the first return value. */
  compute(code: string, options?: TimeoutOptions): Promise<HypeValue>;
  /** A fresh Lua state (the HTTP app is unloaded); storage and project files stay. */
  reset(): Promise<null>;

  // project files
  writeFile(path: string, text: string): Promise<FileWritten>;
  readFile(path: string): Promise<string>;
  listFiles(dir?: string, options?: { all?: boolean }): Promise<FileEntry[]>;
  removeFile(path: string): Promise<boolean>;
  /** Run a project Lua file as the main chunk; resolves with its return values. */
  runFile(path: string, options?: RunFileOptions): Promise<HypeValue[]>;
  /** Install packages into the project (hype.json, hype-lock.json, hype_modules/). */
  install(packages?: string | string[], options?: InstallOptions): Promise<InstallResult>;
  /** Run spec files (`*_spec.lua`, `*.test.lua`) with `hype test`'s runner. */
  runTests(paths?: string | string[] | null, options?: RunTestsOptions): Promise<TestRun>;

  // external tables
  /** Persist a Lua function (source of a function expression) as `table[key]`. */
  persistFunction(table: string, key: TableKey, code: string, options?: PersistFunctionOptions): Promise<PersistedFunctionInfo>;
  tables(): Promise<TableSummary[]>;
  deleteEntry(table: string, key: TableKey): Promise<boolean>;
  /** Wait until every pending write is durable in IndexedDB. */
  flush(): Promise<null>;
  info(): Promise<HypeInfo>;

  // storage
  /** Create a B-tree index; resolves with its name (the fields joined by "+"). */
  createIndex(table: string, fieldOrFields: string | string[], kind?: "btree", options?: { unique?: boolean }): Promise<string>;
  createIndex(table: string, fieldOrFields: string | string[], options: { unique?: boolean }): Promise<string>;
  dropIndex(table: string, nameOrFields: string | string[]): Promise<boolean>;
  indexes(table: string): Promise<IndexInfo[]>;
  queryTable<V = HypeValue>(table: string, query?: Query): Promise<Rows<V>>;
  explain(table: string, query?: Query): Promise<QueryPlan>;
  /** Apply operations atomically and durably; one result per operation (the value for "get"). */
  batchTableOperations(ops: BatchOperation[], options?: BatchOptions): Promise<HypeValue[]>;
  /** Attach a JSON Schema (draft 2020-12); resolves with the recorded version. */
  defineSchema(table: string, schema: Record<string, unknown> | boolean, version?: number): Promise<number>;
  migrate(table: string, spec?: MigrationSpec): Promise<MigrationResult>;
  stats(): Promise<StorageStats>;
  /** Fold the IndexedDB journal into its rows store now. */
  compact(): Promise<CompactResult>;

  // HTTP apps in the worker
  /** Load a Lua HTTP app (`require("hype.http").app()`): a project file path, or `{source}`. */
  loadApp(spec: string | LoadAppSpec): Promise<{ app: string }>;
  /** Unload the HTTP app; resolves with whether one was loaded. */
  unloadApp(): Promise<boolean>;
  /** `fetch()` answered by the loaded Lua app, in the worker (no network). */
  fetch(input: Request | string | URL, init?: HypeFetchInit): Promise<Response>;
  /** Route the page's own requests under `prefixes` to the app through a service worker (hype-sw.js). */
  routeFetches(prefixes?: string | string[], options?: RouteFetchesOptions): Promise<FetchRouting>;

  // LiveView in the worker
  /** Mount a LiveView (`"counter.lua"` or `"package.module:Class"`) running in the worker on `element`. */
  mountLive(element: Element, target: string, params?: Record<string, HypeInput>,
            options?: LiveConnectionOptions): Promise<LiveConnection>;

  /** Stop the worker; pending and later calls reject with WORKER_ERROR. */
  terminate(): void;
}

// ------------------------------------------------------------------ LiveView connector

/** An error reply, a refused join, or a lost connection. */
declare class LiveError extends Error {
  constructor(error: { code?: string; message?: string; hint?: string } | string);
  name: "LiveError";
  code: HypeErrorCode;
  hint: string;
  error: Record<string, unknown>;
}

declare class LiveFormatError extends Error {}

/** A hook (`hype-hook="Name"`): `this` is its instance. */
export interface LiveHook {
  mounted?(this: LiveHookInstance): void;
  updated?(this: LiveHookInstance): void;
  destroyed?(this: LiveHookInstance): void;
  reconnected?(this: LiveHookInstance): void;
  [method: string]: unknown;
}

export interface LiveHookInstance {
  el: Element;
  liveConnection: LiveConnection;
  pushEvent(event: string, payload?: Record<string, unknown>): Promise<LiveReply>;
  [field: string]: unknown;
}

/** A reply frame of the LiveView protocol. */
export interface LiveReply {
  v: number;
  t: string;
  ref?: number;
  [field: string]: unknown;
}

export interface LiveTransport {
  open(): Promise<void>;
  send(text: string): void;
  close(): void;
  onmessage?: (text: string) => void;
  onclose?: (info?: { reason?: string }) => void;
}

export interface LiveConnectionOptions {
  path?: string;
  params?: Record<string, unknown>;
  session?: string | null;
  hooks?: Record<string, LiveHook>;
  /** follow the page URL (`popstate` sends `patch`) */
  history?: boolean;
  heartbeatMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  modelDebounceMs?: number;
  defaultDebounceMs?: number;
}

export type LiveStatus = "idle" | "connecting" | "connected" | "disconnected" | "error" | "closed";

declare class LiveConnection {
  constructor(root: Element, transport: LiveTransport, options?: LiveConnectionOptions);
  readonly root: Element;
  readonly transport: LiveTransport;
  path: string;
  params: Record<string, unknown>;
  session: string | null;
  hooks: Record<string, LiveHook>;
  status: LiveStatus;
  /** how many joins succeeded (1 after the first connect) */
  joins: number;
  /** delays (ms) of the reconnects scheduled so far */
  reconnectDelays: number[];
  /** Join (and keep re-joining after drops); resolves after the first join, rejects when refused. */
  connect(): Promise<void>;
  /** Leave: the session is freed; no reconnect. */
  close(): void;
  /** Send an event; resolves with the reply once its diff is applied, rejects with a LiveError. */
  pushEvent(event: string, payload?: Record<string, unknown>,
            options?: { cid?: number; el?: Element; domEvent?: string }): Promise<LiveReply>;
  /** Live navigation inside the view (`handle_params`); the page URL follows. */
  pushPatch(url: string, options?: { replace?: boolean }): Promise<LiveReply | null>;
  /** `{field: value}` of every `hype-model` control in the root. */
  formValues(): Record<string, unknown>;
}

declare class WebSocketTransport implements LiveTransport {
  /** a ws:/wss: URL, or a path resolved against the page */
  constructor(url: string);
  open(): Promise<void>;
  send(text: string): void;
  close(): void;
}

declare class WorkerTransport implements LiveTransport {
  constructor(hype: Hype, target: string);
  open(): Promise<void>;
  send(text: string): void;
  close(): void;
}

export interface LiveConnectOptions extends LiveConnectionOptions {
  /** default: a WebSocket to the element's `data-hype-ws` */
  transport?: LiveTransport;
}

/** The LiveView connector (also `window.HypeLive` of hypelua.js and hype-live.js). */
export interface HypeLiveApi {
  /** protocol version */
  version: number;
  /** the global hook registry: `HypeLive.hooks.Name = { mounted() {...} }` */
  hooks: Record<string, LiveHook>;
  /** Connect `el` to its LiveView (default: a WebSocket to `data-hype-ws`, path `data-hype-live`). */
  connect(el: Element, options?: LiveConnectOptions): LiveConnection;
  /** Connect every `[data-hype-live]` element of `root` not connected yet. */
  connectAll(root?: ParentNode, options?: LiveConnectOptions): LiveConnection[];
  LiveConnection: typeof LiveConnection;
  LiveError: typeof LiveError;
  LiveFormatError: typeof LiveFormatError;
  WebSocketTransport: typeof WebSocketTransport;
  WorkerTransport: typeof WorkerTransport;
  applyDiff(state: unknown, diff: unknown): unknown;
  toHtml(state: unknown, statics?: unknown): string;
  formObject(form: HTMLFormElement, submitter?: Element | null): Record<string, unknown>;
  parseBinding(attrName: string): Record<string, unknown>;
}

export const HypeLive: HypeLiveApi;

// The connector's classes are reached at run time through `HypeLive` (HypeLive.LiveConnection, ...);
// the ESM bundle exports Hype, HypeError and HypeLive only: types here, no values.
export type { LiveConnection, LiveError, LiveFormatError, WebSocketTransport, WorkerTransport };
// (no implicit exports: only what is marked `export` above is part of the module)
export {};
