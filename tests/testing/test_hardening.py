"""`hype test` hardening: os.exit in a spec, loops that never end, Ctrl+C, non-UTF-8 output.

Every run here goes through a subprocess with a generous wall-clock bound (the
run must *finish*; no tight absolute times are asserted).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parents[2]
BOUND_S = 60  # a run that hangs fails the test instead of hanging it


def hype_test(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hypelua", "test", *args], cwd=cwd, capture_output=True,
                          timeout=BOUND_S)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------ defect 8: os.exit
def test_os_exit_in_a_test_fails_that_test_and_the_run_completes(tmp_path: Path) -> None:
    write(tmp_path, "a_spec.lua", 'it("fails", function() error("real failure") end)\n')
    write(tmp_path, "b_spec.lua", 'it("exits", function() os.exit(0) end)\nit("runs after", function() end)\n')
    junit = tmp_path / "junit.xml"
    r = hype_test(str(tmp_path), "-r", "junit", "-o", str(junit))
    assert r.returncode == 1, r.stderr
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    exits = next(c for c in root.iter("testcase") if c.get("name") == "exits")
    assert "os.exit(0) called" in (exits.find("failure").get("message") or "")  # type: ignore[union-attr]


def test_os_exit_at_load_time_fails_the_file(tmp_path: Path) -> None:
    write(tmp_path, "a_spec.lua", "os.exit(0)\n")
    write(tmp_path, "b_spec.lua", 'it("passes", function() end)\n')
    r = hype_test(str(tmp_path))
    out = r.stdout.decode()
    assert r.returncode == 1
    assert "os.exit(0) called" in out and "1 passed, 1 failed, 2 total" in out


def test_pretty_summary_and_tap_plan_are_complete_with_os_exit(tmp_path: Path) -> None:
    write(tmp_path, "x_spec.lua", 'it("a", function() os.exit(3) end)\nit("b", function() end)\n')
    r = hype_test(str(tmp_path), "-r", "tap")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 1
    assert "1..2" in lines and "# fail 1" in lines


# ------------------------------------------------- defect 9: loops that never end, Ctrl+C
STUCK = """
describe("stuck", function()
  it("plain loop", function() while true do end end)
  it("after plain", function() end)
  it("in coroutine.wrap", function() coroutine.wrap(function() while true do end end)() end)
  it("in coroutine.create", function()
    local co = coroutine.create(function() while true do end end)
    coroutine.resume(co)
  end)
  it("in pcall", function()
    local ok = pcall(function() while true do end end)
    while not ok do end
  end)
  it("done after a timer", function(done) setTimeout(function() while true do end end, 1) end)
  it("last", function() end)
end)
describe("before_each loops", function()
  before_each(function() while true do end end)
  it("never runs", function() end)
end)
describe("after_each loops", function()
  after_each(function() while true do end end)
  it("ran", function() end)
end)
describe("describe body loops", function()
  while true do end
end)
describe("after everything", function()
  it("still runs", function() end)
end)
"""


def test_loops_that_never_end_fail_at_their_timeout_and_the_run_goes_on(tmp_path: Path) -> None:
    write(tmp_path, "stuck_spec.lua", STUCK)
    write(tmp_path, "top_spec.lua", "while true do end\n")
    write(tmp_path, "z_spec.lua", 'it("next file runs", function() end)\n')
    r = hype_test(str(tmp_path), "--timeout", "300", "-r", "tap")
    out = r.stdout.decode()
    assert r.returncode == 1
    for name in ["after plain", "last", "still runs", "next file runs"]:
        assert any(ln.startswith("ok ") and ln.endswith(name) for ln in out.splitlines()), (name, out)
    for name in ["plain loop", "in coroutine.wrap", "in coroutine.create", "in pcall", "done after a timer",
                 "never runs", "ran", "(describe body)", "(load)"]:
        assert any(ln.startswith("not ok ") and ln.endswith(name) for ln in out.splitlines()), (name, out)
    assert "timeout: exceeded 300 ms (the test did not return: a loop that never ends?)" in out
    assert "timeout: exceeded 300 ms in before_each" in out
    assert "timeout: exceeded 300 ms in describe body" in out
    assert "# fail 9" in out and "# pass 4" in out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
@pytest.mark.parametrize("body", ['print("STARTED") while true do end', 'print("STARTED")'],
                         ids=["lua-loop", "waiting-for-done"])
def test_ctrl_c_stops_the_run_with_130_after_the_summary(tmp_path: Path, body: str) -> None:
    write(tmp_path, "i_spec.lua", 'it("first passes", function() end)\n'
          f'it("stuck", function(done) {body} end)\nit("never reached", function() end)\n')
    write(tmp_path, "j_spec.lua", 'it("next file never runs", function() end)\n')
    p = subprocess.Popen([sys.executable, "-m", "hypelua", "test", str(tmp_path), "--timeout", "600000"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout is not None
        seen = b""
        deadline = time.monotonic() + BOUND_S
        while b"STARTED" not in seen and time.monotonic() < deadline:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert b"STARTED" in seen, seen
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=BOUND_S)
    finally:
        if p.poll() is None:
            p.kill()
    text = (seen + out).decode()
    assert p.returncode == 130, (text, err)
    assert "first passes" in text and "never reached" not in text and "next file never runs" not in text
    assert "1 passed, 1 total" in text
    assert b"interrupted (Ctrl+C)" in err


# ------------------------------------------------------------ defect 10: non-UTF-8 output
def test_print_of_non_utf8_bytes_keeps_the_tests_own_error(tmp_path: Path) -> None:
    write(tmp_path, "p_spec.lua", 'it("prints bytes", function() print("\\xff\\xfe") error("the real error") end)\n'
          'it("prints and passes", function() print("ok \\xff") end)\n')
    r = hype_test(str(tmp_path))
    assert r.returncode == 1
    assert b"\xff\xfe\n" in r.stdout and b"ok \xff\n" in r.stdout
    assert b"the real error" in r.stdout and b"TypeError" not in r.stdout + r.stderr
    assert b"1 passed, 1 failed, 2 total" in r.stdout
    r = hype_test(str(tmp_path), "-r", "tap")  # machine reporters print Lua output to stderr
    assert b"\xff\xfe\n" in r.stderr and b"the real error" in r.stdout


# ---------------------------------------------------------------------- tags
def test_tags_and_exclude_tags(tmp_path: Path) -> None:
    write(tmp_path, "t_spec.lua", 'describe("db #slow", function() it("a", function() end) end)\n'
          'it("b #fast", function() end)\nit("c", function() end)\n')
    r = hype_test(str(tmp_path), "--tags", "slow,fast")
    assert b"2 passed, 2 total" in r.stdout
    r = hype_test(str(tmp_path), "--exclude-tags", "slow")
    assert b"2 passed, 2 total" in r.stdout and b"db #slow a" not in r.stdout
