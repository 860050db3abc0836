"""Export / import of a whole database as one portable JSON document.

Format (``"format": "hypelua-export"``, ``"version": 1``)::

    {"format": "hypelua-export", "version": 1,
     "tables": [{"name": "users",
                 "schema": {"version": 2, "schema": {...}} | null,
                 "indexes": [{"name": "age", "fields": ["age"], "unique": false}],
                 "rows": [[key, <tagged JSON value>], ...]}]}

Values use the tagged JSON of :mod:`hypelua.storage._codec`; functions keep
their bytecode and source but **not** their MAC: the HMAC key never leaves a
database.  On import, bytecode is trusted only when asked
(``trust_bytecode=True`` re-signs it with the importing database's key);
otherwise a function with source text loses its bytecode (it is compiled from
source when first used) and one without source keeps unsigned bytecode, which
is refused with ``BYTECODE_REJECTED`` when loaded.  The same file moves a
database between the browser (IndexedDB) and a server (SQLite) both ways.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StorageError
from ._codec import PersistedFunction, from_tagged, normalize_key, to_tagged
from ._functions import _walk

if TYPE_CHECKING:
    from ._database import Database

FORMAT = "hypelua-export"
VERSION = 1


class ImportError_(StorageError):
    """The export document is malformed; nothing was imported."""

    default_code = "BAD_EXPORT"
    default_suggestion = "Import a file written by hypelua's export (format 'hypelua-export', version 1)."


def export_database(db: Database) -> dict[str, Any]:
    """The whole database as a plain-data export document (see module docstring)."""
    tables = []
    for name in db.tables():
        rows = []
        for key, value in db.items(name):
            _walk(value, _strip_mac)
            rows.append([key, to_tagged(value)])
        schema = db.schema_of(name)
        tables.append({
            "name": name,
            "schema": {"version": schema.version, "schema": schema.schema} if schema else None,
            "indexes": [{"name": i["name"], "fields": list(i["fields"]), "unique": bool(i["unique"])}
                        for i in db.indexes(name)],
            "rows": rows,
        })
    return {"format": FORMAT, "version": VERSION, "tables": tables}


def _strip_mac(fn: PersistedFunction) -> None:
    fn.mac = ""


def import_database(db: Database, doc: Any, *, trust_bytecode: bool = False, replace: bool = False
                    ) -> dict[str, Any]:
    """Load an export document into ``db`` atomically.

    Args:
        doc: the export document (plain data) or its JSON text.
        trust_bytecode: re-sign imported bytecode with this database's key.
        replace: drop each imported table's existing rows first (else rows merge,
            imported keys win).
    Returns:
        ``{"tables": n, "rows": n, "functions": n, "functions_from_source": n}``.
    Raises:
        ImportError_ (``BAD_EXPORT``), SchemaViolation, UniqueViolation: nothing imported.
    """
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except ValueError as exc:
            raise ImportError_(f"the export is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ImportError_("not a hypelua export (format/version mismatch)",
                           details={"format": str(doc.get("format")) if isinstance(doc, dict) else None})
    counts = {"tables": 0, "rows": 0, "functions": 0, "functions_from_source": 0}

    def adopt(fn: PersistedFunction) -> None:
        counts["functions"] += 1
        if trust_bytecode:
            return  # Database.set signs it
        if fn.bytecode is not None and fn.source:
            fn.bytecode = None
            counts["functions_from_source"] += 1

    with db.transaction():
        for table in doc.get("tables") or []:
            try:
                name = table["name"]
                rows = table.get("rows") or []
                indexes = table.get("indexes") or []
                schema = table.get("schema")
            except (TypeError, KeyError) as exc:
                raise ImportError_(f"malformed table entry: {exc}") from exc
            if replace:
                db.backend.drop_table(name)
            db.create_table(name)
            for row in rows:
                if not isinstance(row, list) or len(row) != 2:
                    raise ImportError_(f"malformed row in table {name!r}", details={"table": name})
                try:
                    key, value = normalize_key(row[0]), from_tagged(row[1])
                except StorageError as exc:
                    raise ImportError_(f"bad row in table {name!r}: {exc.message}",
                                       details={"table": name}) from exc
                _walk(value, adopt)
                db.set(name, key, value, trust_bytecode=trust_bytecode)
                counts["rows"] += 1
            for index in indexes:
                db.create_index(name, list(index["fields"]), unique=bool(index.get("unique")))
            if schema:
                db.define_schema(name, schema["schema"], int(schema["version"]))
            counts["tables"] += 1
    return counts


def write_export(db: Database, path: str | Path) -> int:
    """Write :func:`export_database` as JSON to ``path``; returns bytes written."""
    text = json.dumps(export_database(db), ensure_ascii=False, separators=(",", ":"))
    Path(path).write_text(text, "utf-8")
    return len(text.encode("utf-8"))
