"""The playground's editor (CodeMirror 6), share links, examples gallery and storage paging.

The editor is bundled into dist/web/playground/editor.mjs (no CDN); tests set and read its
buffer through ``window.playground.setCode(text)`` / ``getCode()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ACTION_TIMEOUT_MS, HypePage, open_hype_page

pytestmark = pytest.mark.browser

SET_CODE = "t => window.playground.setCode(t)"
GET_CODE = "() => window.playground.getCode()"


@pytest.fixture(scope="module")
def editor_page(browser: Any, server_url: str) -> Iterator[HypePage]:
    hp = open_hype_page(browser, server_url, "pytest-editor")
    try:
        yield hp
    finally:
        hp.context.close()


def _entries(page: Any) -> int:
    return page.evaluate("() => document.querySelectorAll('#output .entry').length")


def test_editor_is_codemirror_with_lua_highlighting(editor_page: HypePage) -> None:
    page = editor_page.page
    assert page.locator(".cm-editor").count() == 1
    assert page.get_attribute("#code", "contenteditable") == "true"  # the editor's content element
    assert page.locator("textarea#code").count() == 0
    page.evaluate(SET_CODE, "local x = 1 -- a comment\nif x then return 'str' end")
    page.wait_for_selector(".cm-content .tok-keyword")
    keywords = page.locator(".cm-content .tok-keyword").all_inner_texts()
    assert "local" in keywords and "if" in keywords, keywords
    assert page.locator(".cm-content .tok-comment").count() >= 1
    assert page.locator(".cm-content .tok-string").count() >= 1
    assert page.locator(".cm-lineNumbers .cm-gutterElement").count() >= 2  # line numbers
    # bracket closing: typing ( inserts ()
    page.evaluate(SET_CODE, "")
    page.click("#code")
    page.keyboard.type("print(")
    assert page.evaluate(GET_CODE) == "print()"
    # history: undo
    page.keyboard.press("Control+z")
    assert page.evaluate(GET_CODE) != "print()"


def test_ctrl_enter_runs_the_buffer(editor_page: HypePage) -> None:
    page = editor_page.page
    page.evaluate(SET_CODE, 'print("ran by ctrl-enter")\nreturn 6 * 7')
    page.click("#code")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('#output').textContent.includes('ran by ctrl-enter')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#output .value')].some(e => e.textContent.includes('42'))")


def test_reload_keeps_the_buffer(fresh_hype_page: HypePage) -> None:
    page = fresh_hype_page.page
    text = "-- kept across a reload\nreturn 'kept'"
    page.evaluate(SET_CODE, text)
    page.wait_for_function("(t) => localStorage.getItem('hypelua.playground.code') === t", arg=text)
    fresh_hype_page.reload()
    assert page.evaluate(GET_CODE) == text


def test_share_link_round_trip(editor_page: HypePage, browser: Any) -> None:
    page = editor_page.page
    text = "-- shared: ünïcødé ✓\n" + "print('share me')\n" * 20 + "return 1"
    page.evaluate(SET_CODE, text)
    page.click("#share")
    page.wait_for_function("() => location.hash.startsWith('#code=')")
    url = page.url
    assert page.input_value("#share-link") == url
    # another browser context (its own localStorage): the link's code is loaded
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        other = context.new_page()
        other.goto(url)
        other.wait_for_function("() => window.playground !== undefined")
        assert other.evaluate(GET_CODE) == text
        # the link wins over a stored buffer
        other.evaluate("() => localStorage.setItem('hypelua.playground.code', 'return 0')")
        other.reload()
        other.wait_for_function("() => window.playground !== undefined")
        assert other.evaluate(GET_CODE) == text
    finally:
        context.close()


def test_every_example_runs(editor_page: HypePage) -> None:
    page = editor_page.page
    ids = page.evaluate("() => [...document.querySelectorAll('#examples option')].map(o => o.value).filter(Boolean)")
    assert {"memory", "batches", "require", "promises", "tests", "http", "live", "actors"} <= set(ids), ids
    ids.remove("actors")
    ids.append("actors")  # (its processes print for ~10 s after the run: last)
    for ex in ids:
        page.select_option("#examples", ex)
        page.wait_for_function("() => !document.querySelector('#example-run').hidden")
        assert page.evaluate(GET_CODE).strip(), ex
        before = _entries(page)
        page.click("#example-run")
        # the run's last entry: "done in", or the example's summary line, or an error
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('#output .entry')].slice(n).some((e) =>
                e.classList.contains('error')
                || (e.classList.contains('info') && /done in|→ \\d{3}|passed|mounted/.test(e.textContent)))""",
            arg=before, timeout=60_000)
        new = page.evaluate("""(n) => [...document.querySelectorAll('#output .entry')].slice(n)
            .map((e) => [e.className, e.textContent])""", before)
        errors = [t for c, t in new if "error" in c]
        assert not errors, (ex, new)
        assert any("print" in c or "value" in c or "info" in c for c, _ in new), (ex, new)
        if ex == "tests":
            assert "4 passed, 0 failed" in page.inner_text("#test-summary")
        if ex == "http":
            assert page.text_content("#http-status").startswith("200")
        if ex == "live":
            page.wait_for_selector("#live-root #live-count")
            assert page.inner_text("#live-count") == "Count: 0"
            page.click("#live-inc")
            page.wait_for_function("() => document.querySelector('#live-count').textContent === 'Count: 1'")
        if ex == "actors":
            page.wait_for_function(
                "() => document.querySelector('#output').textContent.includes('started: supervisor')")
        if ex == "batches":
            assert any("rows of age >= 70" in t for _, t in new), new
        if ex == "promises":
            page.wait_for_function("() => document.querySelector('#output').textContent.includes('race won by')")


def _wait_range(page: Any, selector: str, first: int, last: int, total: int) -> None:
    """Wait until the pager's text is "rows first\u2013last of total"."""
    text = f"rows {first}\u2013{last} of {total}"
    page.wait_for_function("([s, t]) => document.querySelector(s)?.textContent === t", arg=[selector, text])


def test_storage_panel_pages_through_a_large_table(editor_page: HypePage) -> None:
    hp = editor_page
    page = hp.page
    hp.call("hype.batchTableOperations(args[0])",
            [{"type": "set", "table": "Paged", "key": f"k{i:03d}", "value": {"n": i}} for i in range(120)])
    page.click("#refresh")
    page.wait_for_selector("#st-table option[value='Paged']", state="attached")
    page.select_option("#st-table", "Paged")
    page.click("#st-browse")
    rng = "#st-results .pager .range"
    _wait_range(page, rng, 1, 50, 120)
    assert page.locator("#st-results tr").count() == 50
    assert page.get_attribute("#st-results tr:first-child", "data-key") == "k000"
    assert page.is_disabled("#st-results .pager .prev")
    page.click("#st-results .pager .next")
    _wait_range(page, rng, 51, 100, 120)
    assert page.get_attribute("#st-results tr:first-child", "data-key") == "k050"
    page.click("#st-results .pager .next")
    _wait_range(page, rng, 101, 120, 120)
    assert page.locator("#st-results tr").count() == 20
    assert page.is_disabled("#st-results .pager .next")
    page.click("#st-results .pager .prev")
    _wait_range(page, rng, 51, 100, 120)
    # the External tables list pages too
    ext = "#tables .pager[data-table='Paged']"
    _wait_range(page, f"{ext} .range", 1, 50, 120)
    assert page.locator("#tables table[data-table='Paged'] tr").count() == 50
    page.click(f"{ext} .next")
    _wait_range(page, f"{ext} .range", 51, 100, 120)
    page.click(f"{ext} .next")
    _wait_range(page, f"{ext} .range", 101, 120, 120)
    assert page.locator("#tables table[data-table='Paged'] tr").count() == 20
