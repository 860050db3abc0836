"""The IndexedDB bridge (web/src/idb.mjs) under Node with fake-indexeddb."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.node
def test_idb_bridge_under_node() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "fake-indexeddb").is_dir():
        pytest.skip("node or node_modules/fake-indexeddb missing (./build.sh deps)")
    proc = subprocess.run(
        [node, "--test", "web/test/idb.test.mjs"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
