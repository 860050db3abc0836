"""Property-based fuzzing (hypothesis) of the registry HTTP API, hype.json parsing and tarball extraction.

Every answer is a correct one or a typed error: HTTP 4xx with a JSON ``{code, message, details,
suggestion}`` body (never a 500, never a hang: each request has a timeout), a :class:`ManifestError`,
or an :class:`UnsafeTarballError` / a clean extraction that stays inside the target directory.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypelua._errors import ManifestError, UnsafeTarballError
from hypelua.pm import pack, safe_extract
from hypelua.pm._manifest import Manifest, parse_manifest
from hypelua.pm._server import create_app, running_in_thread

from .helpers import SECRET, raw_http

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
TOKEN = "fuzz-token"


def _source(root: Path, name: str = "real", version: str = "1.0.0") -> Path:
    d = root / f"{name}-{version}"
    (d / "lib").mkdir(parents=True, exist_ok=True)
    (d / "hype.json").write_text(json.dumps({"name": name, "version": version, "main": "lib/init.lua"}))
    (d / "lib" / "init.lua").write_text("return 1")
    return d


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, bytes]]:
    tmp = Path(tempfile.mkdtemp(prefix="hype-fuzz-"))
    try:
        storage = tmp / "storage"
        (tmp / "secret.tgz").write_bytes(SECRET)
        (tmp / "index.json").write_text(json.dumps({"secret": SECRET.decode()}))
        from hypelua.pm._registry import RegistryStorage

        tarball = pack(_source(tmp))
        RegistryStorage(storage).publish(json.loads((_source(tmp) / "hype.json").read_text()), tarball)
        with running_in_thread(create_app(storage, token=TOKEN, max_upload_bytes=1 << 20)) as url:
            yield url, tarball
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SEGMENTS = st.sampled_from(["..", ".", "%2e%2e", "%2E%2E", "%2f", "%2F", "%5c", "%00", "%252e", "-", "real",
                            "real-1.0.0.tgz", "@s", "@s%2freal", "index.json", "secret.tgz", "", "%", "%zz",
                            "a" * 300, "hype_modules", "~", "%ff", "%c3%a9"])
PATHS = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map(lambda xs: "/" + "/".join(xs)),
    st.text(max_size=60).map(lambda t: "/" + quote(t, safe="/%@.-_~")),
    st.lists(st.one_of(SEGMENTS, st.text(max_size=12).map(lambda t: quote(t, safe="%@.-_~"))),
             min_size=1, max_size=4).map(lambda xs: "/" + "/".join(xs)),
)


def _manifests() -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
    values = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), kids, max_size=3)),
                          max_leaves=8)
    known = st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.just("real"), st.just("fz"), st.text(max_size=12), values),
        "version": st.one_of(st.just("1.0.0"), st.just("2.0.0-" + "a" * 300), st.text(max_size=12), values),
        "main": st.one_of(st.just("init.lua"), st.just("../x"), values),
        "description": st.one_of(st.text(max_size=30), values),
        "dependencies": st.one_of(st.dictionaries(st.one_of(st.just("real"), st.just("../../x"), st.text(max_size=6)),
                                                  st.one_of(st.just("^1"), st.text(max_size=6), values),
                                                  max_size=3), values),
    })
    return st.one_of(known, values)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["empty", "bytes", "json", "envelope", "deep"]))
    if kind == "empty":
        return b""
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        n = draw(st.integers(1, 5000))
        return b'{"manifest": ' + b"[" * n + b"]" * draw(st.integers(0, n)) + b"}"
    if kind == "json":
        return json.dumps(draw(_manifests())).encode()
    manifest = draw(_manifests())
    tarball = draw(st.one_of(st.binary(max_size=200), st.builds(lambda b: gzip.compress(b, mtime=0),
                                                                  st.binary(max_size=2000))))
    payload: dict[str, Any] = {"manifest": manifest,
                               "tarball": draw(st.one_of(st.just(base64.b64encode(tarball).decode()),
                                                         st.text(max_size=20)))}
    if draw(st.booleans()):
        payload["integrity"] = draw(st.text(max_size=20))
    return json.dumps(payload).encode()


HEADERS = st.dictionaries(
    st.sampled_from(["Authorization", "Content-Type", "Accept", "X-Junk", "Origin"]),
    st.one_of(st.just(f"Bearer {TOKEN}"), st.just("Bearer nope"), st.just("application/json"),
              st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)),
    max_size=3)


@FUZZ
@given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]), target=PATHS,
       body=bodies(), headers=HEADERS)
def test_fuzz_registry_http_api(server: tuple[str, bytes], method: str, target: str, body: bytes,
                                headers: dict[str, str]) -> None:
    url, tarball = server
    status, _, payload = raw_http(url, method, target, body, headers, timeout=30)
    assert status < 500, (method, target, status, payload[:300])
    assert SECRET not in payload
    if method == "HEAD":
        return
    if status >= 400:
        err = json.loads(payload)
        assert isinstance(err, dict) and set(err) >= {"code", "message", "details", "suggestion"}, payload[:300]
        assert isinstance(err["code"], str) and err["code"].isupper()
    elif status == 200 and method == "GET":
        if target.endswith(".tgz"):
            assert payload == tarball
        else:
            doc = json.loads(payload)
            assert isinstance(doc, dict)
    elif status == 201:
        assert method == "PUT" and json.loads(payload)["dist"]["integrity"].startswith("sha512-")


@FUZZ
@given(text=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    _manifests().map(json.dumps),
    st.integers(0, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(0, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
))
def test_fuzz_manifest_parsing(text: str | bytes) -> None:
    try:
        m = parse_manifest(text)
    except ManifestError as exc:
        assert exc.code.startswith("MANIFEST_") and exc.message
        return
    assert isinstance(m, Manifest)
    assert m.name is None or isinstance(m.name, str)
    for name in m.dependencies:
        assert ".." not in name.split("/") and not name.startswith((".", "_"))


def _tar(members: list[tuple[str, bytes | None, bytes]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "../../etc/passwd"
            if data is not None and kind == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


NAMES = st.one_of(
    st.lists(st.sampled_from(["package", "a", "..", ".", "", "hype_modules", "b.lua", "/", "\\", "x" * 120, "é"]),
             min_size=1, max_size=5).map("/".join),
    st.text(max_size=40),
)
MEMBERS = st.lists(st.tuples(NAMES, st.one_of(st.none(), st.binary(max_size=64)),
                             st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                              tarfile.LNKTYPE, tarfile.FIFOTYPE])),
                   min_size=1, max_size=6)


@st.composite
def tarballs(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "built", "mutated-tar", "mutated-gz"]))
    if kind == "random":
        return draw(st.binary(max_size=2000))
    try:
        raw = _tar(draw(MEMBERS), draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])))
    except (ValueError, UnicodeError, tarfile.TarError):
        raw = _tar([("package/a.lua", b"x", tarfile.REGTYPE)], tarfile.PAX_FORMAT)
    if kind == "mutated-tar":
        raw = bytearray(raw)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] = draw(st.integers(0, 255))
        raw = bytes(raw)
    data = gzip.compress(raw, mtime=0)
    if kind == "mutated-gz":
        data = bytearray(data)
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
        data = bytes(data[:draw(st.integers(1, len(data)))])
    return data


@FUZZ
@given(data=tarballs())
def test_fuzz_tarball_extraction(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out"
        try:
            files = safe_extract(data, dest)
        except UnsafeTarballError as exc:
            assert exc.code == "UNSAFE_TARBALL" and exc.details["reason"]
            return
        real = os.path.realpath(dest)
        for path in Path(tmp).rglob("*"):
            assert not path.is_symlink()
            assert os.path.commonpath([real, os.path.realpath(path)]) == real or path == dest
        for f in files:
            assert (dest / f).is_file()
            assert ".." not in f.split("/") and not f.startswith("hype_modules")
