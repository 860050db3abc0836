"""``hype repl``: an interactive Lua prompt (like ``lua -i`` and Node's REPL).

Each complete input runs like the main chunk of ``hype run``
(:meth:`Runtime.execute_async`): top-level ``await``, timers and
``actor.receive`` work, and the input is over when the event loop is idle.
An expression (or a first line that compiles as ``return <line>``, as lua.c 5.4
tries first) prints its values; tables get a short preview.  An incomplete
chunk (a syntax error "near <eof>") continues on a ``..`` prompt.  ``local``
variables last one input, as in ``lua -i``.

:class:`Repl` is the line handler (no terminal I/O: tests drive it with
:meth:`Repl.push`); :func:`main_loop` adds prompts, readline history and
completion (:meth:`Repl.complete`) when standard input is a terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

from ._errors import HypeError, LuaSyntaxError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from ._runtime import Runtime

PROMPT, PROMPT2 = "> ", ".. "

HELP = """\
Lua 5.4 with hypelua's storage and event loop.  Each input runs as an async main chunk:
  await(p) / actor.receive() / timers work; the input ends when no work is left.
  An expression prints its value(s); `=expr` too.  An unfinished chunk continues on `..`.
  `local` variables last one input (like lua -i): use globals to keep values.
  Persisted tables of the database are globals (storage.table(name) reaches any).
Commands:
  .help     this text
  .exit     leave (Ctrl+D does too)
  .break    discard an unfinished multi-line input (Ctrl+C does too)
  .tables   the database's tables
Ctrl+C stops a running input (its remaining timers are cleared) and returns to the prompt.
Tab completes globals, table fields (string.f<Tab>) and methods (s:up<Tab>).
"""

#: Lua side: the runner that prints an input's results, the value preview, completion
_HELPER_LUA = r"""
local emit = ...
local type, tostring, pcall, next, rawget, select, getmetatable, pack =
  type, tostring, pcall, next, rawget, select, getmetatable, table.pack
local format, match, sort, concat = string.format, string.match, table.sort, table.concat
local mtype = math.type
local ENV = _ENV
local MAX_ITEMS, MAX_DEPTH = 20, 2

local function quote(s)
  return (format("%q", s):gsub("\\\n", "\\n"):gsub("\r", "\\r"))
end

local function custom(v)
  local ok, mt = pcall(getmetatable, v)
  if ok and type(mt) == "table" and rawget(mt, "__tostring") ~= nil then
    local ok2, s = pcall(tostring, v)
    if ok2 and type(s) == "string" then return s end
  end
  return nil
end

local KEY_ORDER = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (KEY_ORDER[ta] or 9) < (KEY_ORDER[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local show
local function show_table(t, depth, seen)
  local s = custom(t)
  if s then return s end
  if seen[t] then return "<cycle>" end
  if next(t) == nil then return "{}" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[t] = true
  local parts, n = {}, 0
  local i = 1
  while rawget(t, i) ~= nil and n < MAX_ITEMS do
    n = n + 1
    parts[n] = show(rawget(t, i), depth + 1, seen)
    i = i + 1
  end
  local count, keys = i - 1, {}
  for k in next, t do
    if not (mtype(k) == "integer" and k >= 1 and k <= count) then keys[#keys + 1] = k end
  end
  local total = count + #keys
  pcall(sort, keys, key_less)
  for _, k in ipairs(keys) do
    if n >= MAX_ITEMS then break end
    n = n + 1
    local name = type(k) == "string" and match(k, "^[%a_][%w_]*$") and k or "[" .. show(k, MAX_DEPTH, seen) .. "]"
    parts[n] = name .. " = " .. show(rawget(t, k), depth + 1, seen)
  end
  if total > n then parts[n + 1] = "... (" .. (total - n) .. " more)" end
  seen[t] = nil
  return "{ " .. concat(parts, ", ") .. " }"
end

function show(v, depth, seen)
  local t = type(v)
  if t == "string" then return depth == 0 and v or quote(v) end
  if t == "table" then return show_table(v, depth, seen) end
  return custom(v) or tostring(v)
end

-- the async main function of one input: run it, print what it returned
local function run(chunk)
  local r = pack(chunk())
  if r.n > 0 then
    local out = {}
    for i = 1, r.n do out[i] = show(r[i], 0, {}) end
    emit(concat(out, "\t") .. "\n")
  end
end

-- completion: the identifier keys of `t` (and of its __index tables); only functions with `methods`
local function fields(t, methods, out, depth)
  if depth > 8 then return end
  if type(t) == "table" then
    for k, v in next, t do
      if type(k) == "string" and match(k, "^[%a_][%w_]*$") and (not methods or type(v) == "function") then
        out[k] = true
      end
    end
  end
  local ok, mt = pcall(getmetatable, t)
  if ok and type(mt) == "table" then
    local index = rawget(mt, "__index")
    if type(index) == "table" then fields(index, methods, out, depth + 1) end
  end
end

local function lookup(t, k)
  if type(t) == "table" then
    local v = rawget(t, k)
    if v ~= nil then return v end
  end
  local ok, mt = pcall(getmetatable, t)
  if ok and type(mt) == "table" then
    local index = rawget(mt, "__index")
    if type(index) == "table" then return lookup(index, k) end
  end
  return nil
end

-- path: the names before the last separator (a list); tables: the database's table names
local function complete(path, methods, tables)
  local t = ENV
  for i = 1, #path do
    local name = path[i]
    local v = lookup(t, name)
    if v == nil and i == 1 and tables[name] then v = ENV[name] end -- a persisted table becomes a global
    if v == nil then return {} end
    t = v
  end
  local out = {}
  fields(t, methods, out, 0)
  local list = {}
  for k in next, out do list[#list + 1] = k end
  return list
end

return run, show, complete
"""

_CLEAR_TIMERS = """
local L = package.loaded["hype.loop"]
local probe = L.setTimeout(function() end, 1)
for id = 1, probe.id do L.clearTimeout(id) end
"""

_KEYWORDS = ("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
             "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while")

#: the dotted/colon name being completed, at the end of the text
_COMPLETE_RE = re.compile(r"((?:[A-Za-z_]\w*[.:])*)([A-Za-z_]\w*)?$")


def _write_text(stream: Any) -> Callable[[Any], None]:
    def write(text: Any) -> None:
        stream.write(text if isinstance(text, str) else bytes(text).decode("utf-8", "surrogateescape"))
    return write


def _print_error(exc: HypeError, err: Any) -> None:
    """``error[CODE]: message``, the Lua traceback without the REPL's own frames, the hint."""
    err.write(f"error[{exc.code}]: {exc.message}\n")
    tb = exc.details.get("traceback") if isinstance(exc.details, dict) else None
    if tb:
        text = str(tb).rstrip()
        if text.startswith(exc.message):
            text = text[len(exc.message):].lstrip("\n")
        text = text.replace("in local 'chunk'", "in main chunk")  # the input, as _HELPER_LUA's run() calls it
        lines = [ln for ln in text.split("\n")
                 if "(hype repl)" not in ln and "hype/loop.lua" not in ln and ln.strip() != "[C]: in ?"]
        if lines and lines != ["stack traceback:"]:
            err.write("\n".join(lines) + "\n")
    if exc.suggestion:
        err.write(f"hint: {exc.suggestion}\n")


class Repl:
    """The line handler of ``hype repl`` over one :class:`Runtime` (no terminal I/O).

    Args:
        rt: the runtime (``rt.watch()`` should be on, for Ctrl+C and ``timeout``).
        timeout: seconds each input may run (``TIMEOUT`` error), None: no limit.
        out, err: text streams for values / errors (default ``sys.stdout``/``sys.stderr``).
    """

    def __init__(self, rt: Runtime, *, timeout: float | None = None, out: Any = None, err: Any = None) -> None:
        import asyncio

        self.rt = rt
        self.timeout = timeout
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.buffer: list[str] = []
        self.done = False           # .exit was entered
        self.running = False        # an input is running (Ctrl+C interrupts it)
        self._count = 0
        self._task: Any = None
        self.aloop = asyncio.new_event_loop()
        vm = rt.vm
        emit = vm.register(None, _write_text(self.out))
        self._run, self._show, self._complete = vm.execute(_HELPER_LUA, emit, chunkname="=(hype repl)")

    # ------------------------------------------------------------ input
    @property
    def prompt(self) -> str:
        return PROMPT2 if self.buffer else PROMPT

    def push(self, line: str) -> bool:
        """Take one line; returns True when the input is unfinished (a ``..`` prompt follows)."""
        line = line.rstrip("\r\n")
        if not self.buffer and line.strip().startswith(".") and self._command(line.strip()):
            return False
        if self.buffer and line.strip() == ".break":
            self.buffer = []
            return False
        if not self.buffer and not line.strip():
            return False
        self.buffer.append(line)
        text = "\n".join(self.buffer)
        if text.startswith("="):
            text = "return " + text[1:]
        fn, name, error, more = self._compile(text)
        if more:
            return True
        self.buffer = []
        if error is not None:
            _print_error(error, self.err)
            return False
        self.run(fn, name, text)
        return False

    def finish(self) -> None:
        """End of input: an unfinished chunk is reported (like lua.c)."""
        if self.buffer:
            text, self.buffer = "\n".join(self.buffer), []
            try:
                self.rt.vm.load(text, f"=(repl {self._count + 1})", "t")
            except LuaSyntaxError as exc:
                _print_error(exc, self.err)

    def _compile(self, text: str) -> tuple[Any, str, HypeError | None, bool]:
        """(function, chunk name, error, unfinished): ``return <text>`` first, then the statements."""
        name = f"=(repl {self._count + 1})"
        load = self.rt.vm.load
        try:
            return load("return " + text, name, "t"), name, None, False
        except LuaSyntaxError as exc:
            ret_eof = exc.message.endswith("<eof>")
        try:
            return load(text, name, "t"), name, None, False
        except LuaSyntaxError as exc:
            if exc.message.endswith("<eof>") or ret_eof:
                return None, name, None, True
            return None, name, exc, False

    def _command(self, cmd: str) -> bool:
        if cmd == ".exit":
            self.done = True
        elif cmd == ".help":
            self.out.write(HELP)
        elif cmd == ".break":
            pass
        elif cmd == ".tables":
            try:
                names = self.rt.database.tables()
            except HypeError as exc:
                _print_error(exc, self.err)
                return True
            self.out.write(("\n".join(names) if names else "(no tables)") + "\n")
        else:
            return False  # not a command: Lua (a syntax error, most likely)
        return True

    # ------------------------------------------------------------ running
    def run(self, fn: Any, name: str, text: str) -> None:
        """Run one compiled input as an async main chunk until the event loop is idle."""
        import asyncio

        rt = self.rt
        self._count += 1
        # the source of functions defined here can be recovered when they are persisted
        rt._chunks[name] = text
        rt._sync_cache()
        rt._interrupted = False  # a Ctrl+C at the prompt is not meant for this input
        # (also clears a TIMEOUT/INTERRUPTED fired last time)
        rt.set_deadline(self.timeout, message=None if self.timeout is None else
                        f"the input ran longer than {self.timeout:g} s")
        failed = False
        self.running = True
        try:
            self._task = self.aloop.create_task(rt.loop.run_async(self._run, fn))
            self.aloop.run_until_complete(self._task)
        except asyncio.CancelledError:
            failed = True
            _print_error(HypeError("interrupted (Ctrl+C)", code="INTERRUPTED", suggestion=""), self.err)
        except HypeError as exc:
            failed = True
            _print_error(exc, self.err)
        finally:
            self.running = False
            self._task = None
            rt._interrupted = False
            rt._commit_if_open()
            if failed:
                self._reset_loop()
            self.out.flush()

    def _reset_loop(self) -> None:
        """After a failed or interrupted input: its remaining timers go, so the next input can be idle."""
        rt = self.rt
        rt.set_deadline(None)
        with contextlib.suppress(HypeError):
            rt.vm.execute(_CLEAR_TIMERS, chunkname="=(hype clear timers)")
        fatal = getattr(rt.loop, "_fatal", None)
        if isinstance(fatal, set):
            fatal.clear()
        errors = getattr(rt.loop, "_errors", None)
        if isinstance(errors, list):
            errors.clear()

    def interrupt(self) -> None:
        """Ctrl+C while an input runs: the watch hook stops running Lua code; an input that
        only waits (timers, promises) is cancelled."""
        self.rt.interrupt()
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self.aloop.call_soon_threadsafe(self._cancel_if_waiting)

    def _cancel_if_waiting(self) -> None:
        # runs between ticks: no Lua code runs now; a pending interrupt was not taken by the hook
        if self.rt.interrupt_pending and self._task is not None and not self._task.done():
            self._task.cancel()

    # ------------------------------------------------------------ completion
    def complete(self, text: str) -> list[str]:
        """Completions of the Lua name at the end of ``text``: globals (and keywords),
        ``t.field``, ``obj:method``.  Returns full replacements of the matched name."""
        m = _COMPLETE_RE.search(text)
        if m is None:
            return []
        head, partial = m.group(1), m.group(2) or ""
        start = text[:m.start()]
        methods = head.endswith(":")
        if ":" in head[:-1]:
            return []  # a method call is not a table to look into
        path = head[:-1].split(".") if head else []
        tables: dict[str, bool] = {}
        if not path or len(path) == 1:
            try:
                tables = {t: True for t in self.rt.database.tables()}
            except HypeError:
                tables = {}
        try:
            (names,) = self.rt.vm.call(self._complete, path, methods, tables)
        except HypeError:
            return []
        found = set(names.values() if isinstance(names, dict) else names or [])
        if not path:
            found |= set(_KEYWORDS)
            found |= {t for t in tables if t.isidentifier()}
        return sorted(start + head + n for n in found if n.startswith(partial))

    def close(self) -> None:
        self.aloop.close()


# ---------------------------------------------------------------- terminal
def history_file() -> str:
    """``$HYPE_HOME/repl_history`` when ``HYPE_HOME`` is set, else ``~/.hype_history``."""
    home = os.environ.get("HYPE_HOME")
    if home:
        return os.path.join(home, "repl_history")
    return os.path.join(os.path.expanduser("~"), ".hype_history")


def _setup_readline(repl: Repl) -> Any:
    try:
        import readline
    except ImportError:
        return None
    path = history_file()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)
    matches: list[str] = []

    def completer(text: str, state: int) -> str | None:
        nonlocal matches
        if state == 0:
            matches = repl.complete(text)
        return matches[state] if state < len(matches) else None

    readline.set_completer_delims(" \t\n`~!@#$%^&*()-=+[{]}\\|;'\",<>/?")
    readline.set_completer(completer)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline


def main_loop(repl: Repl, *, interactive: bool, banner: str = "") -> int:
    """Read lines until EOF or ``.exit``; prompts, history and completion when ``interactive``."""
    import signal

    readline = _setup_readline(repl) if interactive else None

    def on_sigint(signum: int, frame: object) -> None:
        if repl.running:
            repl.interrupt()
        else:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    repl.rt.watch()  # after our handler: the runtime keeps it; Ctrl+C reaches a Lua loop that never returns
    if interactive and banner:
        sys.stdout.write(banner)
    try:
        while not repl.done:
            try:
                if interactive:
                    sys.stdout.flush()
                    line = input(repl.prompt)
                else:
                    line = sys.stdin.readline()
                    if not line:
                        raise EOFError
                repl.push(line)
                sys.stdout.flush()
            except EOFError:
                if interactive:
                    sys.stdout.write("\n")
                repl.finish()
                break
            except KeyboardInterrupt:  # at the prompt (or between inputs): the unfinished input goes
                repl.buffer = []
                sys.stdout.write("\n(To exit, press Ctrl+D or type .exit)\n")
    finally:
        signal.signal(signal.SIGINT, old)
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file())
        sys.stdout.flush()
    return 0


def _cmd_repl(args: argparse.Namespace) -> int:
    from . import __version__
    from ._runtime import Runtime

    try:
        rt = Runtime(args.database, backend=args.backend, max_memory=args.max_memory, sandbox=args.sandbox,
                     project_root=os.getcwd() if args.sandbox else None)
    except HypeError as exc:
        _print_error(exc, sys.stderr)
        return 1
    try:
        repl = Repl(rt, timeout=args.timeout)
        interactive = sys.stdin.isatty()
        banner = (f"hypelua {__version__} (Lua 5.4, {getattr(rt.vm, 'backend_name', '?')}) "
                  f"database {args.database}{', sandboxed' if args.sandbox else ''}\n"
                  ".help for help, Ctrl+D to exit; `local`s last one input (like lua -i)\n")
        try:
            return main_loop(repl, interactive=interactive, banner=banner)
        finally:
            repl.close()
    finally:
        try:
            rt.close()
        except HypeError as exc:
            _print_error(exc, sys.stderr)


def register(subparsers: Any) -> None:
    """Add the ``repl`` subcommand to the ``hype`` parser."""
    p = subparsers.add_parser("repl", help="interactive Lua prompt (top-level await, storage, completion)")
    p.add_argument("--database", "-d", default="hype.db",
                   help="SQLite file holding the external tables (default: ./hype.db; ':memory:' for none)")
    p.add_argument("--backend", default=None, choices=["lupa", "ctypes"], help="Lua back-end")
    p.add_argument("--sandbox", action="store_true",
                   help="untrusted code: the allow-list environment of hype run --sandbox")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop an input that runs longer than this (error TIMEOUT)")
    p.add_argument("--max-memory", type=int, default=None, metavar="BYTES", help="Lua heap limit in bytes")
    p.set_defaults(func=_cmd_repl)
