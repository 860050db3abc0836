"""``hype-lock.json``: the exact installed tree.

Format (deterministic: sorted keys, 2-space indent, trailing newline)::

    {
      "lockfileVersion": 1,
      "name": "app", "version": "1.0.0",
      "requires": {"dependencies": {...}, "devDependencies": {...}},   # copied from hype.json
      "packages": {
        "hype_modules/a": {"version": "1.2.0", "resolved": URL, "integrity": "sha512-...",
                           "dependencies": {"b": "^1"}, "dev": false},
        "hype_modules/a/hype_modules/b": {...}                       # a nested install
      }
    }

``requires`` tells whether the lock still matches ``hype.json`` (``--frozen-lockfile``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._errors import LockfileError

LOCKFILE = "hype-lock.json"
LOCK_VERSION = 1
_SEG = r"(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*"
_KEY = re.compile(rf"^hype_modules/{_SEG}(?:/hype_modules/{_SEG})*$")


def dumps(lock: dict[str, Any]) -> str:
    """Canonical text of a lock (byte-for-byte reproducible)."""
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def make_lock(name: str | None, version: str | None, deps: dict[str, str], dev: dict[str, str],
              packages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Build a lock object from the manifest fields and ``packages`` (install path -> entry)."""
    lock: dict[str, Any] = {
        "lockfileVersion": LOCK_VERSION,
        "requires": {"dependencies": dict(deps), "devDependencies": dict(dev)},
        "packages": packages,
    }
    if name:
        lock["name"] = name
    if version:
        lock["version"] = version
    return lock


def read_lock(directory: str | Path) -> dict[str, Any] | None:
    """Read ``<directory>/hype-lock.json``; None when absent.

    Raises:
        LockfileError: ``LOCKFILE_INVALID`` when unreadable or malformed.
    """
    path = Path(directory) / LOCKFILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    try:
        lock = json.loads(text)
    except ValueError as exc:
        raise LockfileError(f"{path} is not valid JSON: {exc}", code="LOCKFILE_INVALID",
                            suggestion="Delete hype-lock.json and run 'hype install'.") from None
    ok = isinstance(lock, dict) and lock.get("lockfileVersion") == LOCK_VERSION \
        and isinstance(lock.get("packages"), dict) and isinstance(lock.get("requires"), dict)
    if ok:
        for key, entry in lock["packages"].items():
            if not (isinstance(key, str) and key.startswith("hype_modules/") and isinstance(entry, dict)
                    and all(isinstance(entry.get(f), str) for f in ("version", "resolved", "integrity"))):
                ok = False
                break
            if not _KEY.match(key) or ".." in key.split("/"):
                ok = False
                break
    if not ok:
        raise LockfileError(f"{path} is not a hype lock file (version {LOCK_VERSION})", code="LOCKFILE_INVALID",
                            suggestion="Delete hype-lock.json and run 'hype install'.")
    return lock


def matches(lock: dict[str, Any], deps: dict[str, str], dev: dict[str, str]) -> bool:
    """True if the lock was made for exactly these ``dependencies`` / ``devDependencies``."""
    req = lock.get("requires") or {}
    return req.get("dependencies") == deps and req.get("devDependencies") == dev


def package_name(install_path: str) -> str:
    """``hype_modules/a/hype_modules/@s/b`` -> ``@s/b``."""
    tail = install_path.rsplit("hype_modules/", 1)[-1]
    return tail
