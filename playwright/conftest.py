"""Browser tests: headless Debian Chromium via Playwright against dist/web/.

SPEC 1.3 recipe: /usr/bin/chromium (never `playwright install`), the static
dev server (COOP/COEP) on 127.0.0.1 and a free port for the whole session,
module-scoped pages because Pyodide costs seconds per fresh page.

Set HYPELUA_DIST_DIR to test another build directory.  When
HYPELUA_REQUIRE_DIST=1 (./build.sh test sets it) a missing or incomplete
dist/web is an error instead of a skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypelua._devserver import start_in_thread

ROOT = Path(__file__).resolve().parents[1]
DIST = Path(os.environ.get("HYPELUA_DIST_DIR", ROOT / "dist" / "web"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]
#: generous: a cold Pyodide boot takes 4-8 s on a 2-core VM, more under load
BOOT_TIMEOUT_MS = 120_000
#: any other wait (selectors, navigation)
ACTION_TIMEOUT_MS = 30_000
ARTIFACTS = ROOT / "build" / "playwright"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.name.startswith("test_browser_"):
            item.add_marker(pytest.mark.browser)


def _dist_problem() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium, or ./build.sh deps)"
    manifest = DIST / "manifest.json"
    if not manifest.is_file():
        return f"{DIST} is not built (run ./build.sh dist)"
    wheels = json.loads(manifest.read_text()).get("wheels", [])
    if not any(w.startswith("hypelua-") for w in wheels):
        return f"{manifest} lists no hypelua wheel"
    return None


@pytest.fixture(scope="session")
def dist_dir() -> Path:
    problem = _dist_problem()
    if problem:
        if os.environ.get("HYPELUA_REQUIRE_DIST") == "1":
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return DIST


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def server_url(dist_dir: Path) -> Iterator[str]:
    """Base URL of dist/web served with COOP/COEP (ends with '/')."""
    server, url = start_in_thread(dist_dir, "127.0.0.1", 0)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


class HypePage:
    """A Playwright page with the playground loaded and `window.hype` booted."""

    def __init__(self, context: Any, page: Any, url: str) -> None:
        self.context = context
        self.page = page
        self.url = url
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def boot(self) -> HypePage:
        self.page.goto(self.url)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        self.page.wait_for_function("() => window.hypeReady !== undefined")
        err = self.page.evaluate(
            """(ms) => Promise.race([
                window.hypeReady.then(() => null, (e) => `${e.code}: ${e.message}`),
                new Promise((resolve) => setTimeout(() => resolve(`no ready after ${ms} ms`), ms)),
            ])""",
            BOOT_TIMEOUT_MS,
        )
        if err:
            raise AssertionError(f"hypelua failed to boot: {err}\nconsole:\n" + "\n".join(self.console[-30:]))

    def reload(self) -> None:
        self.page.reload()
        self.wait_ready()

    def call(self, expr: str, *args: Any) -> Any:
        """Evaluate `expr` (JS using `hype`, may await); returns its value, raises on rejection."""
        js = f"async (args) => {{ const hype = window.hype; return {expr}; }}"
        return self.page.evaluate(js, list(args))

    def error_of(self, expr: str, *args: Any) -> dict[str, Any] | None:
        """Evaluate an async JS expression expected to reject; returns the error's fields."""
        return self.page.evaluate(
            """async ([expr, args]) => {
                const hype = window.hype;
                const fn = new Function("hype", "args", "return (async () => " + expr + ")()");
                try { await fn(hype, args); }
                catch (e) {
                    return { isHypeError: e instanceof window.HypeError, name: e.name, code: e.code,
                             message: e.message, details: e.details ?? null,
                             suggestion: e.suggestion ?? null };
                }
                return null;
            }""",
            [expr, list(args)],
        )


def open_hype_page(browser: Any, server_url: str, db: str, path: str = "playground/") -> HypePage:
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    return HypePage(context, page, f"{server_url}{path}?db={db}").boot()


def _page(browser: Any, server_url: str, db: str) -> Iterator[HypePage]:
    hp = open_hype_page(browser, server_url, db)
    try:
        yield hp
    finally:
        hp.context.close()


@pytest.fixture(scope="module")
def hype_page(browser: Any, server_url: str) -> Iterator[HypePage]:
    """One booted playground page shared by a test module (fresh browser context)."""
    yield from _page(browser, server_url, "pytest")


@pytest.fixture(scope="module")
def sandbox_hype_page(browser: Any, server_url: str) -> Iterator[HypePage]:
    """A playground page whose worker runs user code sandboxed (``?sandbox=1``)."""
    yield from _page(browser, server_url, "pytest-sandbox&sandbox=1")


@pytest.fixture(scope="module")
def sw_hype_page(browser: Any, server_url: str) -> Iterator[HypePage]:
    """A page in a context of its own for service-worker tests (registrations live per context)."""
    yield from _page(browser, server_url, "pytest-sw")


@pytest.fixture()
def fresh_hype_page(browser: Any, server_url: str) -> Iterator[HypePage]:
    """A page in its own browser context (its own IndexedDB), for reload tests."""
    yield from _page(browser, server_url, "pytest-fresh")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
