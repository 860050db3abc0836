"""Instant start (issue 12 item 1): the worker restores Pyodide from the build-time memory
snapshot (dist/web/snapshot/, named by manifest.json), caches it in Cache Storage, and boots
plainly when there is none, it is turned off, or Pyodide refuses it; with and without
cross-origin isolation (COOP/COEP)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypelua._devserver import start_in_thread

DEMO = "demo/?autorun&db=snap"


def _load(browser: Any, url: str, route: Any = None) -> tuple[dict, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    if route is not None:
        page.route("**/snapshot/*.bin*", route)
    page.goto(url)
    page.wait_for_function("() => window.benchResult !== undefined")
    return page.evaluate("() => window.benchResult"), context


@pytest.fixture(scope="module")
def plain_server_url(dist_dir: Path) -> Iterator[str]:
    """dist/web without COOP/COEP (no cross-origin isolation)."""
    server, url = start_in_thread(dist_dir, "127.0.0.1", 0, isolated=False)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_the_build_has_a_snapshot_keyed_on_its_build(dist_dir: Path) -> None:
    manifest = json.loads((dist_dir / "manifest.json").read_text())
    assert manifest["snapshot"] == f"snapshot/{manifest['build']}.bin.gz"
    assert (dist_dir / manifest["snapshot"]).stat().st_size > 1_000_000


def test_restored_then_cached_and_isolated(browser: Any, server_url: str) -> None:
    result, context = _load(browser, server_url + DEMO)
    try:
        assert result.get("error") is None and result["value"] == [1]
        assert result["snapshot"] == "restored" and "snapshot-fetched" in result["timings"]
        assert context.pages[0].evaluate("() => self.crossOriginIsolated") is True
        # the next page of the same origin takes it from Cache Storage
        page = context.new_page()
        page.goto(server_url + DEMO)
        page.wait_for_function("() => window.benchResult !== undefined", timeout=120_000)
        again = page.evaluate("() => window.benchResult")
        assert again["snapshot"] == "restored" and "snapshot-cached" in again["timings"]
    finally:
        context.close()


def test_without_cross_origin_isolation(browser: Any, plain_server_url: str) -> None:
    result, context = _load(browser, plain_server_url + DEMO)
    try:
        assert context.pages[0].evaluate("() => self.crossOriginIsolated") is False
        assert result.get("error") is None and result["value"] == [1] and result["snapshot"] == "restored"
    finally:
        context.close()


def test_turned_off(browser: Any, server_url: str) -> None:
    result, context = _load(browser, server_url + DEMO + "&nosnapshot")
    try:
        assert result["value"] == [1] and result["snapshot"] == "off"
    finally:
        context.close()


def test_a_refused_snapshot_falls_back_to_a_plain_boot(browser: Any, server_url: str) -> None:
    """Bytes Pyodide cannot restore (another build's, or damaged): a plain boot, and the
    cached copy is dropped."""
    def broken(route: Any) -> None:
        route.fulfill(status=200, body=gzip.compress(b"\x00" * 4096), headers={"Content-Type": "application/gzip"})

    result, context = _load(browser, server_url + DEMO, broken)
    try:
        assert result.get("error") is None and result["value"] == [1]
        assert result["snapshot"].startswith("refused")
    finally:
        context.close()


def test_a_missing_snapshot_file_boots_plainly(browser: Any, server_url: str) -> None:
    def missing(route: Any) -> None:
        route.fulfill(status=404, body=b"")

    result, context = _load(browser, server_url + DEMO, missing)
    try:
        assert result["value"] == [1] and result["snapshot"] == "none"
    finally:
        context.close()


def test_without_the_site_packages_image_the_wheels_are_unpacked(browser: Any, server_url: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.route("**/site-packages-*", lambda route: route.fulfill(status=404, body=b""))
        page.goto(server_url + DEMO + "&nosnapshot")
        page.wait_for_function("() => window.benchResult !== undefined")
        result = page.evaluate("() => window.benchResult")
        assert result.get("error") is None and result["value"] == [1]
    finally:
        context.close()
