"""``hype test [PATH...]``: run Lua spec files (``*_spec.lua``, ``*.test.lua``).

Exit status: 0 when every test passed (pending tests allowed), 1 when a test
failed, a file failed to load, no spec file was found or the run broke, 130
after Ctrl+C (the summary of the tests so far is printed), 2 on usage errors.
The reports (pretty summary, TAP plan, JUnit file) are written in every case.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``test`` subcommand to the ``hype`` parser."""
    p = subparsers.add_parser("test", help="run Lua tests (*_spec.lua, *.test.lua): Jest and busted styles")
    p.add_argument("paths", nargs="*", default=["."], help="spec files or directories (default: .)")
    p.add_argument("--filter", "-t", default=None,
                   help="only tests whose full name contains this text (or matches this Lua pattern)")
    p.add_argument("--reporter", "-r", choices=["pretty", "tap", "junit"], default="pretty")
    p.add_argument("--output", "-o", default=None, help="write the report to this file instead of stdout")
    p.add_argument("--timeout", type=float, default=5000, help="default per-test timeout in ms (default 5000)")
    p.add_argument("--tags", default=None,
                   help="only tests tagged with one of these (comma-separated; #tag in test or describe names)")
    p.add_argument("--exclude-tags", default=None, help="skip tests tagged with one of these (comma-separated)")
    p.add_argument("--backend", default=None, help="Lua back-end (lupa, ctypes)")
    p.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    from .._errors import HypeError
    from ._reporters import REPORTERS, summary
    from ._runner import RunControl, TestResult, default_stdout, discover, run_files_sync

    try:
        files = discover(args.paths)
    except HypeError as exc:
        sys.stderr.write(f"error[{exc.code}]: {exc.message}\n")
        return 1
    if not files:
        sys.stderr.write("error[NO_TESTS]: no *_spec.lua or *.test.lua files found in "
                         f"{', '.join(args.paths)}\nhint: name test files like math_spec.lua\n")
        return 1
    control = RunControl(handle_sigint=True)
    results: list[TestResult] = []
    broken: BaseException | None = None
    out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
    try:
        write = out.write if out else sys.stdout.write
        reporter = REPORTERS[args.reporter](write)

        def on_result(r: TestResult) -> None:
            results.append(r)
            reporter.result(r)

        try:
            run_files_sync(files, filter=args.filter, timeout_ms=args.timeout, backend=args.backend,
                           on_result=on_result, stdout=default_stdout(args.reporter), tags=args.tags,
                           exclude_tags=args.exclude_tags, control=control)
        except KeyboardInterrupt:
            control.interrupted = True
        except Exception as exc:
            broken = exc
        finally:
            reporter.finish(results)  # the summary / TAP plan / JUnit file are always complete
    finally:
        if out:
            out.close()
    if control.interrupted:
        sys.stderr.write(f"interrupted (Ctrl+C): the run stopped after {len(results)} test(s)\n")
        return 130
    if broken is not None:
        sys.stderr.write(f"error[INTERNAL]: the test run stopped: {type(broken).__name__}: {broken}\n")
        return 1
    s = summary(results)
    return 1 if s["failed"] else 0
