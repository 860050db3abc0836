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

from .._errors import LockfileError, UnsafeInstallPathError
from ._limits import MAX_LOCK_BYTES, MAX_TREE_DEPTH, MAX_URL_LENGTH, loads_bounded

LOCKFILE = "hype-lock.json"
LOCK_VERSION = 1
MODULES = "hype_modules"
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


def install_path_names(path: Any) -> list[str] | None:
    """The package names along an install path (``hype_modules/a/hype_modules/@s/b`` -> ``["a", "@s/b"]``),
    or None when it is not a valid install path (a name failing
    :func:`hypelua.pm._manifest.check_name`, ``..``, other separators, deeper than 32)."""
    from ._manifest import is_valid_name

    if not isinstance(path, str) or len(path) > 64 * 1024 or not _KEY.match(path):
        return None
    names = path[len(MODULES) + 1:].split(f"/{MODULES}/")
    if len(names) > MAX_TREE_DEPTH or not all(is_valid_name(n) for n in names):
        return None
    return names


def check_packages(packages: Any, error: Any = UnsafeInstallPathError) -> dict[str, dict[str, Any]]:
    """Validate ``packages`` (install path -> lock entry) before anything is written.

    Every path must be a valid install path (:func:`install_path_names`); every
    entry needs ``version`` (semver, ≤ 256 chars), ``resolved`` (an ``http(s):``
    or ``file:`` URL, ≤ 4096 chars) and ``integrity`` (``sha512-...``); optional
    ``dependencies`` (valid names -> ranges) and ``dev`` (bool).
    Returns ``packages``.  Raises ``error`` (default :class:`UnsafeInstallPathError`,
    ``details = {"path", "reason"}``).
    """
    from .._errors import ManifestError
    from ._manifest import check_name
    from ._semver import check_range, check_version

    def refuse(path: Any, reason: str) -> Exception:
        shown = path[:300] if isinstance(path, str) else repr(path)[:300]
        return error(f"refusing install path {shown!r}: {reason}", details={"path": shown, "reason": reason})

    if not isinstance(packages, dict):
        raise refuse("(packages)", "not an object")
    for path, entry in packages.items():
        if install_path_names(path) is None:
            raise refuse(path, "not hype_modules/<name>[/hype_modules/<name>...] with valid package names")
        if not isinstance(entry, dict):
            raise refuse(path, "entry is not an object")
        try:
            check_version(entry.get("version"), f"{path}.version")  # type: ignore[arg-type]
            deps = entry.get("dependencies", {})
            if not isinstance(deps, dict):
                raise refuse(path, "dependencies is not an object")
            for n, r in deps.items():
                check_name(n, f"{path}.dependencies")
                check_range(r, f"{path}.dependencies.{n}")
        except ManifestError as exc:
            raise refuse(path, exc.message) from None
        resolved, sri = entry.get("resolved"), entry.get("integrity")
        if not isinstance(resolved, str) or len(resolved) > MAX_URL_LENGTH \
                or not resolved.startswith(("http://", "https://", "file:")):
            raise refuse(path, "resolved is not an http(s) or file: URL")
        if not isinstance(sri, str) or not sri.startswith("sha512-") or len(sri) > 200:
            raise refuse(path, "integrity is not a sha512 SRI string")
        if not isinstance(entry.get("dev", False), bool):
            raise refuse(path, "dev is not a boolean")
    return packages


def read_lock(directory: str | Path) -> dict[str, Any] | None:
    """Read ``<directory>/hype-lock.json``; None when absent.

    The whole lock is validated (:func:`check_packages`: names, install paths,
    versions, URLs, integrity) before it is used, so a hostile lock cannot make an
    install write outside ``hype_modules/``.
    Raises:
        LockfileError: ``LOCKFILE_INVALID`` when unreadable, malformed or hostile
        (``LOCKFILE_TOO_LARGE`` / ``LOCKFILE_TOO_DEEP`` over the limits).
    """
    path = Path(directory) / LOCKFILE
    suggestion = "Delete hype-lock.json and run 'hype install'."
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LOCK_BYTES + 1)
    except FileNotFoundError:
        return None
    except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        raise LockfileError(f"cannot read {path}: {exc.strerror}", code="LOCKFILE_INVALID",
                            suggestion=suggestion) from None
    try:
        lock = loads_bounded(raw, what=str(path), max_bytes=MAX_LOCK_BYTES, error=LockfileError,
                             code_base="LOCKFILE")
    except LockfileError as exc:
        exc.suggestion = suggestion
        raise
    ok = isinstance(lock, dict) and lock.get("lockfileVersion") == LOCK_VERSION \
        and isinstance(lock.get("packages"), dict) and isinstance(lock.get("requires"), dict)
    if not ok:
        raise LockfileError(f"{path} is not a hype lock file (version {LOCK_VERSION})", code="LOCKFILE_INVALID",
                            suggestion=suggestion)
    try:
        check_packages(lock["packages"], LockfileError)
    except LockfileError as exc:
        raise LockfileError(f"{path}: {exc.message}", code="LOCKFILE_INVALID", details=exc.details,
                            suggestion=suggestion) from None
    return lock


def matches(lock: dict[str, Any], deps: dict[str, str], dev: dict[str, str]) -> bool:
    """True if the lock was made for exactly these ``dependencies`` / ``devDependencies``."""
    req = lock.get("requires") or {}
    return req.get("dependencies") == deps and req.get("devDependencies") == dev


def package_name(install_path: str) -> str:
    """``hype_modules/a/hype_modules/@s/b`` -> ``@s/b``."""
    return install_path[len(MODULES) + 1:].rsplit(f"/{MODULES}/", 1)[-1]
