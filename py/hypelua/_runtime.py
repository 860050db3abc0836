"""``Runtime``: one Lua VM wired to one Database (external tables) and the host.

The same class runs natively (lupa, SQLite) and in the browser (ctypes over our
Lua side module, IndexedDB); see :mod:`hypelua.browser` for the worker side.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable

from . import _errors
from ._errors import HypeError, LuaSyntaxError, NotStorableError, StorageError
from .lua import LuaFunction, LuaVM, open_vm

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .actors import Actors
    from .storage import Database, PersistedFunction

FN_TAG = "\0hype.function"
_LUA_KEYWORDS = frozenset((
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
))


#: default Lua heap limit of a sandboxed runtime (bytes)
SANDBOX_MAX_MEMORY = 256 * 1024 * 1024


_WATCH_LUA = """
-- The watch machinery (Runtime.watch): a count hook that calls the host's
-- check() on the main thread and on every coroutine (coroutine.create and
-- coroutine.wrap are replaced so new coroutines take the hook), and the
-- user-visible pcall / xpcall / coroutine.resume / coroutine.wrap, which let a
-- fired TIMEOUT or INTERRUPTED through instead of swallowing it: once fired,
-- check() keeps raising until the host resets the deadline.  While watching,
-- debug.sethook/gethook (unsandboxed code; a coverage tool) compose a user hook
-- with the watch hook instead of removing it.
local check = ...
local create, resume, close, status, running =
  coroutine.create, coroutine.resume, coroutine.close, coroutine.status, coroutine.running
local sethook, gethook, getinfo, error, type, pcall, xpcall, select, tointeger, max =
  debug.sethook, debug.gethook, debug.getinfo, error, type, pcall, xpcall, select, math.tointeger, math.max
local every, fired = 0, false

-- The hook never interrupts the runtime's own Lua code (the chunks named in
-- `internal`; the sandbox's load() refuses these names to user chunks): the
-- error is raised at the next count event that lands in user code, so the event
-- loop's or the test runner's state is never left half-updated.
local internal = {}
for name in ("@hype/loop.lua @hype/events.lua @hype/external.lua @hype/storage.lua @hype/test.lua "
  .. "@hype/sandbox.lua @hype/http.lua @hype/json.lua @hype/actor.lua "
  .. "=(hype) =(hype~boot) =(hype~watch) =(hype~require) "
  .. "=(hype~loop~boot) =(hype~test~boot) =(hype~clear~timers)"):gmatch("%S+") do
  internal[name:gsub("~", " ")] = true
end
-- `level`: the running function's stack level as seen from this function
local function watch_at(level)
  if internal[getinfo(level, "S").source] then return end
  local ok, e = pcall(check)
  if not ok then fired = true; error(e, 0) end
end
local function hook()
  watch_at(3) -- 1 watch_at, 2 hook, 3 the running function
end

-- user hooks while watching: thread -> { fn, mask, count, n (count events seen), k (check every k) }
-- Count events that expire while a hook function runs are dropped by Lua, and a
-- line hook on a one-instruction loop can phase-lock them out entirely: the other
-- events check the deadline too, every EVENTS_PER_CHECK of them.
local user = setmetatable({}, { __mode = "k" })
local EVENTS_PER_CHECK, events = 10000, 0
local function combined(event, line)
  local u = user[running()]
  if event == "count" then
    if u == nil or u.count == 0 then
      watch_at(3) -- 1 watch_at, 2 combined, 3 the running function
      return
    end
    u.n = u.n + 1
    if u.n >= u.k then u.n = 0; watch_at(3) end
  else
    events = events + 1
    if events >= EVENTS_PER_CHECK then events = 0; watch_at(3) end
  end
  if u ~= nil then return u.fn(event, line) end -- a tail call: the user hook sees the usual levels
end
local function user_sethook(...)
  local th, fn, mask, count
  if select("#", ...) > 0 and type((...)) == "thread" then th, fn, mask, count = ...
  else th = running(); fn, mask, count = ... end
  if every == 0 then return sethook(th, fn, mask, count) end
  if fn == nil then
    user[th] = nil
    return sethook(th, hook, "", every)
  end
  if type(fn) ~= "function" then error("bad argument to 'sethook' (function expected)", 2) end
  count = tointeger(count) or 0
  mask = type(mask) == "string" and mask or ""
  user[th] = { fn = fn, mask = mask, count = count, n = 0, k = count > 0 and max(1, every // count) or 1 }
  return sethook(th, combined, mask, count > 0 and count or every)
end
local function user_gethook(th)
  if every == 0 then
    if th ~= nil then return gethook(th) end
    return gethook()
  end
  local u = user[th or running()]
  if u ~= nil then return u.fn, u.mask, u.count end
  return nil
end
local function refire()
  local ok, e = pcall(check)
  if not ok then error(e, 0) end
  fired = false -- the host reset its deadline meanwhile
end
local function hcreate(f)
  local co = create(f)
  if every > 0 then sethook(co, hook, "", every) end
  return co
end
local function finish(ok, ...)
  if not ok and fired then refire() end
  return ok, ...
end
local function wrap_finish(co, ok, ...)
  if ok then return ... end
  if fired then refire() end
  local e = ...
  if status(co) == "dead" then
    local closed, e2 = pcall(close, co) -- run its to-be-closed variables, like auxwrap
    if not closed then e = e2 end
  end
  if type(e) == "string" and e ~= "not enough memory" then error(e, 2) end
  error(e, 0)
end
local function hwrap(f)
  local co = hcreate(f)
  return function(...) return wrap_finish(co, resume(co, ...)) end
end
coroutine.create = hcreate
return {
  start = function(n)
    every = n
    if n > 0 then sethook(hook, "", n) else sethook() end
  end,
  reset = function() fired = false end,
  -- user-visible replacements (installed in _G at the end of Runtime.__init__)
  pcall = function(f, ...) return finish(pcall(f, ...)) end,
  xpcall = function(f, h, ...) return finish(xpcall(f, h, ...)) end,
  resume = function(co, ...) return finish(resume(co, ...)) end,
  wrap = hwrap,
  create = hcreate,
  sethook = user_sethook,
  gethook = user_gethook,
  internal = internal,
  -- the plain functions, for the runtime's own Lua code (hype.test catches a
  -- test's TIMEOUT and goes on with the next test)
  raw = { pcall = pcall, xpcall = xpcall, resume = resume },
  -- whether a TIMEOUT/INTERRUPTED fired and the host has not reset it yet
  fired = function() return fired end,
}
"""

_WATCH_USER = """
local W = ...
pcall, xpcall, coroutine.resume, coroutine.wrap = W.pcall, W.xpcall, W.resume, W.wrap
debug.sethook, debug.gethook = W.sethook, W.gethook
package.loaded["hype.watch"] = W
-- hype.preempt (C, preloaded by the back-end when built; not in the sandbox's
-- package.loaded).  Its resume is the raw one (like W.raw.resume: the scheduler of
-- hype.actor keeps its bookkeeping when a process fails with a fired TIMEOUT); the
-- watch raises the fired error again in the next user code it reaches.
local open = package.preload["hype.preempt"]
package.preload["hype.preempt"] = nil
if open ~= nil then
  local preempt = open("hype.preempt")
  if preempt.set_internal then preempt.set_internal(W.internal) end  -- never yield inside the runtime's Lua
  package.loaded["hype.preempt"] = preempt
end
"""


def console_writer(stream: Any = None) -> Callable[[str], None]:
    """A ``stdout`` callable for :class:`Runtime` writing to a text ``stream``
    (default ``sys.stdout``, looked up at each call).

    Lua strings that are not UTF-8 reach it as text with surrogate escapes
    (``str(..., "surrogateescape")``); they are written to the stream's binary
    buffer as the original bytes, so ``print("\\xff\\xfe")`` writes those two bytes.
    """

    def write(text: str) -> None:
        out = stream if stream is not None else sys.stdout
        try:
            out.write(text)
        except UnicodeEncodeError:
            buffer = getattr(out, "buffer", None)
            data = text.encode(getattr(out, "encoding", None) or "utf-8", "surrogateescape")
            if buffer is None:
                out.write(data.decode("utf-8", "replace"))
                return
            out.flush()
            buffer.write(data)
            buffer.flush()

    return write


def lua_dir() -> str:
    """Directory holding the shipped Lua library (``hype/*.lua``), as a string."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "_lua")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(os.path.dirname(here)), "lua")  # <repo>/py/hypelua -> <repo>/lua


def types_dir() -> str:
    """Directory of the LuaLS annotations (``---@meta`` files for the globals and built-in
    modules): ``lua/types`` in a checkout, ``hypelua/_lua/types`` in the wheel."""
    return os.path.join(lua_dir(), "types")


def lua_path() -> Path:
    """:func:`lua_dir` as a :class:`pathlib.Path`."""
    from pathlib import Path

    return Path(lua_dir())


def lua_source(name: str) -> str:
    """Source text of the shipped library module ``hype/<name>.lua``."""
    with open(os.path.join(lua_dir(), "hype", name + ".lua"), encoding="utf-8") as f:
        return f.read()


def _is_identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier()


class Runtime:
    """A Lua 5.4 runtime with persistent external tables.

    Args:
        database: ``":memory:"``, an SQLite file path, or an open :class:`Database`.
        backend: Lua back-end name (``"lupa"``, ``"ctypes"``); default per platform.
        max_memory: Lua heap limit in bytes (None: unlimited).
        hmac_key: key authenticating persisted bytecode (default: per-database key).
        stdout: callable receiving text written by Lua ``print`` (default ``sys.stdout.write``).
        external_tables: names always defined as external-table globals (``Memory``).
        vm_options: extra keyword arguments for :func:`hypelua.lua.open_vm`.
        sandbox: run untrusted code (SPEC 5; ``lua/hype/sandbox.lua``): user code runs
            in an allow-list environment (no ``debug`` but ``debug.traceback``, no
            ``io``, no ``os`` beyond ``time/clock/date/difftime``, no ``string.dump``,
            no ``dofile``/``loadfile``/C modules, text-only ``load``, restricted
            ``collectgarbage``); ``require`` is confined to ``project_root``, its
            ``hype_modules`` and the safe built-ins; the heap is capped at
            :data:`SANDBOX_MAX_MEMORY` unless ``max_memory`` is given; a deadline set
            with :meth:`watch` cannot be removed or swallowed.  External tables keep
            working: persisted functions are loaded by the runtime's own, HMAC-checked path.
        project_root: the project directory: base of ``require`` from chunks that are
            not files, and the sandbox's confinement root (default: the working directory).

    Every table that exists in the database and whose name is a free Lua
    identifier becomes a global too (looked up on first use of an undefined
    global); ``storage.table(name)`` reaches any table.

    Start-up is lazy (``hype run hello.lua`` is a start-up benchmark): the
    database is opened, and the storage engine imported, on first use.
    """

    def __init__(
        self,
        database: str | Path | Database = ":memory:",
        *,
        backend: str | None = None,
        max_memory: int | None = None,
        hmac_key: bytes | None = None,
        stdout: Callable[[str], Any] | None = None,
        external_tables: Iterable[str] = ("Memory",),
        vm_options: dict[str, Any] | None = None,
        sandbox: bool = False,
        project_root: str | Path | None = None,
    ) -> None:
        if sandbox and max_memory is None:
            max_memory = SANDBOX_MAX_MEMORY
        self.sandbox = sandbox
        self._database: Database | None = None
        self._database_spec = (database, hmac_key)
        if not isinstance(database, (str, os.PathLike)):
            self._attach(database)
        self.vm: LuaVM = open_vm(backend, max_memory=max_memory, **(vm_options or {}))
        self._stdout = stdout or console_writer()
        self._deadline: float | None = None    # time.monotonic() limit of the watch hook
        self._deadline_s: float | None = None
        self._deadline_message: str | None = None
        self._fired: HypeError | None = None   # TIMEOUT / INTERRUPTED raised by the hook, until reset
        self._interrupted = False
        self._watching = False
        self._chunks: dict[str, str] = {}
        self._cache_dirty = False
        self._own_write = False
        self._tx: list[Any] = []                # open storage.transaction()s, innermost last
        self._counter = itertools.count(1)
        #: tag of function descriptors handed to Lua (secret: plain data cannot forge one)
        self._fn_tag = f"{FN_TAG}:{os.urandom(12).hex()}"
        self._boot()
        # --- extension point: runtime features (require, event loop, ...) install here ---
        self.loop = self._install_loop()
        self._actors: Actors | None = None
        modules = __import__("hypelua.modules").modules
        root = None if project_root is None else os.path.abspath(os.fspath(project_root))
        #: the project directory (``require`` base of non-file chunks, sandbox root); None: the working directory
        self.project_root = root
        if sandbox:
            root = root or os.getcwd()
            modules.install_require(self, modules.Resolver(roots=[root], cwd=root))
        else:
            modules.install_require(self, modules.Resolver(cwd=root) if root else None)
        __import__("hypelua.http._preload").http._preload.install(self)  # require("hype.http"), loaded on first use
        # user code sees the pcall/xpcall/resume/wrap that let a fired deadline through
        self.vm.execute(_WATCH_USER, self._watch_api, chunkname="=(hype watch)")
        for name in external_tables:
            self.define_global(name)
        if sandbox:
            api = self._external_api
            self.vm.execute(lua_source("sandbox"), self._watch_api, self._globals_index, api["set_env"],
                            self._configure_require, chunkname="@hype/sandbox.lua")

    def watch(self, *, deadline_s: float | None = None, every: int = 1_000_000) -> None:
        """Let the host interrupt Lua code that never returns (``while true do end``).

        Sets a ``debug.sethook`` count hook on the main Lua thread and on every
        coroutine created afterwards (``coroutine.create`` *and* ``coroutine.wrap``)
        that calls into Python every ``every`` VM instructions.  There the running
        code fails with ``TIMEOUT`` once the deadline (``deadline_s`` seconds from
        now; see :meth:`set_deadline`) has passed, and with ``INTERRUPTED`` after
        Ctrl+C: in the main thread, SIGINT is routed to a flag (a ``KeyboardInterrupt``
        raised at an arbitrary point of a callback could not be told apart from a
        Lua error).  Once fired, the error cannot be swallowed: ``pcall``,
        ``xpcall``, ``coroutine.resume`` and ``coroutine.wrap`` re-raise it until the
        deadline is reset.  Costs one bridge crossing per ``every`` instructions.

        The hook is removable by code that has ``debug.sethook`` (not sandboxed
        code), and it cannot interrupt a single long call into C (e.g. a
        pathological ``string.find`` pattern): ``hype run`` backs it with a
        process-level watchdog for that.
        """
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            def on_sigint(signum: int, frame: object) -> None:
                self.interrupt()

            signal.signal(signal.SIGINT, on_sigint)
        self.set_deadline(deadline_s)
        self.vm.call(self._watch_api["start"], int(every))
        self._watching = True

    @property
    def watching(self) -> bool:
        """True once :meth:`watch` installed the hook."""
        return self._watching

    def interrupt(self) -> None:
        """Ctrl+C from any thread: the watch hook raises ``INTERRUPTED`` in the next user code it reaches."""
        self._interrupted = True

    @property
    def interrupt_pending(self) -> bool:
        """True from :meth:`interrupt` until the watch hook has raised ``INTERRUPTED``."""
        return self._interrupted

    def set_deadline(self, seconds: float | None, *, message: str | None = None) -> None:
        """Arm (or with None, disarm) the deadline of the watch hook (see :meth:`watch`).

        Args:
            seconds: the running code fails with ``TIMEOUT`` once this many seconds
                (wall clock, from now) have passed; None: no deadline.
            message: the error message (default: "the script ran longer than N s").
        Also clears a fired ``TIMEOUT``/``INTERRUPTED``, so code can run again
        (``hype test`` arms one deadline per test).
        """
        self._deadline = None if seconds is None else time.monotonic() + float(seconds)
        self._deadline_s = seconds
        self._deadline_message = message
        if self._fired is not None:
            self._fired = None
            self.vm.call(self._watch_api["reset"])

    def _watch_check(self) -> None:
        """Called by the count hook (and to re-raise): raises the fired error, if any."""
        fired = self._fired
        if fired is None:
            if self._interrupted:
                self._interrupted = False
                fired = HypeError("interrupted (Ctrl+C)", code="INTERRUPTED", suggestion="")
            elif self._deadline is not None and time.monotonic() > self._deadline:
                fired = HypeError(self._deadline_message or f"the script ran longer than {self._deadline_s} s",
                                  code="TIMEOUT", details={"timeout_s": self._deadline_s},
                                  suggestion="Look for a loop that never ends, or raise the timeout.")
            else:
                return
            self._fired = fired
        raise fired.with_traceback(None)

    @property
    def actors(self) -> Actors:
        """The runtime's actor scheduler from Python (:class:`hypelua.actors.Actors`: spawn,
        send, call Lua processes; ``spawn_python`` for Python processes).  Made on first use."""
        if self._actors is None:
            from .actors import Actors

            self._actors = Actors(self)
        return self._actors

    @property
    def database(self) -> Database:
        """The :class:`~hypelua.storage.Database` of the external tables (opened on first use)."""
        if self._database is None:
            from .storage import Database

            database, hmac_key = self._database_spec
            self._attach(Database.open(database, hmac_key=hmac_key))
        return self._database  # type: ignore[return-value]

    def _attach(self, database: Database) -> None:
        self._database = database
        database.listeners.append(self._on_database_write)

    def _commit_if_open(self) -> None:
        if self._database is not None:
            self._database.commit()

    # ---------------------------------------------------------------- set-up
    def _boot(self) -> None:
        vm = self.vm
        host = {
            "get": self._host_get,
            "set": self._host_set,
            "keys": lambda table: [k for k, _ in self.database.backend.items(table)],
            "count": lambda table: self.database.backend.count(table),
            "fail": self._host_fail,
            "tables": lambda: self.database.tables(),
            "fn_tag": self._fn_tag,
        }
        src = lua_source("external")
        (api,) = vm.execute(src, host, chunkname="@hype/external.lua")
        api["tables"] = vm.register(None, host["tables"])
        self._external_api = api
        self._external: LuaFunction = api["external"]
        self._invalidate: LuaFunction = api["invalidate"]
        self._compiles: LuaFunction = api["compiles"]
        self._encode: LuaFunction = api["encode"]
        write = self._stdout

        def print_(text: str | bytes) -> None:
            write(text if type(text) is str else text.decode("utf-8", "surrogateescape"))

        vm.register("__hype_write", print_)
        vm.execute(
            """
            local write, select, tostring, concat = __hype_write, select, tostring, table.concat
            __hype_write = nil
            function print(...)
              local n, parts = select("#", ...), {}
              for i = 1, n do parts[i] = tostring((select(i, ...))) end
              write(concat(parts, "\\t") .. "\\n")
            end
            """,
            chunkname="=(hype boot)",
        )
        # the watch machinery (see watch()): coroutine.create is replaced before the
        # event loop is installed, so the loop's coroutines take the watch hook too
        (self._watch_api,) = vm.execute(_WATCH_LUA, vm.register(None, self._watch_check),
                                        chunkname="=(hype watch)")
        # library modules that require() loads from lua/hype/ by absolute path (the actor
        # scheduler and its behaviours keep state the hook must not leave half-updated)
        for rel in ("actor.lua", "actor/server.lua", "actor/supervisor.lua", "actor/code.lua"):
            vm.execute("local internal, name = ...; internal[name] = true",
                       self._watch_api["internal"], "@" + os.path.join(lua_dir(), "hype", rel))
        # spawn{ worker = ... }: the first one attaches this scheduler to a transport between
        # schedulers (OS processes natively, Web Workers in the browser: hypelua.actors._node)
        vm.execute('package.loaded["hype.actor.attach"] = ...', vm.register(None, self._attach_actor_node),
                   chunkname="=(hype boot)")
        # actor.protocol(json_schema): validated by jsonschema (hypelua.actors._schema)
        from .actors._schema import SchemaProtocols

        schemas = SchemaProtocols()
        vm.execute('package.loaded["hype.actor.jsonschema"] = { compile = select(1, ...), check = select(2, ...) }',
                   vm.register(None, schemas.compile), vm.register(None, schemas.check), chunkname="=(hype boot)")
        # existing tables become globals when first named (the database opens then);
        # the same __index serves the sandbox's environment
        (self._globals_index,) = vm.execute(
            """
            local external, tables = ...
            local type, rawset, ipairs, match, known = type, rawset, ipairs, string.match, nil
            local function index(env, name)
              if type(name) ~= "string" or not match(name, "^[%a_][%w_]*$") then return nil end
              if known == nil then
                known = {}
                for _, t in ipairs(tables()) do known[t] = true end
              end
              if known[name] then
                local proxy = external(name)
                rawset(env, name, proxy)
                return proxy
              end
            end
            setmetatable(_G, { __index = index })
            return index
            """,
            self._external, api["tables"],
            chunkname="=(hype boot)",
        )
        storage_src = lua_source("storage")
        storage_host = {
            "fail": self._host_fail,
            "batch": self._host_batch,
            "begin_tx": self._host_begin_tx,
            "commit_tx": self._host_commit_tx,
            "rollback_tx": self._host_rollback_tx,
            "create_index": self._host_create_index,
            "drop_index": lambda table, name: self.database.drop_index(table, name),
            "query": self._host_query,
            "explain": lambda table, spec: self.database.explain(table, spec),
            "define_schema": self._host_define_schema,
            "check_table_name": self._host_check_table_name,
            "migrate": self._host_migrate,
            "stats": lambda: self.database.stats(),
        }
        (storage_api,) = vm.execute(storage_src, storage_host, api, chunkname="@hype/storage.lua")
        vm.set_global("storage", storage_api)

    def _attach_actor_node(self) -> None:
        from .actors._node import attach_default

        attach_default(self)

    def define_global(self, name: str) -> None:
        """Make the external table ``name`` a Lua global, if ``name`` is a free identifier."""
        if not _is_identifier(name) or name in _LUA_KEYWORDS:
            return
        self.vm.execute(
            "local name, external = ... if rawget(_G, name) == nil then rawset(_G, name, external(name)) end",
            name, self._external,
        )

    # --------------------------------------------------- host callbacks (Lua)
    def _host_fail(self, code: str, message: str) -> None:
        """Raise the typed error ``code`` for the Lua side (never returns)."""
        code, message = str(code), str(message)
        if code == "NOT_STORABLE":
            raise NotStorableError(message)
        if code == "BYTECODE_REJECTED":
            raise _errors.BytecodeRejectedError(message)
        if code == "LUA_SYNTAX_ERROR":
            raise LuaSyntaxError(message)
        hints = {
            "BAD_ARGUMENT": "Check the arguments against the storage API (README, section Lua).",
            "BAD_OPERATION": "Pass a list of operations: { { type = 'set', table = 't', key = 'k', value = v } }.",
            "BAD_TABLE_NAME": "Use a non-empty string of at most 128 characters, e.g. storage.table('users').",
        }
        raise StorageError(message, code=code, suggestion=hints.get(code, ""))

    def _on_database_write(self, table: str | None, key: Any) -> None:
        if not self._own_write:
            self._cache_dirty = True

    def _sync_cache(self) -> None:
        """Drop Lua's cache of revived functions if Python changed the database."""
        if self._cache_dirty:
            self._cache_dirty = False
            self.vm.call(self._invalidate)

    def _host_batch(self, ops: Any) -> list[Any]:
        self._own_write = True
        try:
            # the values were just converted from Lua: nobody else holds them
            results = self.database.batch([self.from_lua_tagged(op) for op in _as_list(ops)], copy_values=False)
        finally:
            self._own_write = False
        return [self.to_lua_tagged(r) for r in results]

    def _host_begin_tx(self) -> None:
        """Open a (possibly nested) transaction for ``storage.transaction``.

        The outermost one takes the database's write lock now (see
        :meth:`Database.transaction`).
        Raises ``DATABASE_BUSY`` when the lock is not granted in time.
        """
        tx = self.database.transaction()
        tx.__enter__()
        self._tx.append(tx)

    def _host_commit_tx(self) -> None:
        if self._tx:
            self._tx.pop().__exit__(None, None, None)

    def _host_rollback_tx(self) -> None:
        if self._tx:
            tx = self._tx.pop()
            err = RuntimeError("Lua transaction failed")
            try:
                tx.__exit__(RuntimeError, err, None)
            except RuntimeError as exc:  # the transaction rolled back and re-raised our marker
                if exc is not err:
                    raise

    def _host_create_index(self, table: str, fields: Any, opts: Any) -> str:
        opts = opts if isinstance(opts, dict) else {}
        if isinstance(fields, dict) and not fields:
            fields = []
        return self.database.create_index(table, fields, kind=str(opts.get("kind", "btree")),
                                          unique=bool(opts.get("unique", False)))

    def _host_query(self, table: str, spec: Any) -> dict[str, Any]:
        result = self.database.query(table, spec if isinstance(spec, dict) else {})
        return {"rows": [{"key": k, "value": self.to_lua_tagged(v)} for k, v in result], "cursor": result.cursor}

    def _host_check_table_name(self, name: Any) -> None:
        """``storage.table(name)``: raise ``BAD_TABLE_NAME`` for a bad name (no database access)."""
        from .storage._database import check_table_name

        check_table_name(name)

    def _host_define_schema(self, table: Any, schema: Any, version: Any = None) -> int:
        """``storage.define_schema``: every argument is checked before anything is written.

        Raises:
            StorageError: ``BAD_ARGUMENT`` (version not a non-negative integer up to 2^53),
            ``BAD_SCHEMA``, ``BAD_TABLE_NAME``, ``SCHEMA_VIOLATION``.
        """
        from .storage._schema import check_version

        return self.database.define_schema(table, schema, None if version is None else check_version(version))

    def _host_migrate(self, table: str, steps: Any, opts: Any) -> dict[str, Any]:
        """``storage.migrate``: ``steps`` is a list of ``[version, fn]`` pairs (checked by the
        Lua side), ``opts`` ``{schema, to_version}``.

        Raises:
            StorageError: ``BAD_ARGUMENT`` for a malformed step, version or option
            (nothing written); ``MIGRATION_FAILED`` with ``details.step`` when a step fails.
        """
        from .storage._schema import check_version

        opts = opts if isinstance(opts, dict) else {}
        fns: dict[int, Any] = {}
        for pair in _as_list(steps):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], LuaFunction):
                raise StorageError("a migration step must be [version, function]", code="BAD_ARGUMENT")
            version, fn = check_version(pair[0], what="migration step version"), pair[1]
            fns[version] = (
                lambda key, value, fn=fn: self.from_lua_tagged(fn(key, self.to_lua_tagged(value))[0])
            )
        to_version = opts.get("to_version")
        if to_version is not None:
            to_version = check_version(to_version, what="to_version")
        return self.database.migrate(table, fns, schema=opts.get("schema"), to_version=to_version)

    def _host_get(self, table: str, key: Any) -> Any:
        value = self.database.load(table, key)
        return self.to_lua_tagged(value)

    def _host_set(self, table: str, key: Any, value: Any) -> None:
        self._own_write = True
        try:
            self.database.set(table, key, self.from_lua_tagged(value))
        finally:
            self._own_write = False

    def to_lua_tagged(self, value: Any) -> Any:
        """Plain data with :class:`PersistedFunction` -> the Lua side's tagged form, with
        this runtime's secret descriptor tag (see :func:`to_lua_tagged`)."""
        return to_lua_tagged(value, self._fn_tag)

    def from_lua_tagged(self, value: Any) -> Any:
        """Plain data from Lua's tagged form (function descriptors -> :class:`PersistedFunction`)."""
        t = type(value)
        if t is dict:
            if FN_TAG in value and len(value) == 1:
                return self._descriptor_to_function(value[FN_TAG])
            return {k: self.from_lua_tagged(v) for k, v in value.items()}
        if t is list:
            return [self.from_lua_tagged(v) for v in value]
        return value

    def _descriptor_to_function(self, d: dict[str, Any]) -> PersistedFunction:
        from .storage._codec import PersistedFunction
        if "cfunction" in d:
            return PersistedFunction(cfunction=str(d["cfunction"]))
        bytecode = d["bytecode"]
        if isinstance(bytecode, str):
            bytecode = bytecode.encode("utf-8", "surrogatepass")
        ups = []
        for up in d.get("upvalues") or []:
            if not isinstance(up, dict):
                continue
            item: dict[str, Any] = {"name": str(up.get("name", "?"))}
            if up.get("env"):
                item["env"] = True
            elif up.get("self"):
                item["self"] = True
            else:
                item["value"] = self.from_lua_tagged(up.get("value"))
            ups.append(item)
        chunkname = str(d.get("chunk", "=?"))
        source = d.get("text") or self._recover_source(chunkname, int(d.get("first", 0)), int(d.get("last", 0)))
        name = chunkname if chunkname[:1] in ("=", "@") else "=(persisted)"
        return PersistedFunction(bytecode=bytecode, source=source, name=name, upvalues=ups)

    def _recover_source(self, chunkname: str, first: int, last: int) -> str | None:
        text = self._chunks.get(chunkname)
        if text is None and chunkname.startswith("@"):
            try:
                with open(chunkname[1:], encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                return None
        if text is None or first <= 0:
            return None
        from .storage._functions import extract_source

        return extract_source(text, first, last, lambda code: bool(self._compiles(code)[0]))

    # ------------------------------------------------------------ public API
    def execute(self, source: str, *args: Any, chunkname: str | None = None) -> tuple[Any, ...]:
        """Run Lua ``source`` with ``args`` as ``...``; returns all results as plain data.

        Writes to external tables are committed when the chunk returns (also
        when it fails: assignments that happened, happened).

        Raises:
            LuaSyntaxError, LuaError, LuaMemoryError, StorageError subclasses.
        """
        name = chunkname or f"=(run {next(self._counter)})"
        self._chunks[name] = source
        self._sync_cache()
        try:
            return self.vm.execute(source, *args, chunkname=name)
        finally:
            self._commit_if_open()

    def execute_file(self, path: str | Path, *args: Any) -> tuple[Any, ...]:
        """Run a Lua file (chunk name ``@<path>``).  Raises :class:`HypeError` ``FILE_NOT_FOUND``."""
        text, name = _read_lua_file(path)
        return self.execute(text, *args, chunkname=name)

    async def execute_async(self, source: str, *args: Any, chunkname: str | None = None,
                            idle: bool = True) -> tuple[Any, ...]:
        """Run ``source`` as an async function on the host loop, then wait until
        the writes are durable (IndexedDB flush).

        Top-level ``await(p)`` works; a single returned promise is awaited.
        With ``idle`` (default) the loop is driven until no timer, microtask or
        host future is left (like Node); with ``idle=False`` only until the
        chunk's own promise settles.

        Returns:
            The chunk's results (or the awaited promise's value) as a tuple.
        Raises:
            LuaSyntaxError, LuaError (also for a rejected top-level promise),
            UncaughtLuaError, UnhandledRejectionError, UnsettledAwaitError.
        """
        name = chunkname or f"=(run {next(self._counter)})"
        self._chunks[name] = source
        self._sync_cache()
        try:
            fn = self.vm.load(source, name, "t")
            return await self.loop.run_async(fn, *args, idle=idle)
        finally:
            self._commit_if_open()
            if self._database is not None:
                await self._database.flush()

    async def run_until_idle(self) -> None:
        """Drive the host loop until Lua has no timers, microtasks or host futures left."""
        await self.loop.run_until_idle()

    def run_main(self, path: str | Path, *args: Any) -> tuple[Any, ...]:
        """``hype run``: run a Lua file as the main chunk (top-level ``await``
        allowed) and drive the event loop until no work is left.

        asyncio starts only if timers or host futures remain after the chunk.
        Raises what :meth:`execute_async` raises, and ``FILE_NOT_FOUND``.
        """
        text, name = _read_lua_file(path)
        self._chunks[name] = text
        try:
            return self.loop.run_sync(self.vm.load(text, name, "t"), *args)
        finally:
            self._commit_if_open()

    def _install_loop(self) -> Any:
        from ._loop import EventLoop

        return EventLoop(self.vm, after_tick=self._commit_if_open)

    def persist_function(self, table: str, key: str | int, code: str, *, compress: bool = False
                         ) -> dict[str, Any]:
        """Compile ``code`` (a Lua function expression) and store it in ``table[key]``.

        The PRD's ``persistFunction``: bytecode plus the exact source text, signed.

        Returns:
            ``{"table", "key", "bytecode_bytes", "source_bytes", "compressed"}``.
        Raises:
            LuaSyntaxError: ``code`` does not compile; ``NotStorableError`` if it is
            not a function or captures unstorable values.
        """
        name = f"=({table}.{key})"
        fn = self.vm.load("return " + code, name, "t", self.vm.globals_handle())
        (value,) = self.vm.call(fn)[:1] or (None,)
        if not isinstance(value, LuaFunction):
            raise NotStorableError(
                f"persistFunction expects a function expression, got {type(value).__name__}",
                code="NOT_A_FUNCTION",
                suggestion="Pass code like 'function(x, y) return x * y end'.",
            )
        (tagged,) = self.vm.call(self._encode, value)
        tagged[FN_TAG]["text"] = code.strip()
        pf = self.from_lua_tagged(tagged)
        pf.name = name
        self.database.set(table, key, pf, compress=compress)
        self.database.commit()
        self.define_global(table)
        return {
            "table": table,
            "key": key,
            "bytecode_bytes": len(pf.bytecode or b""),
            "source_bytes": len((pf.source or "").encode("utf-8")),
            "compressed": compress,
        }

    def set(self, table: str, key: str | int, value: Any) -> None:
        """Store plain data from Python in an external table (and refresh Lua's cache)."""
        self.database.set(table, key, value)
        self.database.commit()
        self.define_global(table)

    def external_table(self, name: str) -> None:
        """Make sure the external table ``name`` exists as a Lua global."""
        self.database.create_table(name)
        self.database.commit()
        self.define_global(name)

    def close(self) -> None:
        """Commit, close the database and the Lua VM (and the actor node's other schedulers,
        if ``spawn{ worker = ... }`` started any)."""
        node = getattr(self, "_actor_node", None)
        if node is not None:
            self._actor_node = None
            node.close()
        try:
            if self._database is not None:
                self._database.close()
        finally:
            self.vm.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_lua_file(path: str | Path) -> tuple[str, str]:
    """(source text, chunk name ``@<path>``); a shebang line becomes a comment."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise HypeError(f"cannot read {p!r}: {exc.strerror}", code="FILE_NOT_FOUND",
                        details={"path": p}, suggestion="Check the file name.") from exc
    if text.startswith("#"):
        text = "--" + text  # shebang line, like lua.c
    return text, "@" + p


def _as_list(value: Any) -> list[Any]:
    """A Lua sequence arrives as a list, an empty table as ``{}``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and not value:
        return []
    raise StorageError("expected a list", code="BAD_OPERATION")


def to_lua_tagged(value: Any, tag: str = FN_TAG) -> Any:
    """Plain data with :class:`PersistedFunction` -> the Lua side's tagged form.

    A function becomes ``{tag: descriptor}``; ``tag`` is the runtime's secret tag
    (:meth:`Runtime.to_lua_tagged`), so a plain dict that uses the key
    ``"\\0hype.function"`` stays plain data in Lua instead of being revived.
    """
    from .storage._codec import PersistedFunction
    t = type(value)
    if t is PersistedFunction:
        d: dict[str, Any] = {"name": value.name, "upvalues": [
            {**up, "value": to_lua_tagged(up["value"], tag)} if "value" in up else up for up in value.upvalues
        ]}
        if value.bytecode is not None:
            d["bytecode"] = value.bytecode
        if value.source is not None:
            d["source"] = value.source
        if value.cfunction is not None:
            d["cfunction"] = value.cfunction
        return {tag: d}
    if t is dict:
        return {k: to_lua_tagged(v, tag) for k, v in value.items()}
    if t is list:
        return [to_lua_tagged(v, tag) for v in value]
    return value
