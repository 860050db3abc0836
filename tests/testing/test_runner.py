"""`hype test`: discovery, Jest/busted specs, async tests, reporters, pytest plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from hypelua.testing import discover, run_files_sync
from hypelua.testing._reporters import TapReporter, junit_xml

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "tests" / "lua_specs"
PASS, FAILING = SPECS / "pass", SPECS / "failing"


def hype(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_discover_finds_spec_suffixes_and_skips_vendored(tmp_path: Path) -> None:
    for rel in ["a_spec.lua", "b.test.lua", "c.lua", "sub/d_spec.lua", "hype_modules/x/e_spec.lua",
                ".hidden/f_spec.lua", "node_modules/g_spec.lua"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in discover([tmp_path]))
    assert names == ["a_spec.lua", "b.test.lua", "sub/d_spec.lua"]


def test_passing_specs_both_backends(lua_backend: str) -> None:
    results = run_files_sync(discover([PASS]), backend=lua_backend, stdout=lambda s: None)
    failed = [(r.full_name, r.message) for r in results if r.status == "failed"]
    assert failed == []
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "pending")}
    assert counts == {"passed": 24, "pending": 3}


def test_failing_specs_are_reported(lua_backend: str) -> None:
    results = {r.full_name: r for r in run_files_sync(discover([FAILING]), backend=lua_backend,
                                                      stdout=lambda s: None)}
    status = {k: r.status for k, r in results.items()}
    assert status["failures passes"] == "passed"
    assert status["failures is pending"] == "pending"
    for name in ["fails an expectation", "fails a luassert assertion", "raises an error", "times out",
                 "rejects the returned promise", "calls done with an error", "leaves an unhandled rejection"]:
        assert status[f"failures {name}"] == "failed", name
    msg = results["failures fails an expectation"].message or ""
    assert msg.startswith(f"{FAILING / 'failures_spec.lua'}:5:") or "failures_spec.lua:5:" in msg
    assert "Expected objects to be the same" in (results["failures fails a luassert assertion"].message or "")
    assert "timeout: exceeded 30 ms" in (results["failures times out"].message or "")
    assert "hook broke" in (results["a failing hook reports the hook error"].message or "")
    load = [r for r in results.values() if r.name == "(load)"]
    assert len(load) == 1 and "syntax error" in (load[0].message or "")


def test_cli_exit_codes_and_pretty_output() -> None:
    ok = hype("test", str(PASS))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "24 passed, 3 pending, 27 total" in ok.stdout
    bad = hype("test", str(FAILING))
    assert bad.returncode == 1
    assert "Failures:" in bad.stdout and "kaboom" in bad.stdout
    assert "1 passed, 9 failed, 1 pending, 11 total" in bad.stdout


def test_cli_filter() -> None:
    r = hype("test", str(PASS), "--filter", "luassert")
    assert r.returncode == 0
    assert "2 passed, 2 total" in r.stdout
    # a filter that selects only passing tests of the failing file exits 0
    assert hype("test", str(FAILING / "failures_spec.lua"), "-t", "failures passes").returncode == 0


def test_cli_no_tests_and_missing_path(tmp_path: Path) -> None:
    r = hype("test", str(tmp_path))
    assert r.returncode == 1 and "NO_TESTS" in r.stderr
    r = hype("test", str(tmp_path / "missing"))
    assert r.returncode == 1 and "PATH_NOT_FOUND" in r.stderr


def test_tap_reporter_output() -> None:
    r = hype("test", str(FAILING / "failures_spec.lua"), "--reporter", "tap")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == "TAP version 13"
    points = [ln for ln in lines if re.match(r"^(not )?ok \d+ - ", ln)]
    plan = next(ln for ln in lines if re.match(r"^1\.\.\d+$", ln))
    assert int(plan[3:]) == len(points) == 10
    assert [int(re.search(r"ok (\d+)", p).group(1)) for p in points] == list(range(1, 11))  # type: ignore[union-attr]
    assert sum(p.startswith("not ok") for p in points) == 8
    assert sum("# SKIP" in p for p in points) == 1
    i = lines.index(next(p for p in points if "raises an error" in p))
    assert lines[i + 1] == "  ---" and "kaboom" in lines[i + 3]


def test_junit_reporter_output(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    r = hype("test", str(FAILING), str(PASS / "math.test.lua"), "--reporter", "junit", "--output", str(out))
    assert r.returncode == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("12", "9", "1")
    suites = root.findall("testsuite")
    assert len(suites) == 3
    cases = root.findall(".//testcase")
    assert len(cases) == 12
    failing = [c for c in cases if c.find("failure") is not None]
    assert len(failing) == 9
    boom = next(c for c in cases if c.get("name") == "raises an error")
    assert boom.get("classname", "").endswith("failures_spec.lua.failures")
    assert "kaboom" in (boom.find("failure").get("message") or "")  # type: ignore[union-attr]
    assert sum(c.find("skipped") is not None for c in cases) == 1


def test_reporters_in_process() -> None:
    results = run_files_sync([PASS / "math.test.lua"], stdout=lambda s: None)
    chunks: list[str] = []
    tap = TapReporter(chunks.append)
    for r in results:
        tap.result(r)
    tap.finish(results)
    assert "".join(chunks).startswith("TAP version 13\nok 1 - ")
    ET.fromstring(junit_xml(results))


def test_lua_print_goes_to_stderr_for_machine_reporters(tmp_path: Path) -> None:
    (tmp_path / "p_spec.lua").write_text('it("prints", function() print("noise") end)')
    r = hype("test", str(tmp_path), "-r", "tap")
    assert "noise" not in r.stdout and "noise" in r.stderr


# ------------------------------------------------------------ pytest plugin
def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=180)


def test_pytest_plugin_collects_specs_when_enabled() -> None:
    r = _pytest("--hype-specs", str(PASS))
    assert r.returncode == 0, r.stdout
    assert "24 passed, 3 skipped" in r.stdout


def test_pytest_plugin_reports_failures() -> None:
    r = _pytest("--hype-specs", str(FAILING / "failures_spec.lua"))
    assert r.returncode == 1
    assert "8 failed, 1 passed, 1 skipped" in r.stdout
    assert "kaboom" in r.stdout


def test_pytest_plugin_is_opt_in() -> None:
    r = _pytest(str(SPECS), "--collect-only")
    assert r.returncode == 5, r.stdout  # "no tests collected": nothing collected unintentionally


@pytest.mark.parametrize("flag", ["--hype-backend=lupa"])
def test_pytest_plugin_collect_only_lists_test_names(flag: str) -> None:
    r = _pytest("--hype-specs", flag, str(PASS / "math.test.lua"), "--collect-only")
    assert "the .test.lua suffix is collected too" in r.stdout
