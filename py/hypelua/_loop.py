"""Bridge between Lua's event loop (``lua/hype/loop.lua``) and the host loop.

SPEC rule 4: the host owns the event loop -- asyncio natively, Pyodide's
WebLoop in the browser.  Only APIs both provide are used: ``call_soon``,
``call_later``, futures and tasks (``asyncio.ensure_future``).

SPEC rule 3: microtasks, promise resolution and event dispatch run inside Lua.
Python only wakes Lua up: one ``tick(now_ms, inbox)`` call per timer batch
runs every due timer (each followed by a microtask drain), delivers the
results of host futures awaited from Lua, and hands back the settled
Lua promises Python awaits, uncaught errors and unhandled rejections.

asyncio is imported lazily: a script that uses no timer and awaits no host
future never imports it (``hype run`` start-up time is a target).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

from ._errors import (
    HypeError,
    LuaError,
    LuaMemoryError,
    UncaughtLuaError,
    UnhandledRejectionError,
    UnsettledAwaitError,
)
from .lua import LuaFunction, LuaVM

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

_BOOT = """
local chunk, events, host = ...
local M = chunk(host)
events()
return M.tick, M.track, M.host_function, M.alive
"""


def _running_loop() -> Any:
    """The running asyncio loop, or None -- without importing asyncio."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    return aio._get_running_loop()


def _seq(t: Any, n: int) -> list[Any]:
    """A Lua flat array of ``n`` slots (holes for nil) as a Python list."""
    if isinstance(t, list):
        return t + [None] * (n - len(t))
    if isinstance(t, dict):
        return [t.get(i) for i in range(1, n + 1)]
    return []


def _unpack(packed: Any) -> tuple[Any, ...]:
    """``table.pack`` result (``{n=.., 1=..}``) -> tuple."""
    if isinstance(packed, dict):
        n = int(packed.get("n", 0))
        return tuple(packed.get(i) for i in range(1, n + 1))
    if isinstance(packed, list):  # n == 0 never gives a list
        return tuple(packed)
    return ()


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if value is None or isinstance(value, bool | int | float | str | bytes | LuaFunction):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int | float | bool) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class EventLoop:
    """Lua timers, promises and async functions driven by the host loop.

    Installed on every :class:`hypelua.Runtime` as ``rt.loop``; usable on a
    bare :class:`~hypelua.lua.LuaVM` too.

    Args:
        vm: the Lua VM (loop.lua is executed in it; globals ``Promise``,
            ``setTimeout``, ``setInterval``, ``clearTimeout``, ``clearInterval``,
            ``queueMicrotask``, ``async``, ``await`` are defined, and
            ``package.loaded["hype.loop" | "hype.promise" | "hype.timers" | "hype.events"]``).
        after_tick: called after every tick (the Runtime commits external tables).
        on_unhandled_rejection: ``fn(reasons: list[str])``; default: raise
            :class:`UnhandledRejectionError` from the awaiting call.

    Time is in milliseconds (``time.monotonic() * 1000``) on both sides.
    """

    def __init__(self, vm: LuaVM, *, after_tick: Callable[[], Any] | None = None,
                 on_unhandled_rejection: Callable[[list[str]], Any] | None = None) -> None:
        self.vm = vm
        self.after_tick = after_tick
        #: called before every tick (server mode re-arms the per-request deadline here)
        self.before_tick: Callable[[], Any] | None = None
        self.on_unhandled_rejection = on_unhandled_rejection
        from ._runtime import lua_source

        chunk = vm.load(lua_source("loop"), "@hype/loop.lua", "t")
        events = vm.load(lua_source("events"), "@hype/events.lua", "t")
        host = {"now": self._now, "wake": self._wake, "soon": self._soon}
        self._tick, self._track, self._host_function, self._alive = vm.execute(
            _BOOT, chunk, events, host, chunkname="=(hype loop boot)")
        self._aloop: Any = None          # asyncio loop our handles belong to
        self._soon_handle: Any = None
        self._timer_handle: Any = None
        self._timer_due: float | None = None
        self._needs_tick = False
        self._inbox: list[Any] = []      # flat: id, ok, value
        self._deferred: list[tuple[int, Callable[..., Any], tuple[Any, ...]]] = []
        self._waiters: dict[int, Any] = {}            # waiter id -> asyncio.Future
        self._settled: dict[int, tuple[bool, Any, str]] = {}
        self._fatal: set[int] = set()                 # waiter ids whose failure stops the loop
        self._idle_waiters: list[Any] = []
        self._errors: list[HypeError] = []
        self._alive_flag = False
        self._ticking = False

    # ------------------------------------------------------ host callbacks
    @staticmethod
    def _now() -> float:
        return time.monotonic() * 1000.0

    def _wake(self, due: float) -> None:
        loop = _running_loop()
        if loop is None:
            self._needs_tick = True
            return
        self._attach(loop)
        self._arm(due)

    def _soon(self) -> None:
        loop = _running_loop()
        if loop is None:
            self._needs_tick = True
            return
        self._attach(loop)
        self._schedule_soon()

    # ------------------------------------------------------------ plumbing
    def _attach(self, loop: Any) -> None:
        if loop is self._aloop:
            return
        self._aloop = loop
        self._soon_handle = self._timer_handle = None
        self._timer_due = None
        deferred, self._deferred = self._deferred, []
        for fid, fn, args in deferred:
            self._spawn(fid, fn, args)
        self._schedule_soon()  # the tick reports the next due timer

    def _schedule_soon(self) -> None:
        if self._soon_handle is None:
            self._soon_handle = self._aloop.call_soon(self._on_soon)

    def _on_soon(self) -> None:
        self._soon_handle = None
        self._run_tick()

    def _arm(self, due: float) -> None:
        if self._timer_handle is not None:
            if self._timer_due is not None and self._timer_due <= due:
                return
            self._timer_handle.cancel()
        self._timer_due = due
        delay = max(0.0, (due - self._now()) / 1000.0)
        self._timer_handle = self._aloop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._timer_due = None
        self._run_tick()

    def _run_tick(self) -> None:
        """One crossing into Lua: deliver the inbox, run due timers + microtasks."""
        if self._ticking:
            return
        self._ticking = True
        self._needs_tick = False
        if self.before_tick is not None:
            self.before_tick()
        inbox, self._inbox = self._inbox, []
        try:
            next_due, alive, out, out_n, errs, unhandled = self._tick(self._now(), inbox, len(inbox))
        except HypeError as exc:
            self._fail(exc)
            return
        finally:
            self._ticking = False
        self._alive_flag = bool(alive)
        if out:
            self._deliver_outbox(_seq(out, int(out_n)))
        if errs:
            msgs = [str(e) for e in _seq(errs, len(errs))]
            # a typed error raised by Python inside a callback (TIMEOUT, NOT_STORABLE, ...)
            # or a memory error keeps its type: it is what stopped the program
            first = self._lua_error(msgs[0], "")
            if type(first) is LuaError:
                first = UncaughtLuaError(f"uncaught Lua error in a callback: {msgs[0]}", details={"errors": msgs})
            self._fail(first)
        if unhandled:
            reasons = [str(r) for r in _seq(unhandled, len(unhandled))]
            if self.on_unhandled_rejection is not None:
                self.on_unhandled_rejection(reasons)
            else:
                self._fail(UnhandledRejectionError(f"unhandled promise rejection: {reasons[0]}",
                                                   details={"reasons": reasons}))
        if self.after_tick is not None:
            self.after_tick()
        if next_due is not False and next_due is not None:
            if self._aloop is not None and self._aloop is _running_loop():
                self._arm(float(next_due))
            else:
                self._needs_tick = True
        if self._inbox and self._aloop is not None and self._aloop is _running_loop():
            self._schedule_soon()
        if self.idle():
            waiters, self._idle_waiters = self._idle_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _deliver_outbox(self, flat: list[Any]) -> None:
        for i in range(0, len(flat), 4):
            wid, ok, value, tb = flat[i], flat[i + 1], flat[i + 2], flat[i + 3]
            wid = int(wid)
            entry = (bool(ok), value, tb or "")
            fut = self._waiters.pop(wid, None)
            if fut is None:
                self._settled[wid] = entry
            elif not fut.done():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(self._lua_error(value, tb or ""))
            if not ok and wid in self._fatal:
                self._fail(self._lua_error(value, tb or ""), waiters=False)
            self._fatal.discard(wid)

    def _lua_error(self, value: Any, tb: str) -> BaseException:
        if isinstance(value, str):
            original = self.vm.take_exception(value)  # a Python exception raised inside Lua code
            if original is not None:
                return original
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            msg = f"{value.get('name', 'Error')}: {value['message']}"
        else:
            msg = str(value)
        if msg == "not enough memory":
            return LuaMemoryError(msg, traceback=tb or msg)
        if tb:  # hide the loop's own frames (the coroutine driver)
            tb = "\n".join(ln for ln in tb.split("\n") if "hype/loop.lua" not in ln and "(...tail calls...)" not in ln)
        return LuaError(msg, traceback=tb or msg, value=value)

    def _fail(self, exc: HypeError, waiters: bool = True) -> None:
        """Raise ``exc`` from whoever drives the loop (Node: the process dies)."""
        targets = [w for w in self._idle_waiters if not w.done()]
        if not targets and waiters:
            targets = [w for w in self._waiters.values() if not w.done()]
        if not targets:
            self._errors.append(exc)
            return
        for w in targets:
            w.set_exception(exc)
        self._idle_waiters = [w for w in self._idle_waiters if not w.done()]

    def _raise_pending(self) -> None:
        if self._errors:
            exc = self._errors.pop(0)
            self._errors.clear()
            raise exc

    # ---------------------------------------------------- host futures
    def _spawn(self, fid: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        import asyncio
        import inspect

        try:
            result = fn(*args)
        except Exception as exc:
            self._deliver(fid, False, _describe(exc))
            return
        if not inspect.isawaitable(result):
            self._deliver(fid, True, result)
            return
        task = asyncio.ensure_future(result)

        def done(t: Any) -> None:
            if t.cancelled():
                self._deliver(fid, False, "CancelledError: the host task was cancelled")
            elif t.exception() is not None:
                self._deliver(fid, False, _describe(t.exception()))
            else:
                self._deliver(fid, True, t.result())

        task.add_done_callback(done)

    def _deliver(self, fid: int, ok: bool, value: Any) -> None:
        if not _is_plain(value):
            ok, value = False, f"ConversionError: {type(value).__name__} is not plain data"
        self._inbox += [fid, ok, value]
        loop = _running_loop()
        if loop is not None:
            self._attach(loop)
            self._schedule_soon()
        else:
            self._needs_tick = True

    def register_async(self, name: str | None, fn: Callable[..., Awaitable[Any] | Any]) -> LuaFunction:
        """Expose a Python async function (or any callable) to Lua as a
        function returning a Lua ``Promise``.

        Args:
            name: global name to define in Lua (None: only return the function).
            fn: called with the plain-data Lua arguments; may return an
                awaitable (run as an asyncio task) or a plain value.
        Returns:
            The Lua function handle.  Its promise fulfils with the (plain-data)
            result or rejects with ``"<ExceptionType>: <message>"``.
        Calls made while no loop runs start when the loop is next driven.
        """

        def start(fid: int, *args: Any) -> None:
            loop = _running_loop()
            if loop is None:
                self._deferred.append((int(fid), fn, args))
                self._needs_tick = True
                return
            self._attach(loop)
            self._spawn(int(fid), fn, args)

        (lua_fn,) = self.vm.call(self._host_function, start)
        if name is not None:
            self.vm.set_global(name, lua_fn)
        return lua_fn

    # ------------------------------------------------------------- driving
    def idle(self) -> bool:
        """True when no microtask, ref'd timer or host future is pending."""
        return not (self._alive_flag or self._inbox or self._deferred or self._needs_tick)

    async def run_until_idle(self) -> None:
        """Drive the host loop until Lua has no work left (like Node's exit).

        Raises:
            UncaughtLuaError: a timer/microtask callback raised.
            UnhandledRejectionError: a promise rejection was not handled.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        self._raise_pending()
        self._attach(loop)
        fut = loop.create_future()
        self._idle_waiters.append(fut)
        self._schedule_soon()
        await fut

    async def _wait(self, wid: int) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        self._attach(loop)
        if wid in self._settled:
            ok, value, tb = self._settled.pop(wid)
            if ok:
                return value
            raise self._lua_error(value, tb)
        fut = loop.create_future()
        self._waiters[wid] = fut
        self._schedule_soon()
        try:
            return await fut
        finally:
            self._waiters.pop(wid, None)

    async def call_async(self, fn: LuaFunction, *args: Any) -> Any:
        """Call Lua ``fn(*args)``; if it returns a promise, await it.

        Returns:
            The promise's value (one value), or, when ``fn`` returned no
            promise, its results as a tuple.
        Raises:
            LuaError: ``fn`` raised or the promise rejected (``value`` holds the reason).
        """
        res = self.vm.call(self._track, fn, False, *args)
        if not res[0]:
            return tuple(res[1:])
        return await self._wait(int(res[1]))

    async def run_async(self, fn: LuaFunction, *args: Any, idle: bool = True) -> tuple[Any, ...]:
        """Run ``fn(*args)`` as an async function (top-level ``await`` works).

        A single returned promise is awaited too.  With ``idle`` the loop is
        driven until no work is left (``hype run``); otherwise until ``fn``'s
        promise settles.

        Returns:
            All results of ``fn`` (or of the awaited promise) as a tuple.
        Raises:
            LuaError: the chunk raised; UncaughtLuaError / UnhandledRejectionError
            (see :meth:`run_until_idle`); UnsettledAwaitError when the loop
            went idle before the chunk finished.
        """
        import asyncio

        self._attach(asyncio.get_running_loop())
        self._raise_pending()
        wid = self._start_main(fn, args)
        if not idle:
            return _unpack(await self._wait(wid))
        self._fatal.add(wid)
        await self.run_until_idle()
        return self._finish(wid)

    def _start_main(self, fn: LuaFunction, args: tuple[Any, ...]) -> int:
        res = self.vm.call(self._track, fn, True, *args)
        if res[0] == "error":
            raise self._lua_error(res[1], res[2] or "")
        return int(res[1])

    def _finish(self, wid: int) -> tuple[Any, ...]:
        self._fatal.discard(wid)
        if wid not in self._settled:
            raise UnsettledAwaitError("the main chunk awaits a promise that can never settle "
                                      "(no timers or host futures are left)")
        ok, value, tb = self._settled.pop(wid)
        if not ok:
            raise self._lua_error(value, tb)
        return _unpack(value)

    def run_sync(self, fn: LuaFunction, *args: Any) -> tuple[Any, ...]:
        """Synchronous :meth:`run_async` (idle mode) for scripts and the CLI.

        Runs ``fn`` as an async function and drains microtasks without
        asyncio; only when timers or host futures remain does it start
        ``asyncio.run`` (so plain scripts never import asyncio).
        Must not be called while an asyncio loop runs in this thread.
        """
        self._raise_pending()
        wid = self._start_main(fn, args)
        self._fatal.add(wid)
        self._run_tick()
        self._raise_pending()
        if not self.idle():
            import asyncio

            try:
                asyncio.run(self.run_until_idle())
            finally:
                self._aloop = None
        return self._finish(wid)
