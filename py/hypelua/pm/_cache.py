"""The offline tarball cache: ``$HYPE_HOME/cache/sha512/<hex>.tgz``, addressed by integrity."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from .._errors import IntegrityError


class TarballCache:
    """Content-addressed store of verified tarballs.

    Args:
        root: cache directory (default ``$HYPE_HOME/cache``).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from ..modules import hype_home

            root = os.path.join(hype_home(), "cache")
        self.root = Path(root)

    def _path(self, sri: str) -> Path | None:
        if not isinstance(sri, str) or not sri.startswith("sha512-"):
            return None
        try:
            digest = base64.b64decode(sri[7:], validate=True)
        except ValueError:
            return None
        if len(digest) != 64:
            return None
        return self.root / "sha512" / (digest.hex() + ".tgz")

    def get(self, sri: str) -> bytes | None:
        """The cached tarball for ``sri`` (re-verified; a corrupt entry is deleted), or None."""
        from ._tarball import verify

        p = self._path(sri)
        if p is None or not p.is_file():
            return None
        data = p.read_bytes()
        try:
            verify(data, sri)
        except IntegrityError:
            p.unlink(missing_ok=True)
            return None
        return data

    def put(self, sri: str, data: bytes) -> None:
        """Store verified ``data`` under ``sri`` (atomic; errors writing the cache are ignored)."""
        p = self._path(sri)
        if p is None:
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, p)
        except OSError:
            pass
