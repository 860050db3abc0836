"""A real uvicorn server on 127.0.0.1 and a free port, in a thread of the test process."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from hypelua.pm._server import running_in_thread


@pytest.fixture(scope="session")
def serve() -> Any:
    """``with serve(app) as base_url: ...``: the registry tests' in-thread uvicorn, with the
    app's lifespan on (a ``LuaApp`` forgets itself at shutdown) and no access log."""
    return functools.partial(running_in_thread, start_timeout_s=20.0, lifespan="on", access_log=False)
