"""npm semver ranges over ``semantic_version`` (``NpmSpec``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .._errors import ManifestError, ResolutionError


@lru_cache(maxsize=1024)
def parse_range(rng: str) -> Any:
    """``semantic_version.NpmSpec`` for ``rng`` (``""`` and ``"latest"`` mean ``*``).

    Raises:
        ResolutionError: ``INVALID_RANGE``.
    """
    import semantic_version

    text = rng.strip()
    if text in ("", "latest", "x"):
        text = "*"
    try:
        return semantic_version.NpmSpec(text)
    except ValueError as exc:
        raise ResolutionError(f"invalid version range {rng!r}: {exc}", code="INVALID_RANGE",
                              details={"range": rng},
                              suggestion="Use an npm range such as '^1.2.0', '~1.2', '>=1 <3' or '1.x'.") from None


@lru_cache(maxsize=4096)
def parse_version(v: str) -> Any:
    """``semantic_version.Version(v)`` (strict semver).  Raises ``ValueError``."""
    import semantic_version

    return semantic_version.Version(v)


def check_range(rng: str, where: str) -> str:
    """Validate a manifest range (a string of at most 1024 characters); raises :class:`ManifestError`
    naming ``where``."""
    from ._limits import MAX_RANGE_LENGTH

    if not isinstance(rng, str) or len(rng) > MAX_RANGE_LENGTH:
        raise ManifestError(f"{where}: a version range must be a string of at most {MAX_RANGE_LENGTH} characters",
                            details={"field": where, "value": str(rng)[:100]})
    try:
        parse_range(rng)
    except ResolutionError as exc:
        raise ManifestError(f"{where}: {exc.message}", details={"field": where, "value": rng}) from None
    return rng


def check_version(v: str, where: str) -> str:
    """Validate a semver version string (at most 256 characters, npm's limit); raises
    :class:`ManifestError` naming ``where``."""
    from ._limits import MAX_VERSION_LENGTH

    if not isinstance(v, str) or len(v) > MAX_VERSION_LENGTH:
        raise ManifestError(f"{where}: a version must be a string of at most {MAX_VERSION_LENGTH} characters",
                            details={"field": where, "value": str(v)[:100]})
    try:
        parse_version(v)
    except ValueError:
        raise ManifestError(f"{where}: {v!r} is not a semantic version like '1.0.0'",
                            details={"field": where, "value": v}) from None
    return v


def satisfies(version: str, rng: str) -> bool:
    """True if ``version`` matches the npm range ``rng``."""
    try:
        return parse_range(rng).match(parse_version(version))
    except ValueError:
        return False


def max_satisfying(versions: Iterable[str], rng: str) -> str | None:
    """The highest version of ``versions`` matching ``rng`` (None if none); invalid versions are skipped."""
    spec = parse_range(rng)
    best = None
    best_s = None
    for v in versions:
        try:
            pv = parse_version(v)
        except ValueError:
            continue
        if spec.match(pv) and (best is None or pv > best):
            best, best_s = pv, v
    return best_s
