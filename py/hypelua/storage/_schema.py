"""Per-table JSON Schema validation and the recorded schema version.

Values are validated in their stored JSON form (the tagged JSON of
:mod:`hypelua.storage._codec`): maps with string keys are objects, lists are
arrays, bytes are ``{"$bytes": ...}``, functions ``{"$function": {...}}``.
The validator is ``jsonschema`` (Draft 2020-12).  jsonschema 4.17 is pinned
because it is pure Python (later releases need the compiled ``rpds-py``, which
has no Pyodide wheel on PyPI), so the same validator runs natively and in the
browser.

The schema of table ``T`` is kept in the meta entry ``schema:T`` as
``{"version": int, "schema": {...}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._errors import StorageError
from ._codec import to_tagged


class SchemaViolation(StorageError):
    """A value does not satisfy its table's JSON Schema.

    ``details``: ``{"table", "key", "path" (dotted, "" for the root), "rule"
    (the failing keyword, e.g. "type"), "errors": [...first few...]}``.
    """

    default_code = "SCHEMA_VIOLATION"
    default_suggestion = "Change the value to match the table's schema (see details.path and details.rule)."


class SchemaDefinitionError(StorageError):
    """The schema itself is not a valid JSON Schema."""

    default_code = "BAD_SCHEMA"
    default_suggestion = "Check the schema against the JSON Schema 2020-12 specification."


#: largest schema version (a safe integer for JavaScript and Lua alike)
MAX_VERSION = 2**53


def check_version(version: Any, what: str = "schema version") -> int:
    """A schema/migration version as an ``int`` (an integral float is accepted).

    Raises:
        StorageError: ``BAD_ARGUMENT`` unless ``version`` is an integer in ``0..2^53``.
    """
    if type(version) is float and version.is_integer():
        version = int(version)
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise StorageError(f"{what} must be an integer between 0 and 2^53, not {str(version)[:40]}",
                           code="BAD_ARGUMENT", details={"argument": what, "got": str(version)[:80]},
                           suggestion="Pass a small non-negative integer, e.g. 1.")
    return version


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class TableSchema:
    """A compiled schema: ``version`` and the ``jsonschema`` validator."""

    version: int
    schema: dict[str, Any]
    validator: Any

    @classmethod
    def compile(cls, schema: Any, version: int) -> TableSchema:
        """Check and compile a schema.  Raises :class:`SchemaDefinitionError`."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if not isinstance(schema, dict):
            raise SchemaDefinitionError("a schema must be a JSON object (a map)")
        if type(version) is not int or version < 0:
            raise SchemaDefinitionError(f"schema version must be a non-negative integer, not {version!r}")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise SchemaDefinitionError(
                f"invalid JSON Schema: {exc.message}", details={"path": _dotted(exc.path)},
            ) from exc
        return cls(version, schema, Draft202012Validator(schema))

    def validate(self, table: str, key: Any, value: Any) -> None:
        """Raise :class:`SchemaViolation` if ``value`` does not satisfy the schema."""
        doc = to_tagged(value)
        errors = sorted(self.validator.iter_errors(doc), key=lambda e: (len(e.path), list(map(str, e.path))))
        if not errors:
            return
        first = errors[0]
        path = _dotted(first.absolute_path)
        raise SchemaViolation(
            f"{table}[{key!r}] violates the schema at {path or '(root)'}: {first.message}",
            details={
                "table": table,
                "key": key,
                "path": path,
                "rule": first.validator,
                "errors": [{"path": _dotted(e.absolute_path), "rule": e.validator, "message": e.message}
                           for e in errors[:5]],
            },
        )

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "schema": self.schema}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TableSchema:
        doc = json.loads(text)
        return cls.compile(doc["schema"], int(doc["version"]))


class MigrationError(StorageError):
    """A migration step failed; the table was left exactly as it was.

    ``details``: ``{"table", "from_version", "to_version", "step", "key", "cause": {code, message}}``.
    """

    default_code = "MIGRATION_FAILED"
    default_suggestion = "Fix the failing step (details.step) for the row in details.key and migrate again."
