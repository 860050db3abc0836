"""Package tarballs: deterministic packing, SRI integrity, and safe extraction.

A tarball is a gzip'd tar whose members live under one top directory
(``package/``, npm's convention; the first path component is stripped).
:func:`safe_extract` refuses hostile archives with :class:`UnsafeTarballError`:
absolute paths, ``..``, links (symbolic or hard), device files and FIFOs,
bundled ``hype_modules``, members over ``max_file_bytes``, more than
``max_files`` members or more than ``max_total_bytes`` in total, PAX/GNU
extended headers over :data:`MAX_HEADER_BYTES`, sparse files, bad checksums.
The archive is read by a streaming reader here (``tarfile`` is only used to
*write* archives), so every limit is checked before the bytes it guards are
read: a 1 GiB PAX header costs one 512-byte block, not 1 GiB of memory.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import IntegrityError, UnsafeTarballError

#: most members (files and directories) in one package
MAX_FILES = 10_000
#: largest file in a package (bytes)
MAX_FILE_BYTES = 64 * 1024 * 1024
#: largest unpacked package (bytes of all files)
MAX_TOTAL_BYTES = 256 * 1024 * 1024
#: largest ``.tgz`` (compressed bytes), also the download limit
MAX_TARBALL_BYTES = 64 * 1024 * 1024
#: largest single PAX extended header or GNU long name/link record (bytes)
MAX_HEADER_BYTES = 64 * 1024
#: all extended-header bytes of one archive together
MAX_META_BYTES = 4 * 1024 * 1024
#: longest member path (bytes, before the top directory is stripped)
MAX_PATH_BYTES = 1024
BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_CHUNK = 1 << 16
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
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise _refuse(name, "control character in path")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _refuse(name, "absolute path")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _refuse(name[:100] + "...", f"path longer than {MAX_PATH_BYTES} bytes")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(name, "path escapes the package ('..')")
    if any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        raise _refuse(name, "path component longer than 255 bytes")
    if len(parts) <= 1:
        return None
    return parts[1:]


class _Stream:
    """The decompressed bytes of a gzip'd archive, read in bounded pieces against a budget.

    ``gzip.GzipFile.read(n)`` decompresses at most ``n`` bytes, so memory stays
    bounded whatever the compression ratio.
    """

    def __init__(self, data: bytes, budget: int) -> None:
        self._gz = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
        self.budget = budget
        self.pos = 0

    def read(self, n: int, *, eof_ok: bool = False) -> bytes:
        """Exactly ``n`` bytes (``b""`` at a clean end of stream when ``eof_ok``)."""
        if self.pos + n > self.budget:
            raise _refuse("(archive)", f"more than {self.budget} bytes once decompressed")
        out = bytearray()
        try:
            while len(out) < n:
                chunk = self._gz.read(min(n - len(out), _CHUNK))
                if not chunk:
                    if eof_ok and not out:
                        return b""
                    raise _refuse("(archive)", "truncated archive")
                out += chunk
        except (OSError, EOFError, zlib.error) as exc:
            raise _refuse("(archive)", f"not a valid gzip stream: {exc}") from None
        self.pos += n
        return bytes(out)

    def skip(self, n: int) -> None:
        """Read and drop ``n`` bytes."""
        while n > 0:
            k = min(n, _CHUNK)
            self.read(k)
            n -= k


def _number(field: bytes, member: str) -> int:
    """A numeric header field: octal text, or GNU base-256 (first byte 0x80)."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise _refuse(member, "negative number in header")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if text.strip(b"01234567"):
        raise _refuse(member, "invalid number in header")
    return int(text, 8)


def _text(raw: bytes, member: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(member, "member name is not UTF-8") from None


def _pax_records(data: bytes, member: str) -> dict[str, str]:
    """Parse PAX ``"<len> <key>=<value>\\n"`` records (strictly; malformed -> refused)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        sp = data.find(b" ", pos, pos + 12)
        digits = data[pos:sp] if sp > pos else b""
        if not digits.isdigit():
            raise _refuse(member, "malformed PAX header")
        length = int(digits)
        end = pos + length
        if end > len(data) or end <= sp + 2 or data[end - 1:end] != b"\n":
            raise _refuse(member, "malformed PAX header")
        key, eq, value = data[sp + 1:end - 1].partition(b"=")
        if not eq:
            raise _refuse(member, "malformed PAX header")
        out[_text(key, member)] = _text(value, member)
        pos = end
    return out


def _walk(data: bytes, sink: Callable[[list[str], int, _Stream, int], None] | None,
          mkdir: Callable[[list[str]], None] | None, *, max_files: int, max_file_bytes: int,
          max_total_bytes: int) -> list[str]:
    """Read a gzip'd tar archive header by header, checking every rule before reading data.

    ``sink(parts, size, stream, mode)`` consumes a regular file's ``size`` data
    bytes (None: skipped); ``mkdir(parts)`` creates a directory.
    Returns the regular files' paths below the top directory (POSIX separators).
    """
    if len(data) > MAX_TARBALL_BYTES:
        raise _refuse("(archive)", f"tarball larger than {MAX_TARBALL_BYTES} bytes")
    stream = _Stream(data, max_total_bytes + (max_files + 2) * 3 * BLOCK + MAX_META_BYTES)
    files: list[str] = []
    seen_files: set[tuple[str, ...]] = set()
    seen_dirs: set[tuple[str, ...]] = set()
    total = count = meta = records = 0
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None
    while True:
        block = stream.read(BLOCK, eof_ok=True)
        if not block or block == _ZERO_BLOCK:
            break
        records += 1
        if records > 4 * max_files + 16:
            raise _refuse("(archive)", "too many header records")
        raw_name = block[:100].split(b"\0", 1)[0]
        label = raw_name.decode("utf-8", "replace")
        chk = _number(block[148:156], label)
        unsigned = sum(block[:148]) + sum(block[156:]) + 256
        signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
        if chk not in (unsigned, signed):
            raise _refuse(label, "bad header checksum" if count or records > 1 else "not a tar archive")
        kind = block[156:157]
        size = _number(block[124:136], label)
        if kind in (b"x", b"g", b"L", b"K"):
            if size > MAX_HEADER_BYTES:
                raise _refuse(label, f"extended header of {size} bytes (limit {MAX_HEADER_BYTES})")
            meta += size
            if meta > MAX_META_BYTES:
                raise _refuse(label, f"more than {MAX_META_BYTES} bytes of extended headers")
            body = stream.read(_padded(size))[:size]
            if kind == b"x":
                pax = _pax_records(body, label)
            elif kind == b"g":
                if {"path", "linkpath", "size"} & set(_pax_records(body, label)):
                    raise _refuse(label, "global PAX header sets path, linkpath or size")
            elif kind == b"L":
                long_name = _text(body.split(b"\0", 1)[0], label)
            else:
                long_link = body.split(b"\0", 1)[0].decode("utf-8", "replace")
            continue
        if pax.get("path") is not None:
            name = pax["path"]
        elif long_name is not None:
            name = long_name
        else:
            name = _text(raw_name, label)
            prefix = block[345:500].split(b"\0", 1)[0] if block[257:263] == b"ustar\0" else b""
            if prefix:
                name = _text(prefix, label) + "/" + name
        linkname = pax.get("linkpath") or long_link or block[157:257].split(b"\0", 1)[0].decode("utf-8", "replace")
        if "size" in pax:
            if not pax["size"].isdigit() or len(pax["size"]) > 20:
                raise _refuse(name, "invalid PAX size")
            size = int(pax["size"])
        if any(k.startswith("GNU.sparse") for k in pax):
            raise _refuse(name, "sparse files are not allowed")
        pax, long_name, long_link = {}, None, None
        if kind == b"\0" and name.endswith("/"):
            kind = b"5"
        count += 1
        if count > max_files:
            raise _refuse(name, f"more than {max_files} members")
        parts = _member_path(name)
        if kind in (b"1", b"2"):
            raise _refuse(name, f"links are not allowed (-> {linkname!r})")
        if kind in (b"3", b"4", b"6"):
            raise _refuse(name, "device files, FIFOs and other special files are not allowed")
        if kind not in (b"0", b"\0", b"7", b"5"):
            raise _refuse(name, f"unsupported member type {kind!r}")
        if kind == b"5" and size:
            raise _refuse(name, "a directory entry with data")
        if kind != b"5":
            if size > max_file_bytes:
                raise _refuse(name, f"file larger than {max_file_bytes} bytes")
            total += size
            if total > max_total_bytes:
                raise _refuse(name, f"package larger than {max_total_bytes} bytes unpacked")
        if parts is None:
            stream.skip(_padded(size) if kind != b"5" else 0)
            continue
        if parts[0] == "hype_modules":
            raise _refuse(name, "bundled hype_modules are not allowed")
        key = tuple(parts)
        if any(key[:i] in seen_files for i in range(1, len(key) + 1)) or (kind != b"5" and key in seen_dirs):
            raise _refuse(name, "duplicate member")
        seen_dirs.update(key[:i] for i in range(1, len(key) + (kind == b"5")))
        if kind == b"5":
            if mkdir is not None:
                mkdir(parts)
            continue
        seen_files.add(key)
        mode = 0o755 if _number(block[100:108], name) & 0o111 else 0o644
        if sink is None:
            stream.skip(size)
        else:
            sink(parts, size, stream, mode)
        stream.skip(_padded(size) - size)
        files.append("/".join(parts))
    if records == 0:
        raise _refuse("(archive)", "empty archive")
    return files


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def safe_extract(data: bytes, dest: str | Path, *, max_files: int = MAX_FILES,
                 max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> list[str]:
    """Extract a package tarball into ``dest`` (created), stripping the top directory.

    ``dest`` should be inside a temporary directory: on error it may hold a
    partial extraction, which the caller discards.  The archive is read by a
    small streaming tar reader (not :mod:`tarfile`, which loads a PAX header
    whole): every header, size and count is checked before any data is read,
    and memory stays bounded (about :data:`MAX_HEADER_BYTES` plus 64 KiB).

    Args:
        data: the ``.tgz`` bytes (at most :data:`MAX_TARBALL_BYTES`).
        dest: the directory to extract into.
        max_files / max_file_bytes / max_total_bytes: limits (members; bytes of one file; bytes of all files).
    Returns:
        the extracted file paths relative to ``dest`` (POSIX separators).
    Raises:
        UnsafeTarballError: hostile or malformed archive (``details = {"member", "reason"}``).
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    root_real = os.path.realpath(root)

    def inside(path: str, name: str) -> str:
        if os.path.commonpath([root_real, os.path.realpath(path)]) != root_real:
            raise _refuse(name, "path escapes the package")
        return path

    def mkdir(parts: list[str]) -> None:
        name = "/".join(parts)
        try:
            os.makedirs(inside(os.path.join(root_real, *parts), name), exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise _refuse(name, f"conflicting member: {exc.strerror}") from None

    def sink(parts: list[str], size: int, stream: _Stream, mode: int) -> None:
        name = "/".join(parts)
        target = os.path.join(root_real, *parts)
        try:
            os.makedirs(inside(os.path.dirname(target), name), exist_ok=True)
            inside(target, name)
            if os.path.lexists(target):
                raise _refuse(name, "duplicate member")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise _refuse(name, f"conflicting member: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as out:
            left = size
            while left:
                chunk = stream.read(min(left, _CHUNK))
                out.write(chunk)
                left -= len(chunk)

    return _walk(data, sink, mkdir, max_files=max_files, max_file_bytes=max_file_bytes,
                 max_total_bytes=max_total_bytes)


def scan(data: bytes, *, max_files: int = MAX_FILES, max_file_bytes: int = MAX_FILE_BYTES,
         max_total_bytes: int = MAX_TOTAL_BYTES) -> list[str]:
    """Validate a tarball without writing anything (the checks of :func:`safe_extract`).

    CPU-bound (decompresses up to ``max_total_bytes``): call it off an event loop.
    Returns:
        the file paths it holds below the top directory.
    Raises:
        UnsafeTarballError: as :func:`safe_extract`.
    """
    return _walk(data, None, None, max_files=max_files, max_file_bytes=max_file_bytes,
                 max_total_bytes=max_total_bytes)


def read_manifest_from_tarball(data: bytes) -> dict[str, Any] | None:
    """The parsed ``package/hype.json`` of a tarball, or None.  Raises nothing for odd archives."""
    from .._errors import ManifestError
    from ._limits import MAX_MANIFEST_BYTES, loads_bounded

    found: list[Any] = []

    def sink(parts: list[str], size: int, stream: _Stream, mode: int) -> None:
        if parts == ["hype.json"] and size <= MAX_MANIFEST_BYTES and not found:
            found.append(stream.read(size))
        else:
            stream.skip(size)

    try:
        _walk(data, sink, None, max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES, max_total_bytes=MAX_TOTAL_BYTES)
        doc = loads_bounded(found[0], what="hype.json", max_bytes=MAX_MANIFEST_BYTES, error=ManifestError,
                            code_base="MANIFEST") if found else None
    except (UnsafeTarballError, ManifestError):
        return None
    return doc if isinstance(doc, dict) else None
