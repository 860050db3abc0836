"""Package the wasm side module as a Pyodide wheel (stdlib only).

Usage: python wasm/make_wheel.py --so build/wasm/libhypelua_lua54.so --out build/wheels
Produces ``hypelua_lua54-<version>-cp314-cp314-pyodide_2026_0_wasm32.whl`` with the
``hypelua_lua54`` package (``library_path()``) plus the ``.so``, and a correct
RECORD (sha256, urlsafe base64 without padding).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import zipfile

NAME = "hypelua_lua54"
TAG = "cp314-cp314-pyodide_2026_0_wasm32"
HERE = os.path.dirname(os.path.abspath(__file__))
# fixed timestamp: the wheel is reproducible (same inputs -> same bytes)
DATE = (2026, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build(so_path: str, version: str, out_dir: str) -> str:
    """Write the wheel and return its path."""
    with open(os.path.join(HERE, NAME, "__init__.py"), "rb") as f:
        init_py = f.read()
    with open(so_path, "rb") as f:
        so = f.read()
    dist_info = f"{NAME}-{version}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version}\n"
        "Summary: Lua 5.4 with hypelua's C helper layer, as a Pyodide side module\n"
        "License: MIT\n"
        "Requires-Python: >=3.14\n"
    ).encode()
    wheel = (
        "Wheel-Version: 1.0\n"
        "Generator: hypelua wasm/make_wheel.py\n"
        "Root-Is-Purelib: false\n"
        f"Tag: {TAG}\n"
    ).encode()
    files = [
        (f"{NAME}/__init__.py", init_py),
        (f"{NAME}/libhypelua_lua54.so", so),
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel),
    ]
    record_name = f"{dist_info}/RECORD"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    record += f"{record_name},,\n"
    files.append((record_name, record.encode()))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{NAME}-{version}-{TAG}.whl")
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            zf.writestr(info, data)
    os.replace(tmp, path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--so", required=True)
    ap.add_argument("--version", default="5.4.8")
    ap.add_argument("--out", required=True)
    ns = ap.parse_args()
    print(build(ns.so, ns.version, ns.out))


if __name__ == "__main__":
    main()
