"""The JSON Schemas of schemas/ (found through gomatrix.core.resources) and readable validation errors."""

from __future__ import annotations

import difflib
import json
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from gomatrix.core.errors import GomatrixError
from gomatrix.core.resources import schema_dir


@cache
def validator(name: str) -> Validator:
    """The validator for schemas/<name>.schema.json (checked once against its metaschema)."""
    document = schema(name)
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document)


@cache
def schema(name: str) -> dict[str, Any]:
    """schemas/<name>.schema.json as a mapping."""
    loaded: dict[str, Any] = json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


def property_schema(name: str, path: tuple[str, ...]) -> dict[str, Any]:
    """The subschema of a (nested) property: ("bench", "count") -> schema.properties.bench.properties.count."""
    node = schema(name)
    for key in path:
        node = node["properties"][key]
    return node


def defaults(node: dict[str, Any]) -> dict[str, Any]:
    """The `default`s of an object schema's properties (nested objects without one: their own defaults)."""
    out: dict[str, Any] = {}
    for key, sub in node.get("properties", {}).items():
        if "default" in sub:
            out[key] = sub["default"]
        elif sub.get("type") == "object" and "properties" in sub:
            out[key] = defaults(sub)
    return out


def json_path(error: ValidationError) -> str:
    """$.a.b[0] style path of the instance location that failed."""
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _did_you_mean(error: ValidationError) -> str:
    """For an unknown key or value, name the closest allowed one(s)."""
    if error.validator == "enum" and isinstance(error.validator_value, list):
        choices = [str(choice) for choice in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), choices, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return f"{error.instance!r} is not a choice{guess} (choices: {', '.join(choices)})"
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


_JSON_TYPES = {"object": dict, "array": list, "string": str}


def _branch(error: ValidationError) -> ValidationError:
    """For a value matching no branch of a oneOf/anyOf, the error of the branch of the value's own JSON type
    (a mapping among strings: its unknown key, with a "did you mean"), else the error itself."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    own = [branch for branch in error.context
           if isinstance(branch.schema, dict) and branch.validator != "type"
           and isinstance(error.instance, _JSON_TYPES.get(str(branch.schema.get("type")), ()))]
    best = jsonschema.exceptions.best_match(own) if own else None
    return _branch(best) if best is not None else error


def describe(error: ValidationError) -> str:
    """One line: where in the document and what is wrong."""
    best = _branch(jsonschema.exceptions.best_match([error]))
    hint = _did_you_mean(best)
    return f"at {json_path(best)}: {hint or best.message}"


def value_problem(value: Any, node: dict[str, Any]) -> str | None:
    """Why value does not match the subschema node (one line, "did you mean" for enums), or None."""
    cls = jsonschema.validators.validator_for(node)
    best = jsonschema.exceptions.best_match(cls(node).iter_errors(value))
    if best is None:
        return None
    return _did_you_mean(best) or best.message


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
