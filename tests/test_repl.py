"""``hype repl``: driven with piped standard input, and its line handler (:class:`Repl`) directly."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypelua import Runtime
from hypelua._repl import Repl, history_file


def repl(stdin: str, *args: str, cwd: Path, backend: str = "lupa") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPE_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "hypelua", "repl", "--backend", backend, *args], input=stdin,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_piped_print_exits_0_at_eof(tmp_path: Path, lua_backend: str) -> None:
    out = repl("print(1+1)\n", "-d", ":memory:", cwd=tmp_path, backend=lua_backend)
    assert (out.returncode, out.stdout, out.stderr) == (0, "2\n", "")


def test_expressions_print_their_values(tmp_path: Path, lua_backend: str) -> None:
    src = ('1 + 1\n=2 * 3, "s"\n"top"\n{ 1, 2, x = { y = "z\\n" }, [true] = false }\nnil\n'
           "local t = { n = 1 }; t.self = t; return t\n"
           "x = 5\n"  # a statement prints nothing
           "{\n 10,\n 20 }\n")
    out = repl(src, "-d", ":memory:", cwd=tmp_path, backend=lua_backend)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "2", "6\ts", "top", '{ 1, 2, x = { y = "z\\n" }, [true] = false }', "nil",
        "{ n = 1, self = <cycle> }", "{ 10, 20 }",
    ]


def test_multiline_function_then_call(tmp_path: Path, lua_backend: str) -> None:
    src = "function fib(n)\n  if n < 2 then\n    return n\n  end\n  return fib(n-1) + fib(n-2)\nend\nfib(20)\n"
    out = repl(src, "-d", ":memory:", cwd=tmp_path, backend=lua_backend)
    assert (out.returncode, out.stdout, out.stderr) == (0, "6765\n", "")


def test_errors_are_typed_and_the_repl_goes_on(tmp_path: Path, lua_backend: str) -> None:
    src = 'error("boom")\nprint("after 1")\nx = = 1\nprint("after 2")\nnil + 1\n"still here"\nfor i = 1, 2 do\n'
    out = repl(src, "-d", ":memory:", cwd=tmp_path, backend=lua_backend)
    assert out.returncode == 0
    assert out.stdout == "after 1\nafter 2\nstill here\n"
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error[")]
    assert errors[0].startswith("error[LUA_RUNTIME_ERROR]: (repl 1):1: boom")
    assert errors[1].startswith("error[LUA_SYNTAX_ERROR]:")
    assert errors[2].startswith("error[LUA_RUNTIME_ERROR]:") and "arithmetic" in errors[2]
    assert errors[3].startswith("error[LUA_SYNTAX_ERROR]:") and "<eof>" in errors[3]  # unfinished at EOF
    assert "in main chunk" in out.stderr and "hint:" in out.stderr


def test_top_level_await_and_timers(tmp_path: Path, lua_backend: str) -> None:
    src = ("v = await(Promise.new(function(resolve) setTimeout(function() resolve('late') end, 30) end))\n"
           "v\n"
           "setTimeout(function() print('timer fired') end, 20); print('scheduled')\n"
           "print('next input')\n"
           "await(Promise.resolve(1)), 2\n")
    out = repl(src, "-d", ":memory:", cwd=tmp_path, backend=lua_backend)
    assert out.returncode == 0, out.stderr
    # an input ends when the event loop is idle: the timer fires before the next input runs
    assert out.stdout == "late\nscheduled\ntimer fired\nnext input\n1\t2\n"


def test_locals_last_one_input_like_lua_i(tmp_path: Path) -> None:
    out = repl("local a = 1\na\nlocal b = 2; return b\n", "-d", ":memory:", cwd=tmp_path)
    assert out.stdout == "nil\n2\n"


def test_storage_persists_across_sessions(tmp_path: Path, lua_backend: str) -> None:
    first = repl("Memory.n = 41\nMemory.double = function(x) return x * 2 end\n"
                 "storage.table('notes').first = { text = 'hi' }\n", "--database", "r.db",
                 cwd=tmp_path, backend=lua_backend)
    assert (first.returncode, first.stderr) == (0, "")
    second = repl("Memory.n + 1\nMemory.double(21)\nnotes.first.text\n.tables\n", "--database", "r.db",
                  cwd=tmp_path, backend=lua_backend)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[:3] == ["42", "42", "hi"]
    assert {"Memory", "notes"} <= set(second.stdout.splitlines()[3:])


def test_commands(tmp_path: Path) -> None:
    out = repl(".help\nfor i = 1, 3 do\n.break\n.exit\nprint('not reached')\n", "-d", ":memory:", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    assert ".exit" in out.stdout and "local" in out.stdout and "not reached" not in out.stdout


def test_timeout_and_sandbox(tmp_path: Path, lua_backend: str) -> None:
    out = repl("while true do end\nprint(io, os.execute)\nprint('ok')\n", "-d", ":memory:", "--sandbox",
               "--timeout", "0.3", cwd=tmp_path, backend=lua_backend)
    assert out.returncode == 0
    assert out.stdout == "nil\tnil\nok\n"
    assert "error[TIMEOUT]: the input ran longer than 0.3 s" in out.stderr


def test_ctrl_c_interrupts_the_running_input(tmp_path: Path, lua_backend: str) -> None:
    env = {**os.environ, "HYPE_HOME": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "hypelua", "repl", "-d", ":memory:", "--backend", lua_backend],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path, env=env)
    assert p.stdin is not None
    try:
        def send(text: str, wait: float) -> None:
            assert p.stdin is not None
            p.stdin.write(text)
            p.stdin.flush()
            time.sleep(wait)

        assert p.stdout is not None
        send("print('ready')\n", 0)
        assert p.stdout.readline() == "ready\n"  # started (the output is flushed after each input)
        send("while true do end\n", 0.5)  # running Lua: the watch hook stops it
        p.send_signal(signal.SIGINT)
        send("print('after loop')\n", 0)
        assert p.stdout.readline() == "after loop\n"
        # only waiting (a timer far away, an interval): the input is cancelled, its timers cleared
        send("await(Promise.new(function(r) setTimeout(r, 100000) end))\n", 0.5)
        p.send_signal(signal.SIGINT)
        send("setInterval(function() end, 10)\n", 0.5)
        p.send_signal(signal.SIGINT)
        send("print('after wait')\n", 0.1)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out.endswith("after wait\n")  # (the interval printed before it)
    assert err.count("error[INTERRUPTED]") == 3


# ------------------------------------------------------------ the line handler, in-process
@pytest.fixture()
def handler(lua_backend: str) -> Iterator[tuple[Repl, io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    rt = Runtime(":memory:", backend=lua_backend, stdout=out.write)
    r = Repl(rt, out=out, err=err)
    yield r, out, err
    r.close()
    rt.close()


def test_push_continues_unfinished_chunks(handler: tuple[Repl, io.StringIO, io.StringIO]) -> None:
    r, out, err = handler
    assert r.prompt == "> "
    assert r.push("function add(a, b)") is True and r.prompt == ".. "
    assert r.push("  return a + b") is True
    assert r.push("end") is False and r.prompt == "> "
    assert r.push("add(2,") is True  # `return add(2,` is unfinished too
    assert r.push("40)") is False
    assert r.push('s = [[long') is True
    assert r.push(".break") is False and r.buffer == []
    assert r.push("=s") is False
    assert r.push("t = {") is True and r.push("}") is False
    assert out.getvalue() == "42\nnil\n" and err.getvalue() == ""


def test_push_commands_and_errors(handler: tuple[Repl, io.StringIO, io.StringIO]) -> None:
    r, out, err = handler
    assert r.push(".help") is False and ".exit" in out.getvalue()
    assert r.push("x = = 1") is False and "error[LUA_SYNTAX_ERROR]" in err.getvalue()
    assert r.push("1 + 1") is False and out.getvalue().endswith("2\n")
    r.push("if true then")
    r.finish()
    assert "'end' expected near <eof>" in err.getvalue()
    assert not r.done and r.push(".exit") is False and r.done


def test_complete(handler: tuple[Repl, io.StringIO, io.StringIO]) -> None:
    r, _, _ = handler
    r.rt.execute("obj = { field = 1 }; function obj:hello() end; s = 'text'; Memory.x = 1; "
                 "storage.table('scores').top = 1")
    assert r.complete("string.f") == ["string.find", "string.format"]
    assert r.complete("x = string.for") == ["x = string.format"]
    assert r.complete("pri") == ["print"]
    assert r.complete("wh") == ["while"]  # keywords
    assert r.complete("obj.") == ["obj.field", "obj.hello"]
    assert r.complete("obj:") == ["obj:hello"]  # methods: functions only
    assert r.complete("s:up") == ["s:upper"]  # the string metatable's __index
    assert "storage.table" in r.complete("storage.t")
    assert r.complete("sco") == ["scores"]  # a persisted table not named yet is a global
    assert r.complete("Memory.") == []  # an external table's keys are data, not fields
    assert r.complete("nope.x") == [] and r.complete("obj:hello:x") == []


def test_history_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HYPE_HOME", str(tmp_path))
    assert history_file() == str(tmp_path / "repl_history")
    monkeypatch.delenv("HYPE_HOME")
    assert history_file().endswith(".hype_history")
