"""Limits of the package manager and a JSON reader that enforces them.

Every document the package manager reads from a file, a registry or a publish
request goes through :func:`loads_bounded`: a byte limit checked before
parsing, and a nesting limit checked by a linear scan *before* ``json.loads``
(so a 100,000-deep ``[[[[...`` is a typed error, never a ``RecursionError``).

The limits (bytes unless said otherwise):

* :data:`MAX_MANIFEST_BYTES` 1 MiB -- a ``hype.json`` (npm's are a few KB).
* :data:`MAX_DOCUMENT_BYTES` 16 MiB -- a registry package document (all versions).
* :data:`MAX_LOCK_BYTES` 64 MiB -- ``hype-lock.json`` (10,000 packages of ~1 KB each fit).
* :data:`MAX_JSON_DEPTH` 64 -- nesting of any of these (real manifests nest 3-4 deep).
* :data:`MAX_NAME_LENGTH` 214 -- npm's package-name limit.
* :data:`MAX_VERSION_LENGTH` 256 -- npm semver's ``MAX_LENGTH``.
* :data:`MAX_RANGE_LENGTH` 1024 -- a dependency range.
* :data:`MAX_DESCRIPTION_LENGTH` 8192 characters -- ``description`` (npm shows ~200).
* :data:`MAX_DEPENDENCIES` 1000 -- entries in one ``dependencies`` section.
* :data:`MAX_VERSIONS` 10,000 -- versions in one package document.
* :data:`MAX_TREE_PACKAGES` 10,000 / :data:`MAX_TREE_DEPTH` 32 -- a resolved tree.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

from .._errors import PackageError

MAX_MANIFEST_BYTES = 1 << 20
MAX_DOCUMENT_BYTES = 16 << 20
MAX_LOCK_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
MAX_NAME_LENGTH = 214
MAX_VERSION_LENGTH = 256
MAX_RANGE_LENGTH = 1024
MAX_DESCRIPTION_LENGTH = 8192
MAX_URL_LENGTH = 4096
MAX_DEPENDENCIES = 1000
MAX_VERSIONS = 10_000
MAX_TREE_PACKAGES = 10_000
MAX_TREE_DEPTH = 32

# whole strings (an unterminated one runs to the end: the match stays linear)
_STRINGS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
# opening brackets -> 1, closing -> 255 (-1 as a signed byte); everything else deleted
_DEPTH_TABLE = bytes.maketrans(b"[]{}", bytes([1, 255, 1, 255]))
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """True if the JSON ``text`` nests arrays/objects deeper than ``max_depth``.

    Brackets inside strings are ignored.  Linear and mostly in C (a regular
    expression drops the strings, ``bytes.translate`` keeps the brackets as
    +1/-1, ``itertools.accumulate`` gives the running depth): about 50 ns per
    bracket, nothing when the text has fewer than ``max_depth`` opening brackets.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    steps = array("b")
    steps.frombytes(_STRINGS.sub("", text).encode("utf-8", "surrogatepass").translate(_DEPTH_TABLE, _NOT_BRACKETS))
    return max(accumulate(steps), default=0) > max_depth


def loads_bounded(data: str | bytes, *, what: str, max_bytes: int, error: type[PackageError],
                  code_base: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON ``data`` with a size and a nesting limit.

    Args:
        data: the JSON text (``bytes`` must be UTF-8).
        what: names the document in messages (a path or URL).
        max_bytes: largest accepted size (bytes of the UTF-8 text).
        error: the error class raised (``ManifestError``, ``LockfileError``, ...).
        code_base: error codes are ``<code_base>_TOO_LARGE``, ``_TOO_DEEP`` and ``_INVALID``.
        max_depth: deepest accepted nesting of arrays/objects.
    Returns:
        the parsed value.
    Raises:
        ``error``: over a limit or not valid JSON (``details = {"path", "limit"?, "size"?}``).
    """
    if isinstance(data, bytes) or len(data) * 4 <= max_bytes:
        size = len(data)
    else:
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise error(f"{what} is larger than {max_bytes} bytes ({size})", code=f"{code_base}_TOO_LARGE",
                    details={"path": what, "limit": max_bytes, "size": size})
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8: {exc}", code=f"{code_base}_INVALID", details={"path": what}) from None
    else:
        text = data
    if json_depth_exceeds(text, max_depth):
        raise error(f"{what} nests deeper than {max_depth} levels", code=f"{code_base}_TOO_DEEP",
                    details={"path": what, "limit": max_depth})
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {exc}", code=f"{code_base}_INVALID",
                    details={"path": what}) from None
