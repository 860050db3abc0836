"""The Python side of the browser worker (imported only under Pyodide, or in tests).

``web/src/worker.mjs`` boots Pyodide, installs the wheels and then::

    host = await WorkerHost.create(database="app", idb=<IndexedDB bridge>)
    reply_json = await host.dispatch(op, args_json)
"""

from __future__ import annotations

from ._host import WorkerHost, to_jsonable

__all__ = ["WorkerHost", "to_jsonable"]
