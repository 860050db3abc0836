"""``hype test``: Jest/busted-style Lua tests (``lua/hype/test.lua``) run by Python.

* :func:`discover` finds ``*_spec.lua`` and ``*.test.lua`` files.
* :func:`run_file` / :func:`run_files` run them, one fresh :class:`hypelua.Runtime`
  per file, on the host event loop (async tests, timeouts).
* :mod:`hypelua.testing._reporters`: ``pretty``, ``tap``, ``junit``.
* :mod:`hypelua.testing.pytest_plugin`: collects spec files as pytest items
  (opt-in: ``pytest --hype-specs`` or ini ``hype_specs = true``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TestResult", "discover", "run_file", "run_files", "run_files_sync"]


def __getattr__(name: str) -> Any:
    # lazy: `hype run` imports hypelua.testing._cli to register `hype test`
    if name in __all__:
        from . import _runner

        return getattr(_runner, name)
    raise AttributeError(f"module 'hypelua.testing' has no attribute {name!r}")
