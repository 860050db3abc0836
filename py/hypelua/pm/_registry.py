"""Registry protocol, storage and clients (HTTP and ``file:`` registries).

Protocol (npm-like):

* ``GET  <base>/<name>`` -> package document
  ``{"name", "dist-tags": {"latest"}, "versions": {v: {name, version, main, dependencies,
  dist: {tarball: URL, integrity: "sha512-..."}}}}``; 404 when unknown.
  Scoped names are sent as ``@scope%2fname``.
* ``GET  <tarball URL>`` -> the ``.tgz`` bytes.
* ``PUT  <base>/<name>`` with ``Authorization: Bearer <token>`` and JSON
  ``{"manifest": {...hype.json}, "tarball": base64, "integrity": "sha512-..."}``
  -> 201; 401 without/with a wrong token; 409 when the version exists; 400 when invalid.

A ``file:`` registry is a directory in the same layout the server stores
(:class:`RegistryStorage`): ``<dir>/<name>/index.json`` and ``<dir>/<name>/<file>.tgz``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlparse

from .._errors import (
    LimitExceededError,
    ManifestError,
    RegistryDocumentError,
    RegistryError,
    ResolutionError,
)
from ._limits import (
    MAX_DEPENDENCIES,
    MAX_DESCRIPTION_LENGTH,
    MAX_DOCUMENT_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_URL_LENGTH,
    MAX_VERSIONS,
    loads_bounded,
)

#: a stored tarball file name: no separators, no leading dot, at most 255 bytes
FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,250}\.tgz$")
_PUBLISH_LOCKS: dict[str, threading.Lock] = {}
_PUBLISH_LOCKS_GUARD = threading.Lock()


def encode_name(name: str) -> str:
    """Path segment for a package name (``@scope/x`` -> ``@scope%2fx``)."""
    return quote(name, safe="@")


def tarball_filename(name: str, version: str) -> str:
    """``<basename>-<version>.tgz`` (scope dropped, like npm); when that would be over
    200 bytes (a 214-char name with a 256-char version), ``<basename[:100]>-<sha256[:32]>.tgz``."""
    base = name.rsplit("/", 1)[-1]
    filename = f"{base}-{version}.tgz"
    if len(filename.encode("utf-8")) > 200 or not FILENAME_RE.match(filename):
        filename = f"{base[:100]}-{hashlib.sha256(f'{name}@{version}'.encode()).hexdigest()[:32]}.tgz"
    return filename


def _inside(root: Path, path: Path) -> bool:
    """True if ``path`` resolves (symbolic links followed) inside ``root``."""
    r = os.path.realpath(root)
    return os.path.commonpath([r, os.path.realpath(path)]) == r and os.path.realpath(path) != r


def validate_document(name: str, doc: Any, *, source: str, tarball_prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Check a package document (from a registry or a storage directory) before it is used.

    Every field that becomes a path, a URL or a resolution input is checked:
    the document's and each version's ``name``, version keys (semver, ≤ 256
    chars), dependency names (:func:`hypelua.pm._manifest.check_name`) and ranges,
    ``dist.tarball`` (a string starting with one of ``tarball_prefixes``, ≤ 4096
    chars) and ``dist.integrity`` (``sha512-...``); at most 10,000 versions and
    1000 dependencies per version.

    Args:
        name: the package asked for.
        doc: the parsed document.
        source: the registry URL or file (for messages).
        tarball_prefixes: accepted starts of ``dist.tarball`` (``("http://", "https://")``
            for an HTTP registry, ``("file:",)`` for a file registry, ``("",)`` for stored file names).
    Returns:
        ``doc``.
    Raises:
        RegistryDocumentError: ``REGISTRY_DOCUMENT_INVALID`` (``details = {"name", "field", "registry"}``).
    """
    from ._manifest import is_valid_name
    from ._semver import check_range, check_version

    def bad(field: str, why: str) -> RegistryDocumentError:
        return RegistryDocumentError(f"registry document of {name!r} from {source}: {field} {why}",
                                     details={"name": name, "field": field, "registry": source})

    if not isinstance(doc, dict):
        raise bad("(document)", "is not a JSON object")
    if doc.get("name", name) != name:
        raise bad("name", "does not match the package asked for")
    versions = doc.get("versions")
    if not isinstance(versions, dict):
        raise bad("versions", "is not an object")
    if len(versions) > MAX_VERSIONS:
        raise bad("versions", f"has more than {MAX_VERSIONS} entries")
    tags = doc.get("dist-tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) and len(v) <= 256 for v in tags.values()):
        raise bad("dist-tags", "is not an object of version strings")
    for v, entry in versions.items():
        field = f"versions[{v[:80]!r}]"
        try:
            check_version(v, field)
        except ManifestError:
            raise bad(field, "is not a semantic version of at most 256 characters") from None
        if not isinstance(entry, dict):
            raise bad(field, "is not an object")
        if entry.get("name", name) != name or entry.get("version", v) != v:
            raise bad(field, "has a name or version that does not match")
        deps = entry.get("dependencies") or {}
        if not isinstance(deps, dict) or len(deps) > MAX_DEPENDENCIES:
            raise bad(f"{field}.dependencies", f"is not an object of at most {MAX_DEPENDENCIES} entries")
        for dep, rng in deps.items():
            if not is_valid_name(dep):
                raise bad(f"{field}.dependencies", f"has an invalid package name {dep[:100]!r}")
            try:
                check_range(rng, f"{field}.dependencies.{dep}")
            except ManifestError:
                raise bad(f"{field}.dependencies.{dep}", "is not a valid version range") from None
        desc = entry.get("description")
        if desc is not None and (not isinstance(desc, str) or len(desc) > MAX_DESCRIPTION_LENGTH):
            raise bad(f"{field}.description", f"is not a string of at most {MAX_DESCRIPTION_LENGTH} characters")
        dist = entry.get("dist")
        if not isinstance(dist, dict):
            raise bad(f"{field}.dist", "is not an object")
        tarball, sri = dist.get("tarball"), dist.get("integrity")
        if not isinstance(tarball, str) or len(tarball) > MAX_URL_LENGTH or not tarball.startswith(tarball_prefixes) \
                or any(ord(c) < 0x20 for c in tarball):
            raise bad(f"{field}.dist.tarball", f"is not a URL starting with {' or '.join(tarball_prefixes)!r}")
        if tarball_prefixes == ("",) and not FILENAME_RE.match(tarball):
            raise bad(f"{field}.dist.tarball", "is not a plain .tgz file name")
        if not isinstance(sri, str) or not sri.startswith("sha512-") or len(sri) > 200:
            raise bad(f"{field}.dist.integrity", "is not a sha512 SRI string")
    return doc


class RegistryStorage:
    """The on-disk layout shared by the registry server and ``file:`` registries.

    Args:
        root: the storage directory (created on first publish).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path | None:
        """``<root>/<encoded name>``, or None for an invalid name or one resolving outside ``root``."""
        from ._manifest import is_valid_name

        if not is_valid_name(name):
            return None
        d = self.root / encode_name(name)
        return d if _inside(self.root, d) else None

    def document(self, name: str) -> dict[str, Any] | None:
        """The stored document (tarball fields are file names, not URLs), or None (unknown or invalid name).

        Raises:
            RegistryDocumentError: the stored ``index.json`` is over 16 MiB, too deep or invalid.
        """
        d = self._dir(name)
        if d is None:
            return None
        path = d / "index.json"
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_DOCUMENT_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        doc = loads_bounded(raw, what=str(path), max_bytes=MAX_DOCUMENT_BYTES, error=RegistryDocumentError,
                            code_base="REGISTRY_DOCUMENT")
        return validate_document(name, doc, source=str(path), tarball_prefixes=("",))

    def tarball_path(self, name: str, filename: str) -> Path | None:
        """Path of a stored tarball, or None (unknown, an invalid name or file name, or a path
        resolving outside the package's directory)."""
        d = self._dir(name)
        if d is None or not isinstance(filename, str) or not FILENAME_RE.match(filename):
            return None
        p = d / filename
        return p if _inside(d, p) and p.is_file() else None

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        """Store a new version.

        Args:
            manifest: the package's ``hype.json`` (validated here).
            tarball: the ``.tgz`` bytes (scanned for hostile content here).
        Returns:
            the stored version entry.
        Raises:
            ManifestError: invalid manifest (or a name/version missing).
            UnsafeTarballError: hostile tarball.
            RegistryError: ``VERSION_EXISTS`` (409) when that version is already published.
        """
        from ._manifest import atomic_write, validate
        from ._tarball import MAX_TARBALL_BYTES, integrity, scan

        size = len(json.dumps(manifest, ensure_ascii=False).encode("utf-8")) if isinstance(manifest, dict) else 0
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes ({size})",
                                code="MANIFEST_TOO_LARGE",
                                details={"limit": MAX_MANIFEST_BYTES, "size": size, "status": 413})
        m = validate(manifest)
        m.require_publishable()
        assert m.name and m.version
        if len(tarball) > MAX_TARBALL_BYTES:
            raise LimitExceededError(f"the tarball is larger than {MAX_TARBALL_BYTES} bytes",
                                     code="TARBALL_TOO_LARGE",
                                     details={"limit": MAX_TARBALL_BYTES, "size": len(tarball), "status": 413})
        d = self._dir(m.name)
        if d is None:
            raise ManifestError(f"package name {m.name!r} cannot be stored", details={"field": "name"})
        scan(tarball)
        with _publish_lock(self.root):
            d.mkdir(parents=True, exist_ok=True)
            doc = self.document(m.name) or {"name": m.name, "dist-tags": {}, "versions": {}}
            if m.version in doc["versions"]:
                raise RegistryError(f"{m.name}@{m.version} is already published", code="VERSION_EXISTS",
                                    details={"name": m.name, "version": m.version, "status": 409},
                                    suggestion="Bump the version in hype.json and publish again.")
            if len(doc["versions"]) >= MAX_VERSIONS:
                raise LimitExceededError(f"{m.name} has {MAX_VERSIONS} versions already",
                                         details={"limit": MAX_VERSIONS, "status": 413})
            entry = self._store(d, doc, m, manifest, tarball, integrity(tarball))
            text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
            if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
                (d / entry["dist"]["tarball"]).unlink(missing_ok=True)
                raise LimitExceededError(f"the document of {m.name} would exceed {MAX_DOCUMENT_BYTES} bytes",
                                         code="REGISTRY_DOCUMENT_TOO_LARGE",
                                         details={"limit": MAX_DOCUMENT_BYTES, "status": 413})
            atomic_write(d / "index.json", text)
        return entry

    def _store(self, d: Path, doc: dict[str, Any], m: Any, manifest: dict[str, Any], tarball: bytes,
               sri: str) -> dict[str, Any]:
        """Write the tarball and add its version entry to ``doc`` (in memory)."""
        from ._manifest import atomic_write
        from ._semver import parse_version

        filename = tarball_filename(m.name, m.version)
        atomic_write(d / filename, tarball)
        entry: dict[str, Any] = {
            "name": m.name,
            "version": m.version,
            "dependencies": dict(m.dependencies),
            "dist": {"tarball": filename, "integrity": sri},
        }
        for key in ("main", "description", "license"):
            if isinstance(manifest.get(key), str) and len(manifest[key]) <= MAX_DESCRIPTION_LENGTH:
                entry[key] = manifest[key]
        doc["versions"][m.version] = entry
        latest = max(doc["versions"], key=lambda v: parse_version(v))
        doc["dist-tags"]["latest"] = latest
        return entry

    def document_with_urls(self, name: str, base_url: str, sep: str = "/-/") -> dict[str, Any] | None:
        """The document with each ``dist.tarball`` made absolute: ``<base_url>/<name><sep><file>``
        (``/-/`` over HTTP, ``/`` for a ``file:`` registry)."""
        doc = self.document(name)
        if doc is None:
            return None
        base = base_url.rstrip("/")
        for entry in doc.get("versions", {}).values():
            dist = entry.get("dist", {})
            seg = encode_name(name) if sep != "/" else quote(encode_name(name), safe="@")
            dist["tarball"] = f"{base}/{seg}{sep}{dist.get('tarball')}"
        return doc


def _publish_lock(root: Path) -> threading.Lock:
    """One lock per storage directory: publishes read-modify-write ``index.json``."""
    key = os.path.realpath(root)
    with _PUBLISH_LOCKS_GUARD:
        return _PUBLISH_LOCKS.setdefault(key, threading.Lock())


class Registry(Protocol):
    """What the installer needs from a registry."""

    url: str

    def document(self, name: str) -> dict[str, Any]:
        """The package document; raises :class:`ResolutionError` ``PACKAGE_NOT_FOUND``."""

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        """Publish a version; returns the version entry."""


def _not_found(name: str, url: str) -> ResolutionError:
    return ResolutionError(f"package {name!r} not found in registry {url}", code="PACKAGE_NOT_FOUND",
                           details={"name": name, "registry": url})


class FileRegistry:
    """A directory registry (``file:DIR``): tarball URLs are ``file://`` URLs."""

    def __init__(self, root: str | Path) -> None:
        self.storage = RegistryStorage(Path(root).resolve())
        self.url = "file:" + str(self.storage.root)

    def document(self, name: str) -> dict[str, Any]:
        """The package document with ``file://`` tarball URLs (validated: :func:`validate_document`).

        Raises:
            ResolutionError: ``PACKAGE_NOT_FOUND``.  RegistryDocumentError: a hostile or malformed document.
        """
        doc = self.storage.document_with_urls(name, self.storage.root.as_uri(), "/")
        if doc is None:
            raise _not_found(name, self.url)
        return validate_document(name, doc, source=self.url, tarball_prefixes=("file:",))

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        return self.storage.publish(manifest, tarball)


class HttpRegistry:
    """An HTTP registry (``http://`` / ``https://``) through httpx.

    Args:
        url: base URL.
        token: bearer token for publishing.
        timeout: seconds per request.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        return self._client

    def _request(self, method: str, url: str, **kw: Any) -> Any:
        import httpx

        try:
            return self._http().request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry {self.url} unreachable: {exc}", code="REGISTRY_UNREACHABLE",
                                details={"url": url}) from None

    def get_limited(self, url: str, limit: int) -> tuple[int, bytes]:
        """GET ``url`` reading at most ``limit`` bytes of body (streamed: a larger answer is cut off
        without being buffered).  Returns ``(status, body)``.

        Raises:
            RegistryError: ``REGISTRY_UNREACHABLE``; ``RESPONSE_TOO_LARGE`` over ``limit``.
        """
        import httpx

        try:
            with self._http().stream("GET", url) as r:
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise RegistryError(f"GET {url}: answer of {declared} bytes is over {limit}",
                                        code="RESPONSE_TOO_LARGE", details={"url": url, "limit": limit})
                buf = bytearray()
                for chunk in r.iter_bytes():
                    buf += chunk
                    if len(buf) > limit:
                        raise RegistryError(f"GET {url}: answer is over {limit} bytes", code="RESPONSE_TOO_LARGE",
                                            details={"url": url, "limit": limit})
                return r.status_code, bytes(buf)
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry {self.url} unreachable: {exc}", code="REGISTRY_UNREACHABLE",
                                details={"url": url}) from None

    def document(self, name: str) -> dict[str, Any]:
        """The package document (at most 16 MiB, validated by :func:`validate_document`).

        Raises:
            ResolutionError: ``PACKAGE_NOT_FOUND``.  RegistryDocumentError: malformed, too large or hostile.
            RegistryError: other HTTP failures.
        """
        url = f"{self.url}/{encode_name(name)}"
        try:
            status, body = self.get_limited(url, MAX_DOCUMENT_BYTES)
        except RegistryError as exc:
            if exc.code == "RESPONSE_TOO_LARGE":
                raise RegistryDocumentError(exc.message, code="REGISTRY_DOCUMENT_TOO_LARGE",
                                            details=exc.details) from None
            raise
        return parse_document(name, status, body, self.url)

    def fetch(self, url: str) -> bytes:
        """GET a tarball URL; raises :class:`RegistryError`."""
        return fetch(url, client=self)

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        from ._tarball import integrity

        name = manifest.get("name")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"manifest": manifest, "tarball": base64.b64encode(tarball).decode("ascii"),
                "integrity": integrity(tarball)}
        r = self._request("PUT", f"{self.url}/{encode_name(str(name))}", json=body, headers=headers)
        if r.status_code in (200, 201):
            return r.json()
        try:
            err = r.json()
        except ValueError:
            err = {"message": r.text[:500]}
        code = err.get("code") or ("REGISTRY_UNAUTHORIZED" if r.status_code in (401, 403) else "REGISTRY_ERROR")
        msg = err.get("message") or f"registry answered {r.status_code}"
        if code.startswith("MANIFEST"):
            raise ManifestError(msg, code=code, details={"status": r.status_code})
        raise RegistryError(msg, code=code, details={"status": r.status_code, **(err.get("details") or {})})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def parse_document(name: str, status: int, body: bytes, registry: str) -> dict[str, Any]:
    """Turn a registry's answer to ``GET <registry>/<name>`` into a validated document.

    Args:
        name: the package asked for.  status / body: the HTTP answer.  registry: its base URL.
    Returns:
        the document (:func:`validate_document` with http(s) tarball URLs).
    Raises:
        ResolutionError: ``PACKAGE_NOT_FOUND`` on 404.  RegistryError: another status.
        RegistryDocumentError: over 16 MiB or 64 levels deep, not JSON, or invalid.
    """
    if status == 404:
        raise _not_found(name, registry)
    if status != 200:
        raise RegistryError(f"registry answered {status} for {name!r}",
                            details={"status": status, "body": body[:500].decode("utf-8", "replace")})
    doc = loads_bounded(body, what=f"{registry}/{encode_name(name)}", max_bytes=MAX_DOCUMENT_BYTES,
                        error=RegistryDocumentError, code_base="REGISTRY_DOCUMENT")
    return validate_document(name, doc, source=registry, tarball_prefixes=("http://", "https://"))


def fetch(url: str, client: HttpRegistry | None = None) -> bytes:
    """Download a tarball from a ``file:`` or ``http(s):`` URL.

    Raises:
        RegistryError: ``TARBALL_NOT_FOUND`` / ``REGISTRY_UNREACHABLE`` / other HTTP failures.
    """
    from ._tarball import MAX_TARBALL_BYTES

    parsed = urlparse(url)
    if parsed.scheme == "file":
        try:
            with open(unquote(parsed.path), "rb") as f:
                data = f.read(MAX_TARBALL_BYTES + 1)
        except (OSError, ValueError):
            raise RegistryError(f"tarball {url} not found", code="TARBALL_NOT_FOUND", details={"url": url}) from None
    elif parsed.scheme in ("http", "https"):
        c = client or HttpRegistry(f"{parsed.scheme}://{parsed.netloc}")
        try:
            status, data = c.get_limited(url, MAX_TARBALL_BYTES)
        except RegistryError as exc:
            if exc.code == "RESPONSE_TOO_LARGE":
                raise RegistryError(f"tarball {url} is larger than {MAX_TARBALL_BYTES} bytes",
                                    code="TARBALL_TOO_LARGE", details={"url": url}) from None
            raise
        if status != 200:
            raise RegistryError(f"GET {url} answered {status}", code="TARBALL_NOT_FOUND",
                                details={"url": url, "status": status})
    else:
        raise RegistryError(f"unsupported tarball URL {url!r}", details={"url": url})
    if len(data) > MAX_TARBALL_BYTES:
        raise RegistryError(f"tarball {url} is larger than {MAX_TARBALL_BYTES} bytes", code="TARBALL_TOO_LARGE")
    return data


def default_registry_url() -> str:
    """``$HYPE_REGISTRY`` or the file registry ``file:$HYPE_HOME/registry``."""
    env = os.environ.get("HYPE_REGISTRY")
    if env:
        return env
    from ..modules import hype_home

    return "file:" + os.path.join(hype_home(), "registry")


def open_registry(url: str | None = None, token: str | None = None) -> FileRegistry | HttpRegistry:
    """A client for ``url`` (``http(s)://...``, ``file:DIR``, ``file:///DIR`` or a plain directory).

    ``token`` defaults to ``$HYPE_TOKEN``.
    """
    url = url or default_registry_url()
    token = token if token is not None else os.environ.get("HYPE_TOKEN")
    if url.startswith(("http://", "https://")):
        return HttpRegistry(url, token)
    if url.startswith("file://"):
        return FileRegistry(unquote(urlparse(url).path))
    if url.startswith("file:"):
        return FileRegistry(url[5:])
    return FileRegistry(url)
