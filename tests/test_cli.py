"""The ``hype`` command: ``run`` persists external tables across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def hype(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_run_persists_across_runs(tmp_path: Path) -> None:
    example = REPO / "examples" / "memory_calculate.lua"
    first = hype("run", str(example), "--database", "demo.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "persisted Memory.calculate" in first.stdout and "runs so far:\t1" in first.stdout
    second = hype("run", str(example), "--database", "demo.db", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "persisted" not in second.stdout
    assert "Memory.calculate(5, 3) =\t14.041075725337" in second.stdout
    assert "runs so far:\t2" in second.stdout


def test_run_default_database_and_args(tmp_path: Path) -> None:
    (tmp_path / "a.lua").write_text("local n = ... Memory.n = tonumber(n) print(Memory.n * 2)")
    out = hype("run", "a.lua", "21", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "42\n"
    assert (tmp_path / "hype.db").is_file()


@pytest.mark.parametrize(
    "source,code",
    [("local x = nil; x.y = 1", "LUA_RUNTIME_ERROR"), ("return +", "LUA_SYNTAX_ERROR"),
     ("Memory.t = coroutine.create(print)", "NOT_STORABLE")],
)
def test_run_errors_exit_1_with_code_and_hint(tmp_path: Path, source: str, code: str) -> None:
    (tmp_path / "bad.lua").write_text(source)
    out = hype("run", "bad.lua", "-d", ":memory:", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(f"error[{code}]") and "hint:" in out.stderr


def test_run_missing_file_and_corrupt_database(tmp_path: Path) -> None:
    out = hype("run", "nope.lua", "-d", ":memory:", cwd=tmp_path)
    assert out.returncode == 1 and "error[FILE_NOT_FOUND]" in out.stderr
    (tmp_path / "junk.db").write_bytes(b"garbage" * 500)
    (tmp_path / "a.lua").write_text("print(Memory.x)")  # the database opens on first use
    out = hype("run", "a.lua", "-d", "junk.db", cwd=tmp_path)
    assert out.returncode == 1 and "error[DATABASE_CORRUPT]" in out.stderr
    assert (tmp_path / "junk.db").read_bytes() == b"garbage" * 500


def test_playground_without_dist_explains(tmp_path: Path) -> None:
    out = hype("playground", "--root", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 1 and "error[DIST_NOT_BUILT]" in out.stderr and "build.sh" in out.stderr


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["run", "a.lua"], ("a.lua", [], "hype.db", None)),
        (["run", "a.lua", "x", "y", "-d", "db.sqlite"], ("a.lua", ["x", "y"], "db.sqlite", None)),
        (["run", "--database=:memory:", "a.lua", "--max-memory", "1024"], ("a.lua", [], ":memory:", 1024)),
        (["run", "a.lua", "--", "-d", "z"], ("a.lua", ["-d", "z"], "hype.db", None)),
        (["run", "--sandbox", "a.lua"], ("a.lua", [], "hype.db", None)),
    ],
)
def test_fast_run_parser_matches_the_documented_options(argv: list[str], expected: tuple[object, ...]) -> None:
    from hypelua.cli import _fast_run_args, build_parser

    fast = _fast_run_args(argv)
    assert fast is not None and (fast.file, fast.args, fast.database, fast.max_memory) == expected
    slow = build_parser().parse_args(argv)
    assert (slow.file, slow.args, slow.database, slow.max_memory) == expected


@pytest.mark.parametrize("argv", [["run"], ["run", "-h"], ["run", "a.lua", "--bogus"],
                                  ["run", "a.lua", "--max-memory", "x"], ["test"], []])
def test_fast_run_parser_defers_to_argparse(argv: list[str]) -> None:
    from hypelua.cli import _fast_run_args

    assert _fast_run_args(argv) is None


def test_export_and_import_between_databases(tmp_path: Path) -> None:
    (tmp_path / "a.lua").write_text("local k = 2\nMemory.double = function(x) return x * k end\nMemory.n = 21")
    assert hype("run", "a.lua", "-d", "src.db", cwd=tmp_path).returncode == 0
    out = hype("export", "src.db", "dump.json", cwd=tmp_path)
    assert out.returncode == 0 and "exported 1 table" in out.stdout
    out = hype("import", "dst.db", "dump.json", cwd=tmp_path)
    assert out.returncode == 0 and "imported 2 row(s)" in out.stdout and "1 to be compiled from source" in out.stdout
    (tmp_path / "b.lua").write_text("print(Memory.double(Memory.n))")
    out = hype("run", "b.lua", "-d", "dst.db", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "42\n"


def test_import_bad_file_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    out = hype("import", "x.db", "bad.json", cwd=tmp_path)
    assert out.returncode == 1 and "error[BAD_EXPORT]" in out.stderr
    out = hype("export", "missing.db", "o.json", cwd=tmp_path)
    assert out.returncode == 1 and "error[DATABASE_PATH]" in out.stderr


def test_run_timeout_stops_a_loop_that_never_ends_and_keeps_data(tmp_path: Path) -> None:
    (tmp_path / "inf.lua").write_text("Memory.before = 'kept'\nlocal n = 0\nwhile true do n = n + 1 end")
    out = hype("run", "inf.lua", "-d", "t.db", "--timeout", "0.5", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.startswith("error[TIMEOUT]")
    (tmp_path / "chk.lua").write_text("print(Memory.before)")
    assert hype("run", "chk.lua", "-d", "t.db", cwd=tmp_path).stdout == "kept\n"


def test_ctrl_c_interrupts_lua_code(tmp_path: Path) -> None:
    import signal
    import time

    (tmp_path / "inf.lua").write_text("await(Promise.resolve(1))\nwhile true do end")  # inside the loop's coroutine
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "run", "inf.lua", "-d", ":memory:"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "error[INTERRUPTED]" in err
