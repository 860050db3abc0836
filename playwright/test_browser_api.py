"""The JS API (`Hype.load` -> run/compute/errors) and the playground UI, on one shared page."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import HypePage


def test_run_returns_all_values(hype_page: HypePage) -> None:
    assert hype_page.call("hype.run('return 6 * 7')") == [42]


def test_run_multiple_values_and_compute(hype_page: HypePage) -> None:
    assert hype_page.call("hype.run(args[0])", "return 1, 'two', true") == [1, "two", True]
    assert hype_page.call("hype.compute(args[0])", "return 10 // 3, 99") == 3
    assert math.isclose(hype_page.call("hype.compute('return math.sin(5)')"), math.sin(5))


def test_print_goes_to_stdout_callback(hype_page: HypePage) -> None:
    hype_page.call("hype.run(args[0])", 'print("hello from lua", 42) return 1')
    hype_page.page.wait_for_function(
        "() => document.querySelector('#output').textContent.includes('hello from lua')"
    )


def test_syntax_error_is_typed(hype_page: HypePage) -> None:
    err = hype_page.error_of("hype.run('return +')")
    assert err is not None, "a syntax error must reject"
    assert err["isHypeError"] and err["name"] == "HypeError"
    assert err["code"] == "LUA_SYNTAX_ERROR"
    assert "unexpected symbol" in err["message"]  # Lua's own message
    assert isinstance(err["suggestion"], str)


def test_runtime_error_is_typed(hype_page: HypePage) -> None:
    err = hype_page.error_of("hype.run(args[0])", "error('boom: the answer is ' .. 42)")
    assert err is not None and err["isHypeError"]
    assert err["code"] == "LUA_RUNTIME_ERROR"
    assert "boom: the answer is 42" in err["message"]
    err = hype_page.error_of("hype.compute('local t = nil; return t.x')")
    assert err is not None and err["code"] == "LUA_RUNTIME_ERROR"
    assert "attempt to index" in err["message"]
    # the worker keeps serving after errors
    assert hype_page.call("hype.run('return 1')") == [1]


def test_requests_are_serialised(hype_page: HypePage) -> None:
    values = hype_page.call(
        "Promise.all(Array.from({length: 20}, (_, i) => hype.compute('return ' + i + ' * 2')))"
    )
    assert values == [i * 2 for i in range(20)]


def test_playground_run_button(hype_page: HypePage, artifacts_dir: Path) -> None:
    page = hype_page.page
    page.evaluate("t => window.playground.setCode(t)", 'print("from the editor")\nreturn 20 + 22')
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#output').textContent.includes('from the editor')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#output .value')].some(e => e.textContent.includes('42'))"
    )
    # errors are shown with their code
    page.evaluate("t => window.playground.setCode(t)", "return +")
    page.focus("#code")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#output .error .code")
    assert "LUA_SYNTAX_ERROR" in page.inner_text("#output .error .code")
    page.screenshot(path=str(artifacts_dir / "playground-run.png"), full_page=True)


def test_playground_persist_form_lists_entry(hype_page: HypePage, artifacts_dir: Path) -> None:
    page = hype_page.page
    page.fill("#persist input[name=table]", "Memory")
    page.fill("#persist input[name=key]", "fromForm")
    page.fill("#persist textarea[name=code]", "function(a) return a + 1 end")
    page.click("#persist-btn")
    row = page.wait_for_selector("#tables tr[data-table='Memory'][data-key='fromForm']")
    assert "function" in row.inner_text()
    page.evaluate("t => window.playground.setCode(t)",
                  "storage.table('Notes').first = 'hello'\nreturn Memory.fromForm(41)")
    page.click("#run")
    page.wait_for_selector("#tables tr[data-table='Notes'][data-key='first']")
    row_text = page.inner_text("#tables tr[data-table='Notes'][data-key='first']")
    assert "function" not in row_text  # a data entry (kind: its Lua type, e.g. "string")
    page.screenshot(path=str(artifacts_dir / "playground-tables.png"), full_page=True)


def test_boot_failure_rejects_with_worker_error(hype_page: HypePage) -> None:
    err = hype_page.error_of("Hype.load({ baseUrl: '/no/such/dir/', database: 'x' })")
    assert err is not None and err["isHypeError"]
    assert err["code"] == "WORKER_ERROR"


def test_terminate_rejects_pending_and_later_calls(hype_page: HypePage) -> None:
    # a second instance in the same page, terminated while a call is pending
    result = hype_page.page.evaluate(
        """async () => {
            const h = await Hype.load({ baseUrl: '../', database: 'pytest-terminate', stdout: () => {} });
            const pending = h.run('local t = 0 for i = 1, 3e7 do t = t + i end return t');
            h.terminate();
            const codes = [];
            for (const p of [pending, h.run('return 1')]) {
                try { await p; codes.push('resolved'); } catch (e) { codes.push(e.code); }
            }
            return codes;
        }"""
    )
    assert result == ["WORKER_ERROR", "WORKER_ERROR"]
    assert hype_page.call("hype.run('return 2')") == [2]  # the page's own instance is unaffected
