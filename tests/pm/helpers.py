"""Shared helpers of the package-manager hardening tests: raw HTTP, hostile registries, hostile tarballs."""

from __future__ import annotations

import gzip
import io
import json
import socket
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypelua.pm import integrity, pack

SECRET = b"TOP-SECRET-OUTSIDE-THE-STORAGE"


def raw_http(base_url: str, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
             timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request with ``target`` exactly as given (no client-side normalisation).

    Returns ``(status, headers (lower-case names), body)``.  Raises ``OSError``/``TimeoutError`` on a hang.
    """
    host, port = base_url.split("//", 1)[1].split(":")
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        chunks = []
        while True:
            c = s.recv(1 << 16)
            if not c:
                break
            chunks.append(c)
    data = b"".join(chunks)
    header_text, _, rest = data.partition(b"\r\n\r\n")
    lines = header_text.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if hdrs.get("transfer-encoding") == "chunked":
        out, buf = b"", rest
        while buf:
            size_s, _, buf = buf.partition(b"\r\n")
            size = int(size_s or b"0", 16)
            if size == 0:
                break
            out += buf[:size]
            buf = buf[size + 2:]
        rest = out
    return status, hdrs, rest


def make_source(root: Path, name: str, version: str, deps: dict[str, str] | None = None,
                code: str = "return 1") -> Path:
    d = root / f"src-{name.replace('/', '_')}-{version}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "hype.json").write_text(json.dumps({"name": name, "version": version, "main": "init.lua",
                                             "dependencies": deps or {}}))
    (d / "init.lua").write_text(code)
    return d


def write_file_registry_doc(root: Path, dirname: str, name: str, versions: dict[str, dict[str, Any]]) -> None:
    """Write ``<root>/<dirname>/index.json`` as is (no validation: a hostile registry)."""
    d = root / dirname
    d.mkdir(parents=True, exist_ok=True)
    (d / "index.json").write_text(json.dumps({"name": name, "dist-tags": {"latest": max(versions)},
                                              "versions": versions}))


def hostile_dep_file_registry(tmp_path: Path, victim: str) -> Path:
    """A file registry whose ``good@1.0.0`` depends on ``victim`` (a traversal name), which it also holds."""
    from urllib.parse import quote

    root = tmp_path / "freg"
    for name, deps in (("good", {victim: "1.0.0"}), (victim, {})):
        data = pack(make_source(tmp_path / "srcs", "good" if name == "good" else "evil", "1.0.0"))
        d = root / quote(name, safe="@")
        d.mkdir(parents=True, exist_ok=True)
        (d / "p.tgz").write_bytes(data)
        write_file_registry_doc(root, quote(name, safe="@"), name, {"1.0.0": {
            "name": name, "version": "1.0.0", "dependencies": deps,
            "dist": {"tarball": "p.tgz", "integrity": integrity(data)}}})
    return root


def gzip_members(*pieces: bytes) -> bytes:
    """A multi-member gzip stream (each piece its own member): a cheap way to build huge streams."""
    return b"".join(gzip.compress(p, compresslevel=9, mtime=0) for p in pieces)


def pax_bomb(declared: int = 1 << 30) -> bytes:
    """~1 MB of gzip holding a tar whose first record is a PAX header declaring ``declared`` bytes
    (and really followed by that many bytes), then a regular file."""
    hdr = tarfile.TarInfo("././@PaxHeader")
    hdr.type = tarfile.XHDTYPE
    hdr.size = declared
    one_mib = gzip.compress(b"9" * (1 << 20), compresslevel=9, mtime=0)
    body = one_mib * (declared >> 20)
    f = tarfile.TarInfo("package/a.lua")
    f.size = 1
    tail = f.tobuf(tarfile.USTAR_FORMAT) + b"x".ljust(512, b"\0") + bytes(1024)
    return gzip_members(hdr.tobuf(tarfile.USTAR_FORMAT)) + body + gzip_members(tail)


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


@contextmanager
def hostile_http_registry(docs: dict[str, Any], tarballs: dict[str, bytes]) -> Iterator[str]:
    """A fake HTTP registry (Starlette in a thread) serving ``docs`` (name -> JSON value or raw bytes)
    and ``tarballs`` (URL path -> bytes) without any validation.  Yields its base URL; the doc's
    tarball URLs may use the placeholder ``BASE``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from hypelua.pm._server import running_in_thread

    state: dict[str, str] = {}

    async def handler(request: Request) -> Response:
        path = request.url.path
        if path in tarballs:
            return Response(tarballs[path], media_type="application/octet-stream")
        from urllib.parse import unquote

        name = unquote(path[1:])
        if name in docs:
            doc = docs[name]
            raw = doc if isinstance(doc, bytes) else json.dumps(doc).replace("BASE", state["base"]).encode()
            return Response(raw, media_type="application/json")
        return Response(b'{"code": "NOT_FOUND"}', status_code=404)

    app = Starlette(routes=[Route("/{p:path}", handler)])
    with running_in_thread(app) as url:
        state["base"] = url
        yield url
