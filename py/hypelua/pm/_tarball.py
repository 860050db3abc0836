"""Package tarballs: deterministic packing, SRI integrity, and safe extraction.

A tarball is a gzip'd tar whose members live under one top directory
(``package/``, npm's convention; the first path component is stripped).
:func:`safe_extract` refuses hostile archives with :class:`UnsafeTarballError`:
absolute paths, ``..``, links (symbolic or hard), device files and FIFOs,
bundled ``hype_modules``, members over ``max_file_bytes``, more than
``max_files`` members or more than ``max_total_bytes`` in total.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from .._errors import IntegrityError, UnsafeTarballError

MAX_FILES = 10_000
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_TARBALL_BYTES = 64 * 1024 * 1024
#: never packed
EXCLUDE = frozenset({"hype_modules", ".git", ".hg", ".svn", ".hype", "node_modules", "__pycache__", ".DS_Store"})


def integrity(data: bytes) -> str:
    """SRI string ``"sha512-<base64>"`` of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def verify(data: bytes, expected: str, *, what: str = "tarball") -> None:
    """Check ``data`` against an SRI ``expected`` (``sha512-...``; other algorithms refused).

    Raises:
        IntegrityError: mismatch or unsupported algorithm (``details = {"expected", "actual"}``).
    """
    actual = integrity(data)
    if not isinstance(expected, str) or not expected.startswith("sha512-") or actual != expected:
        raise IntegrityError(f"integrity check failed for {what}",
                             details={"what": what, "expected": expected, "actual": actual})


def pack(directory: str | Path) -> bytes:
    """Pack ``directory`` into a deterministic ``.tgz`` (sorted, mtime 0, uid/gid 0, ``package/`` prefix).

    Skips :data:`EXCLUDE`, ``*.tgz`` files and symbolic links.
    Returns the tarball bytes.
    """
    root = Path(directory)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in EXCLUDE and not os.path.islink(os.path.join(dirpath, d)))
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if fn in EXCLUDE or fn.endswith(".tgz") or os.path.islink(full):
                    continue
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                data = Path(full).read_bytes()
                info = tarfile.TarInfo("package/" + rel)
                info.size = len(data)
                info.mode = 0o755 if os.access(full, os.X_OK) else 0o644
                info.mtime = 0
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _refuse(member: str, reason: str) -> UnsafeTarballError:
    return UnsafeTarballError(f"refusing tarball member {member!r}: {reason}",
                              details={"member": member, "reason": reason})


def _member_path(name: str) -> list[str] | None:
    """Path components below the top directory; None for the top directory itself."""
    if "\\" in name or "\0" in name:
        raise _refuse(name, "backslash or NUL in path")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _refuse(name, "absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(name, "path escapes the package ('..')")
    if len(parts) <= 1:
        return None
    return parts[1:]


def safe_extract(data: bytes, dest: str | Path, *, max_files: int = MAX_FILES,
                 max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> list[str]:
    """Extract a package tarball into ``dest`` (created), stripping the top directory.

    ``dest`` should be inside a temporary directory: on error it may hold a
    partial extraction, which the caller discards.

    Returns:
        the extracted file paths relative to ``dest`` (POSIX separators).
    Raises:
        UnsafeTarballError: hostile or malformed archive (``details = {"member", "reason"}``).
    """
    if len(data) > MAX_TARBALL_BYTES:
        raise _refuse("(archive)", f"tarball larger than {MAX_TARBALL_BYTES} bytes")
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    root_real = os.path.realpath(root)
    files: list[str] = []
    total = 0
    count = 0
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 - closed by `with tf` below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _refuse("(archive)", f"not a gzip'd tar archive: {exc}") from None
    try:
        with tf:
            while True:
                try:
                    m = tf.next()
                except (tarfile.TarError, OSError, EOFError, zlib_error()) as exc:
                    raise _refuse("(archive)", f"corrupt archive: {exc}") from None
                if m is None:
                    break
                count += 1
                if count > max_files:
                    raise _refuse(m.name, f"more than {max_files} members")
                parts = _member_path(m.name)
                if m.issym() or m.islnk():
                    raise _refuse(m.name, f"links are not allowed (-> {m.linkname!r})")
                if not (m.isreg() or m.isdir()):
                    raise _refuse(m.name, "device files, FIFOs and other special files are not allowed")
                if parts is None:
                    continue
                if parts[0] == "hype_modules":
                    raise _refuse(m.name, "bundled hype_modules are not allowed")
                target = os.path.join(root_real, *parts)
                if os.path.commonpath([root_real, os.path.realpath(os.path.dirname(target))]) != root_real:
                    raise _refuse(m.name, "path escapes the package")
                if m.isdir():
                    os.makedirs(target, exist_ok=True)
                    continue
                if m.size > max_file_bytes:
                    raise _refuse(m.name, f"file larger than {max_file_bytes} bytes")
                total += m.size
                if total > max_total_bytes:
                    raise _refuse(m.name, f"package larger than {max_total_bytes} bytes unpacked")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.lexists(target):
                    raise _refuse(m.name, "duplicate member")
                src = tf.extractfile(m)
                assert src is not None
                mode = 0o755 if m.mode & 0o111 else 0o644
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(1 << 16):
                        out.write(chunk)
                files.append("/".join(parts))
    except UnsafeTarballError:
        raise
    except (tarfile.TarError, EOFError, zlib_error()) as exc:
        raise _refuse("(archive)", f"corrupt archive: {exc}") from None
    return files


def scan(data: bytes) -> None:
    """Validate a tarball without keeping it (extracts into a temporary directory).

    Raises:
        UnsafeTarballError: as :func:`safe_extract`.
    """
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="hype-scan-")
    try:
        safe_extract(data, os.path.join(tmp, "p"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


def read_manifest_from_tarball(data: bytes) -> dict | None:
    """The parsed ``package/hype.json`` of a tarball, or None.  Raises nothing for odd archives."""
    import json

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            for m in tf:
                parts = m.name.split("/")
                if len(parts) == 2 and parts[1] == "hype.json" and m.isreg() and m.size < 1 << 20:
                    f = tf.extractfile(m)
                    return json.loads(f.read()) if f else None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None
    return None
