"""``Runtime(sandbox=True)`` and ``hype run --sandbox``: the escape suite (issue 8), natively.

The snippets live in ``tests/sandbox_cases.py`` (the browser tests run the same ones
in the worker).  Every escape reproduced in issue 8 is a case there, plus the
classic ones; each must keep failing.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypelua import HypeError, Runtime

_spec = importlib.util.spec_from_file_location("sandbox_cases", Path(__file__).with_name("sandbox_cases.py"))
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@pytest.fixture()
def alarm() -> Iterator[None]:
    """Fail (instead of hanging the suite) if a case does not stop within 60 s."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError("the sandboxed code was not stopped")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _sandbox(tmp_path: Path, backend: str, **kwargs: object) -> Runtime:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return Runtime(str(tmp_path / "s.db"), backend=backend, sandbox=True, project_root=project, **kwargs)


def test_the_walk_finds_what_an_unsandboxed_runtime_exposes(lua_backend: str) -> None:
    with Runtime(":memory:", backend=lua_backend) as rt:
        (found,) = rt.execute(cases.ESCAPES["reachability_walk"])
    assert ".io.lines" in found and ".debug.getupvalue" in found and ".os.execute" in found


@pytest.mark.parametrize("name", sorted(cases.ESCAPES))
def test_escape_fails(name: str, tmp_path: Path, lua_backend: str, alarm: None,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with _sandbox(tmp_path, lua_backend, max_memory=64 * 1024 * 1024 if name == "memory_cap" else None) as rt:
        assert rt.execute(cases.ESCAPES[name]) == ("safe",)
    assert not (tmp_path / "hype_sandbox_escaped").exists()
    assert not (tmp_path / "project" / "hype_sandbox_escaped").exists()


@pytest.mark.parametrize("name", sorted(cases.RUNAWAY))
def test_runaway_code_stops_at_the_deadline(name: str, tmp_path: Path, lua_backend: str, alarm: None) -> None:
    with _sandbox(tmp_path, lua_backend) as rt:
        rt.watch(deadline_s=0.3, every=100_000)
        with pytest.raises(HypeError) as info:
            rt.execute(cases.RUNAWAY[name])
        assert info.value.code == "TIMEOUT", info.value
        # the runtime is usable again once the deadline is re-armed
        rt.set_deadline(5)
        assert rt.execute("return 1 + 1") == (2,)


def test_runaway_timer_and_async_code_stop(tmp_path: Path, lua_backend: str, alarm: None) -> None:
    import asyncio

    with _sandbox(tmp_path, lua_backend) as rt:
        rt.watch(deadline_s=0.3, every=100_000)
        with pytest.raises(HypeError) as info:
            asyncio.run(rt.execute_async("setTimeout(function() while true do end end, 1)"))
        assert info.value.code == "TIMEOUT"


def test_default_memory_cap_applies(tmp_path: Path, lua_backend: str) -> None:
    from hypelua._runtime import SANDBOX_MAX_MEMORY

    with _sandbox(tmp_path, lua_backend) as rt:
        with pytest.raises(HypeError) as info:
            rt.execute("local s = ('x'):rep(1024 * 1024) local t = {} for i = 1, 1e6 do t[i] = s .. i end")
        assert info.value.code == "LUA_MEMORY_ERROR"
        assert rt.vm.memory_used() <= SANDBOX_MAX_MEMORY
        assert rt.execute("return 'still serving'") == ("still serving",)


def test_require_is_confined_to_the_project(tmp_path: Path, lua_backend: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "util.lua").write_text("return { twice = function(x) return 2 * x end }")
    (project / "hype_modules" / "pkg").mkdir(parents=True)
    (project / "hype_modules" / "pkg" / "init.lua").write_text("return { name = 'pkg' }")
    (tmp_path / "outside.lua").write_text("return 'outside'")
    (tmp_path / "hype_modules").mkdir()
    (tmp_path / "hype_modules" / "above.lua").write_text("return 'above the project'")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret first line\n")
    (project / "link.lua").symlink_to(secret)
    (project / "linkdir").symlink_to(tmp_path)
    monkeypatch.chdir(project)
    with _sandbox(tmp_path, lua_backend) as rt:
        assert rt.execute("return require('./lib/util').twice(21), require('pkg').name, require('hype.events') ~= nil"
                          ) == (42, "pkg", True)
        for request in ("../outside", "/etc/passwd", str(secret), "./link", "./linkdir/outside", "above",
                        "../hype_modules/above", "lib/../../outside"):
            with pytest.raises(HypeError) as info:
                rt.execute("return require(...)", request)
            assert info.value.code in ("MODULE_OUTSIDE_SANDBOX", "MODULE_NOT_FOUND"), (request, info.value)
            assert "secret first line" not in info.value.message
            assert "root:x" not in info.value.message


def test_persisted_functions_bind_to_the_sandbox(tmp_path: Path, lua_backend: str) -> None:
    db = str(tmp_path / "s.db")
    with Runtime(db, backend=lua_backend) as rt:
        rt.execute("Memory.probe = function() return io ~= nil, debug.getinfo ~= nil end")
    with _sandbox(tmp_path, lua_backend) as rt:
        assert rt.execute("return Memory.probe()") == (False, False)
        rt.execute("Memory.add = function(a, b) return a + b + (extra or 0) end")
        assert rt.execute("extra = 1 return Memory.add(1, 2)") == (4,)
    with _sandbox(tmp_path, lua_backend) as rt:
        assert rt.execute("return Memory.add(1, 2)") == (3,)


def test_error_objects_reach_the_host_typed(tmp_path: Path, lua_backend: str) -> None:
    with _sandbox(tmp_path, lua_backend) as rt:
        with pytest.raises(HypeError) as info:
            rt.execute("error(setmetatable({}, {__tostring = function() return 'boom' end}))")
        assert "boom" in info.value.message
        with pytest.raises(HypeError):
            rt.execute("error(setmetatable({}, {__tostring = function() error('nested') end}))")
        assert rt.execute("return 'alive'") == ("alive",)


def test_unsandboxed_runtime_keeps_the_full_library(tmp_path: Path, lua_backend: str) -> None:
    with Runtime(":memory:", backend=lua_backend) as rt:
        assert rt.execute("return type(io), type(debug.getinfo), type(string.dump), python") == (
            "table", "function", "function", None)


# ----------------------------------------------------------------------- CLI
def _hype(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.parametrize("code", [
    "coroutine.wrap(function() while true do end end)()",
    "while true do pcall(function() while true do end end) end",
    "setTimeout(function() while true do end end, 1)",
    # one call into C the count hook cannot interrupt: the process watchdog ends it
    'local s = ("a"):rep(40) return s:find(("a*"):rep(40) .. "b")',
])
def test_hype_run_timeout_cannot_be_escaped(code: str, tmp_path: Path) -> None:
    (tmp_path / "main.lua").write_text(code)
    started = time.monotonic()
    proc = _hype(["run", "--sandbox", "--timeout", "1", "-d", ":memory:", "main.lua"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "error[TIMEOUT]" in proc.stderr
    assert time.monotonic() - started < 50


def test_hype_run_sandbox_confines_require_and_caps_memory(tmp_path: Path) -> None:
    (tmp_path / "outside.lua").write_text("return 1")
    app = tmp_path / "app"
    app.mkdir()
    (app / "hype.json").write_text('{"name": "app", "version": "1.0.0"}')
    (app / "src").mkdir()
    (app / "src" / "util.lua").write_text("return 'util'")
    (app / "src" / "main.lua").write_text("print(require('../src/util')) print(pcall(require, '../../outside'))\n"
                                          "print(pcall(require, '/etc/passwd'))")
    proc = _hype(["run", "--sandbox", "-d", ":memory:", "src/main.lua"], app)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "util"
    assert lines[1].startswith("false") and "MODULE_OUTSIDE_SANDBOX" in lines[1]
    assert "MODULE_OUTSIDE_SANDBOX" in lines[2] and "root:" not in lines[2]
    for code in ("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end",
                 "setTimeout(function() local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end end, 1)"):
        (app / "big.lua").write_text(code)
        proc = _hype(["run", "--sandbox", "-d", ":memory:", "big.lua"], app)
        assert proc.returncode == 1 and "error[LUA_MEMORY_ERROR]" in proc.stderr, proc.stderr


@pytest.mark.parametrize("code, grace", [
    ("while true do end", False),
    ("coroutine.wrap(function() while true do end end)()", False),
    # stuck in C: the watchdog ends the process after its grace period
    ('local s = ("a"):rep(40) return s:find(("a*"):rep(40) .. "b")', True),
    # idle, waiting for a timer
    ("setTimeout(function() end, 600000)", True),
])
def test_ctrl_c_stops_hype_run(code: str, grace: bool, tmp_path: Path) -> None:
    (tmp_path / "main.lua").write_text(code)
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "run", "--sandbox", "-d", ":memory:", "main.lua"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err


def test_print_writes_bytes_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "main.lua").write_text('print("\\xff\\xfe") print("ok")')
    proc = subprocess.run([sys.executable, "-m", "hypelua", "run", "-d", ":memory:", "main.lua"], cwd=tmp_path,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"\xff\xfe\nok\n"
