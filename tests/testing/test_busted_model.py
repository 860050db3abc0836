"""busted 2's execution model in `hype test` (tests/lua_specs/busted).

The expected order of hooks, bodies and tests is derived from busted 2.2's
source: busted/init.lua (the `it` executor: lazy_setup of the enclosing blocks
once, before_each propagated outer -> inner and stopping at the first failing
level, the body, `finally`, after_each inner -> outer from that level),
busted/block.lua (block.execute: the describe body runs when the runner reaches
the block, then strict setup, the children, lazy_teardown only when a lazy
setup ran, strict teardown) and busted/core.lua (busted.execute runs the
children in registration order), busted/context.lua (insulate/expose).
"""

from __future__ import annotations

from pathlib import Path

from hypelua.testing import discover, run_files_sync
from hypelua.testing._runner import list_tests

SPECS = Path(__file__).resolve().parents[1] / "lua_specs" / "busted"

EXPECTED_ORDER = [
    "file body",             # loading the file registers the top-level blocks (and runs its own code)
    "file setup",            # then the file block's strict setup
    "A body",                # A's body runs when the runner reaches A
    "A setup",
    "A lazy_setup",          # lazily, by the first test below A
    "A before_each", "a1", "a1 finally", "A after_each",
    "B body",                # after a1 ran: bodies interleave with the tests of earlier blocks
    "A before_each", "B before_each", "b1", "B after_each", "A after_each",
    "A before_each", "a2", "A after_each",
    "A lazy_teardown",       # A's lazy setup ran
    "A teardown",
    "C body",                # no test ran under C (only a pending one): no lazy setup/teardown
    "F body",
    "F outer before", "F outer after",  # the failing level's after_each still runs; inner ones do not
    "F setup", "F teardown",            # setup failed: children skipped, teardown runs
    "F test before finally", "F finally",
    "F pending",                        # pending() inside a test stops it
    "file teardown",
]


def _run(path: Path, backend: str | None = None) -> tuple[list, list[str]]:
    out: list[str] = []
    results = run_files_sync([path], backend=backend, stdout=out.append)
    return results, "".join(out).splitlines()


def test_order_of_execution_matches_busted(lua_backend: str) -> None:
    results, lines = _run(SPECS / "order_spec.lua", lua_backend)
    order = next(ln for ln in lines if ln.startswith("ORDER "))[len("ORDER "):].split(",")
    assert order == EXPECTED_ORDER
    status = {r.full_name: r.status for r in results}
    assert status == {
        "A a1": "passed", "A B b1": "passed", "A a2": "passed", "C c1 is pending": "pending",
        "failures outer before_each fails inner does not run": "failed",
        "failures setup fails is not run": "failed",
        "failures fails in finally": "failed",
        "failures goes pending from inside": "pending",
    }
    msgs = {r.full_name: r.message or "" for r in results}
    assert "outer before_each broke" in msgs["failures outer before_each fails inner does not run"]
    assert msgs["failures setup fails is not run"].startswith("setup failed: ")
    assert "finally broke" in msgs["failures fails in finally"]


def test_describe_bodies_see_state_of_earlier_blocks_and_insulate(lua_backend: str) -> None:
    results, _ = _run(SPECS / "state_spec.lua", lua_backend)
    failed = [(r.full_name, r.message) for r in results if r.status == "failed"]
    assert failed == []
    names = [r.full_name for r in results]
    assert "a block whose body is evaluated lazily generated test 2" in names
    assert sum(r.status == "pending" for r in results) == 1  # it("name") without a function
    assert sum(r.status == "passed" for r in results) == len(results) - 1


def test_a_library_suite_in_busted_style_passes_unmodified(lua_backend: str) -> None:
    results, _ = _run(SPECS / "textutil_spec.lua", lua_backend)
    assert [(r.full_name, r.message) for r in results if r.status != "passed"] == []
    assert len(results) == 15


def test_whole_directory_counts() -> None:
    results = run_files_sync(discover([SPECS]), stdout=lambda s: None)
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "pending")}
    assert counts == {"passed": 39, "failed": 6, "pending": 3}


def test_collection_only_lists_lazy_tests() -> None:
    names = list_tests(SPECS / "state_spec.lua")
    assert "second block saw the first block's setup from its body" in names
    assert "curried and aliased forms takes a curried function" in names


def test_describe_inside_a_test_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "r_spec.lua").write_text(
        'it("nests", function() describe("x", function() end) end)\n'
        'it("uses finally outside", function() end)\n'
        'describe("d", function() it("ok", function() end) end)\n')
    results = run_files_sync([tmp_path / "r_spec.lua"], stdout=lambda s: None)
    by = {r.full_name: r for r in results}
    assert by["nests"].status == "failed"
    assert "'describe' not supported inside current context block" in (by["nests"].message or "")
    assert by["d ok"].status == "passed"


def test_luassert_extension_api_say_register_and_error_results(lua_backend: str) -> None:
    """Real suites register assertions with say + assert:register (luassert's
    callback(state, arguments) convention) and use has_error's returned error."""
    results, _ = _run(SPECS / "luassert_api_spec.lua", lua_backend)
    status = {r.full_name: r.status for r in results}
    msgs = {r.full_name: r.message or "" for r in results}
    assert status == {
        "custom assertions pass and negate": "passed",
        "custom assertions fail with the say message and formatted arguments": "failed",
        "custom assertions fail negated with the negative message": "failed",
        "luassert details has_error returns the error; error_matches sees it without its position": "passed",
        "luassert details prefixes assert.message(...) to the failure": "failed",
        "luassert details set_parameter / get_parameter and formatters": "passed",
        "luassert.match matchers are callable and their names read like assertions": "passed",
    }
    positive = msgs["custom assertions fail with the say message and formatted arguments"]
    assert "to have property: (string) 'name'" in positive
    assert "to not have property: (string) 'name'" in msgs["custom assertions fail negated with the negative message"]
    msg = msgs["luassert details prefixes assert.message(...) to the failure"]
    assert "custom context\nexpected true, got false" in msg
