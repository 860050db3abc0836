"""The playground's Processes panel (issue 11, item 9) and ``hype.actors.processes()``.

The "Actors" example starts a supervisor (two gen_server workers and a process that
crashes every second), a ping-pong pair and a clock process; its run returns at once
and the processes keep running in the worker for ~10 s, so the panel (polling the
read-only ``actor_processes`` op every 500 ms) shows them live.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import HypePage

PID = re.compile(r"^<\d+\.\d+\.0>$")


@pytest.fixture(scope="module")
def actors_page(hype_page: HypePage) -> HypePage:
    """The module's playground page (a fresh browser context: a worker of its own)."""
    return hype_page


def _rows(page: Any) -> list[dict[str, str]]:
    return page.evaluate("""() => [...document.querySelectorAll('#proc-body tr:not(.empty)')].map((tr) => ({
        pid: tr.dataset.pid, name: tr.querySelector('.name').textContent,
        reductions: Number(tr.querySelector('.reductions').textContent),
        cls: tr.className, links: tr.querySelector('.links').textContent }))""")


def _row(page: Any, name: str) -> dict[str, Any] | None:
    return next((r for r in _rows(page) if r["name"] == name), None)


def test_processes_empty_before_hype_actor_is_loaded(actors_page: HypePage) -> None:
    assert actors_page.call("hype.actors.processes()") == []
    assert actors_page.page.locator("#proc-body tr.empty").inner_text().strip() == "no processes"
    # the op did not load hype.actor
    assert actors_page.call("hype.compute('return package.loaded[\"hype.actor\"] == nil')") is True


def test_actors_example_in_the_processes_panel(actors_page: HypePage) -> None:
    page = actors_page.page
    page.select_option("#examples", "actors")
    assert "actor.supervisor" in page.evaluate("() => window.playground.getCode()")
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#output').textContent.includes('started: supervisor')")

    # the panel lists the processes, named and linked
    page.wait_for_function("() => document.querySelectorAll('#proc-body tr:not(.empty)').length >= 7")
    names = {r["name"] for r in _rows(page)}
    assert {"sup", "crasher", "ping", "pong", "clock"} <= names, names
    assert all(PID.match(r["pid"]) for r in _rows(page))

    # reductions grow (the ping-pong rally every second) and a restart changes the crasher's pid
    ping0 = _row(page, "ping")["reductions"]
    crasher0 = _row(page, "crasher")["pid"]
    page.wait_for_function(
        """([r0, c0]) => {
            const rows = [...document.querySelectorAll('#proc-body tr:not(.empty)')];
            const by = (n) => rows.find((tr) => tr.querySelector('.name').textContent === n);
            const ping = by('ping'), crasher = by('crasher');
            return ping && Number(ping.querySelector('.reductions').textContent) > r0 + 1000
                && crasher && crasher.dataset.pid !== c0;
        }""",
        arg=[ping0, crasher0], timeout=8000)
    assert _row(page, "crasher")["pid"] != crasher0
    page.wait_for_function("() => /tick +\\d+: crasher <[\\d.]+> -> <[\\d.]+>/"
                           ".test(document.querySelector('#output').textContent)")

    # selecting the supervisor highlights its linked children
    sup = _row(page, "sup")
    page.click(f"#proc-body tr[data-pid='{sup['pid']}']")
    page.wait_for_function("() => document.querySelectorAll('#proc-body tr.linked').length >= 3")
    linked = {r["pid"] for r in _rows(page) if "linked" in r["cls"]}
    assert linked <= set(sup["links"].split()) and len(linked) >= 3
    assert "selected" in _row(page, "sup")["cls"]

    # sort by reductions: largest first (the ping-pong pair)
    page.click("#proc-table th[data-key='reductions']")
    top = _rows(page)[0]
    assert top["name"] in ("ping", "pong"), _rows(page)

    # the JS API from page code
    procs = actors_page.call("hype.actors.processes()")
    by_name = {p["name"]: p for p in procs if p["name"]}
    assert {"sup", "ping", "pong", "crasher", "clock"} <= set(by_name)
    for p in procs:
        assert PID.match(p["pid"]) and isinstance(p["reductions"], int) and isinstance(p["mailbox"], int)
        assert set(p) == {"pid", "status", "mailbox", "reductions", "memory", "links", "monitors", "name", "kind"}
        assert all(PID.match(link) for link in p["links"])
    assert by_name["ping"]["links"] == [by_name["pong"]["pid"]]
    assert by_name["crasher"]["pid"] in by_name["sup"]["links"]
    assert by_name["sup"]["pid"] in by_name["crasher"]["links"]

    # after ~10 ticks the clock stops everything: "no processes"
    page.wait_for_function("() => document.querySelector('#output').textContent.includes('done: stopped')",
                           timeout=20_000)
    page.wait_for_function("() => document.querySelector('#proc-body tr.empty') !== null", timeout=5000)
    assert actors_page.call("hype.actors.processes()") == []
