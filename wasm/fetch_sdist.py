"""Download a package's sdist from PyPI without building anything (stdlib only).

    python wasm/fetch_sdist.py NAME VERSION DEST_DIR  ->  prints DEST_DIR/<file>.tar.gz

``pip download --no-binary :all:`` prepares the sdist's metadata, which for lupa means
installing Cython in an isolated build environment and running its setup.py (~85 s on a
fresh machine); we only need the Lua sources inside the archive. This asks PyPI's JSON API
for the project's release files, downloads the ``.tar.gz`` sdist and checks it against the sha256
PyPI lists (the file is written only once it matches). ``$PYPI_URL`` overrides
``https://pypi.org``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.parse
import urllib.request


def fetch(name: str, version: str, dest: str) -> str:
    base = os.environ.get("PYPI_URL", "https://pypi.org").rstrip("/")
    # the project document (releases -> files); /pypi/<name>/<version>/json is not served everywhere
    index = f"{base}/pypi/{name}/json"
    with urllib.request.urlopen(index, timeout=60) as resp:
        files = json.load(resp)["releases"].get(version, [])
    sdists = [f for f in files if f["packagetype"] == "sdist" and f["filename"].endswith(".tar.gz")]
    if not sdists:
        raise SystemExit(f"{name} {version}: PyPI lists no .tar.gz sdist")
    entry = sdists[0]
    want = entry["digests"]["sha256"]
    path = os.path.join(dest, entry["filename"])
    if os.path.exists(path):
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == want:
                return path
    os.makedirs(dest, exist_ok=True)
    start = time.monotonic()
    digest = hashlib.sha256()
    tmp = path + ".part"
    url = urllib.parse.urljoin(index, entry["url"])  # (a mirror may list relative URLs)
    with urllib.request.urlopen(url, timeout=120) as resp, open(tmp, "wb") as out:
        while chunk := resp.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != want:
        os.unlink(tmp)
        raise SystemExit(f"{entry['filename']}: sha256 {digest.hexdigest()} does not match PyPI's {want}")
    os.replace(tmp, path)
    size = os.path.getsize(path)
    print(f"{entry['filename']}: {size / 1e6:.1f} MB in {time.monotonic() - start:.1f} s, sha256 ok", file=sys.stderr)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(fetch(*sys.argv[1:]))
