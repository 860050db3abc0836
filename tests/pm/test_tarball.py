"""Tarballs: deterministic packing, integrity, and hostile archives refused (typed errors, nothing touched)."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from hypelua._errors import IntegrityError, UnsafeTarballError
from hypelua.pm import FileRegistry, install, integrity, pack, safe_extract
from hypelua.pm._tarball import verify

from .helpers import tar_bytes


def tgz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    return gzip.compress(tar_bytes(members))


def reg_file(name: str, data: bytes = b"return 1") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


MANIFEST = json.dumps({"name": "evil", "version": "1.0.0"}).encode()

HOSTILE = {
    "absolute": [reg_file("package/hype.json", MANIFEST), reg_file("/etc/evil.lua")],
    "dotdot": [reg_file("package/hype.json", MANIFEST), reg_file("package/../../escape.lua")],
    "symlink": [reg_file("package/hype.json", MANIFEST), special("package/link", tarfile.SYMTYPE, "/etc/passwd")],
    "hardlink": [reg_file("package/hype.json", MANIFEST), special("package/hl", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [reg_file("package/hype.json", MANIFEST), special("package/dev", tarfile.CHRTYPE)],
    "fifo": [reg_file("package/hype.json", MANIFEST), special("package/fifo", tarfile.FIFOTYPE)],
    "bundled": [reg_file("package/hype.json", MANIFEST), reg_file("package/hype_modules/x/init.lua")],
    "backslash": [reg_file("package/hype.json", MANIFEST), reg_file("package/..\\..\\x.lua")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_refused(case: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeTarballError) as ei:
        safe_extract(tgz(HOSTILE[case]), tmp_path / "out")
    assert ei.value.code == "UNSAFE_TARBALL" and ei.value.details["reason"]
    assert not (tmp_path / "escape.lua").exists() and not (tmp_path.parent / "escape.lua").exists()


def test_limits_too_many_files_and_too_large(tmp_path: Path) -> None:
    many = tgz([reg_file(f"package/f{i}.lua", b"") for i in range(30)])
    with pytest.raises(UnsafeTarballError, match="more than 20 members"):
        safe_extract(many, tmp_path / "a", max_files=20)
    big = tgz([reg_file("package/big.bin", b"\0" * 5000)])
    with pytest.raises(UnsafeTarballError, match="larger than 1000"):
        safe_extract(big, tmp_path / "b", max_file_bytes=1000)
    total = tgz([reg_file(f"package/p{i}.bin", b"\0" * 600) for i in range(3)])
    with pytest.raises(UnsafeTarballError, match="unpacked"):
        safe_extract(total, tmp_path / "c", max_total_bytes=1000)


def test_garbage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeTarballError):
        safe_extract(b"not a tarball at all", tmp_path / "x")
    with pytest.raises(UnsafeTarballError):
        safe_extract(pack_dir(tmp_path)[:40], tmp_path / "y")


def pack_dir(tmp_path: Path) -> bytes:
    d = tmp_path / "pkg"
    (d / "lib").mkdir(parents=True, exist_ok=True)
    (d / "hype.json").write_text('{"name": "p", "version": "1.0.0"}')
    (d / "lib" / "a.lua").write_text("return 1")
    (d / "hype_modules" / "dep").mkdir(parents=True, exist_ok=True)
    (d / "hype_modules" / "dep" / "init.lua").write_text("return 2")
    return pack(d)


def test_pack_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    a = pack_dir(tmp_path)
    b = pack_dir(tmp_path)
    assert a == b
    files = safe_extract(a, tmp_path / "out")
    assert sorted(files) == ["hype.json", "lib/a.lua"]  # hype_modules never packed
    verify(a, integrity(a))
    with pytest.raises(IntegrityError):
        verify(a, integrity(a + b"x"))
    with pytest.raises(IntegrityError):
        verify(a, "sha1-abc")


def _file_registry_with(tmp_path: Path, name: str, data: bytes) -> Path:
    root = tmp_path / "freg"
    (root / name).mkdir(parents=True)
    (root / name / f"{name}-1.0.0.tgz").write_bytes(data)
    doc = {"name": name, "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {
        "name": name, "version": "1.0.0", "dependencies": {},
        "dist": {"tarball": f"{name}-1.0.0.tgz", "integrity": integrity(data)}}}}
    (root / name / "index.json").write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize("case", ["symlink", "dotdot", "device", "absolute"])
def test_install_of_hostile_package_leaves_hype_modules_untouched(case: str, tmp_path: Path) -> None:
    # a registry that did not scan (integrity is right: the archive itself is hostile)
    root = _file_registry_with(tmp_path, "evil", tgz(HOSTILE[case]))
    good = tmp_path / "good"
    (good / "lib").mkdir(parents=True)
    (good / "hype.json").write_text('{"name": "good", "version": "1.0.0"}')
    FileRegistry(root).publish({"name": "good", "version": "1.0.0"}, pack(good))
    app = tmp_path / "app"
    app.mkdir()
    (app / "hype.json").write_text(json.dumps({"name": "app", "dependencies": {"good": "^1"}}))
    install(app, registry=f"file:{root}")
    before = sorted(str(p.relative_to(app)) for p in app.rglob("*"))
    (app / "hype.json").write_text(json.dumps({"name": "app", "dependencies": {"good": "^1", "evil": "1.0.0"}}))
    with pytest.raises(UnsafeTarballError):
        install(app, registry=f"file:{root}")
    after = sorted(str(p.relative_to(app)) for p in app.rglob("*"))
    assert after == before
    assert not (tmp_path / "escape.lua").exists()


def test_registry_storage_refuses_hostile_publish(tmp_path: Path) -> None:
    reg = FileRegistry(tmp_path / "r")
    with pytest.raises(UnsafeTarballError):
        reg.publish({"name": "evil", "version": "1.0.0"}, tgz(HOSTILE["symlink"]))
    assert reg.storage.document("evil") is None
