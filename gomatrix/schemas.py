"""Load the JSON Schemas shipped in schemas/ and turn validation errors into readable messages."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from gomatrix.errors import GomatrixError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@cache
def validator(name: str) -> Validator:
    """The validator for schemas/<name>.schema.json (checked once against its metaschema)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def json_path(error: ValidationError) -> str:
    """$.a.b[0] style path of the instance location that failed."""
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _did_you_mean(error: ValidationError) -> str:
    """For an unknown key, name the closest allowed key(s)."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return ""
    allowed = list((error.schema.get("properties") or {}).keys()) if isinstance(error.schema, dict) else []
    hints = []
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        if close:
            hints.append(f"unknown key {key!r}: did you mean {close[0]!r}?")
        else:
            hints.append(f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    return "; ".join(hints)


def describe(error: ValidationError) -> str:
    """One line: where in the document and what is wrong."""
    best = jsonschema.exceptions.best_match([error])
    hint = _did_you_mean(best)
    return f"at {json_path(best)}: {hint or best.message}"


def validate(instance: Any, name: str, *, where: str, error_cls: type[GomatrixError], fix: str = "") -> None:
    """Raise error_cls naming `where` and the failing JSON path if instance does not match the schema."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    first = jsonschema.exceptions.best_match(errors)
    assert first is not None
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise error_cls(
        f"{describe(first)}{more}; schema schemas/{name}.schema.json",
        where=where,
        fix=fix,
    )
