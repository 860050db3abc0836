"""JSON Schema protocols for actors (``actor.protocol(json_schema)``, issue 11 item 5),
checked with ``jsonschema`` (the draft the schema names, else 2020-12) at ``send``."""

from __future__ import annotations

from typing import Any


class SchemaProtocols:
    """The compiled schemas of one runtime, by id (ids are handed to Lua)."""

    def __init__(self) -> None:
        self._validators: list[Any] = []

    def compile(self, schema: Any) -> tuple[int | None, str | None]:
        """Compile ``schema`` (plain data from Lua).

        Returns:
            ``(id, None)``, or ``(None, why)`` when it is not a valid JSON Schema.
        """
        import jsonschema
        from jsonschema.exceptions import SchemaError

        if not isinstance(schema, dict):
            return None, "a JSON Schema is a table of keywords"
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            return None, exc.message
        self._validators.append(cls(schema))
        return len(self._validators) - 1, None

    def check(self, schema_id: int, msg: Any) -> str | None:
        """Validate ``msg`` against schema ``schema_id``.

        Returns:
            None when it fits, else ``".field.sub: why"`` (the path in Lua's dotted form, then
            jsonschema's message) for the most relevant error.
        """
        from jsonschema.exceptions import best_match

        validator = self._validators[int(schema_id)]
        # Lua's empty table converts to {} (an object): an empty list is as likely
        error = best_match(validator.iter_errors(msg))
        if error is None:
            return None
        path = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"{path}: {error.message}"
