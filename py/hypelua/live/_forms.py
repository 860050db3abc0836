"""Form validation with JSON Schema (issue 10 item 7), errors by field for rendering next to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema


def validate(data: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, str]:
    """Validate ``data`` with ``schema`` (JSON Schema draft 2020-12 / 7 / ...; ``jsonschema``).

    Returns:
        field name -> the first error message for it; ``""`` -> form-level errors (a
        missing ``required`` field is reported under that field's name). Empty when valid.

    Raises:
        jsonschema.SchemaError: the schema itself is invalid.
    """
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors: dict[str, str] = {}
    for err in sorted(cls(schema).iter_errors(dict(data)), key=lambda e: list(e.path)):
        if err.validator == "required" and not err.path:
            # "'name' is a required property" -> the field named in it
            missing = [f for f in err.validator_value if f not in data]
            for name in missing:
                errors.setdefault(name, "is required")
            continue
        name = str(err.path[0]) if err.path else ""
        errors.setdefault(name, err.message)
    return errors


def coerce(data: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values (strings, from the page) turned into the schema's ``integer``/``number``/
    ``boolean`` types where they parse; other values unchanged."""
    props = (schema or {}).get("properties", {}) if isinstance(schema, Mapping) else {}
    out = dict(data)
    for name, value in data.items():
        kind = props.get(name, {}).get("type") if isinstance(props.get(name), Mapping) else None
        if not isinstance(value, str):
            continue
        try:
            if kind == "integer" and value.strip().lstrip("-").isdigit():
                out[name] = int(value)
            elif kind == "number" and value.strip():
                out[name] = float(value)
            elif kind == "boolean":
                out[name] = value.lower() in ("true", "on", "1", "yes")
        except ValueError:
            pass
    return out
