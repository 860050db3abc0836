"""A chunk that never yields (``while true do end``) cannot hang the JS API: the
watchdog rejects with TIMEOUT, replaces the worker, and persisted data survives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import HypePage

pytestmark = pytest.mark.browser


def test_runaway_loop_restarts_the_worker_and_keeps_persisted_data(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    assert hp.call("hype.run('Memory.kept = \"yes\"; scratch = 1; return 1')") == [1]
    err = hp.error_of("hype.run('while true do end', {timeout: 300})")
    assert err is not None and err["isHypeError"] and err["code"] == "TIMEOUT"
    assert err["details"]["restarted"] is True and err["details"]["op"] == "run"
    # the next call waits for the fresh worker; Lua globals are reset, external tables kept
    assert hp.call("hype.run('return Memory.kept, scratch')") == ["yes", None]
    assert hp.call("hype.restarts") == 1
    # calls queued behind a runaway one are rejected too, and the API keeps working
    res = hp.page.evaluate(
        """async () => {
            const a = hype.run('while true do end', {timeout: 200}).catch((e) => e.code);
            const b = hype.run('return 2').catch((e) => e.code);
            return [await a, await b, await hype.run('return 3')];
        }"""
    )
    assert res == ["TIMEOUT", "TIMEOUT", [3]]
