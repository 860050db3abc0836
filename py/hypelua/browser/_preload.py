"""What the browser worker imports before its snapshot point (SPEC 1.2, issue 12).

``import hypelua.browser._preload`` is the worker's boot step 2 and what
``web/tools/make-snapshot.mjs`` imports before taking the memory snapshot, so a restored
worker finds these modules already compiled and initialised instead of compiling their
sources from MEMFS (~0.5 s in the wasm interpreter).  Only modules with no import-time side
effects belong here: no ``ctypes.CDLL`` of ours (``hypelua.lua._ctypes`` opens the Lua side
module lazily; ``import ctypes`` itself, with its ``_ctypes`` extension, was measured to
restore fine in Chromium and saves ~0.3 s), no JS object held by Python (``pyodide.ffi`` and
``js`` are imported inside functions), no asyncio task.  The list is what a worker imports
from boot to its first ``run``.
"""

from __future__ import annotations

import ctypes  # noqa: F401  (its _ctypes extension: ~0.3 s to load after a restore; restores fine)

import hypelua
import hypelua._loop
import hypelua._runtime
import hypelua.actors._schema
import hypelua.browser._host
import hypelua.http._preload
import hypelua.lua._base
import hypelua.lua._ctypes  # the ctypes back-end: types only at import (the library opens lazily)
import hypelua.modules._resolve
import hypelua.storage
import hypelua.storage.backends.indexeddb
import hypelua.storage.backends.memory  # noqa: F401
