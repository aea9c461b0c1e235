"""A quick "yes" for documents that match one of schemas/: the few keywords those schemas use, compiled
into Python functions once, about ten times faster than jsonschema on a valid document.

It only ever says yes or "not sure": `matches` is True only when jsonschema would find no error. A
caller that gets False validates with gomatrix.core.schemas.validate, which has the final word and
the error message. A schema with a keyword not handled here is never matched (always "not sure"),
and so is a document holding anything but JSON's own Python types (dict with str keys, list, str,
int, float, bool, None): on those the keywords below mean exactly what they mean to jsonschema
(Draft 2020-12: `jsonschema._keywords`, `_types.draft202012_type_checker`, `_utils.equal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from gomatrix.core.schemas import schema

Check = Callable[[Any], bool]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated", "readOnly",
                          "writeOnly"})
_ROOT_ONLY = frozenset({"$schema", "$id", "$defs"})
_KEYWORDS = frozenset({"type", "properties", "additionalProperties", "required", "items", "minItems", "maxItems",
                       "minimum", "maximum", "minLength", "pattern", "const", "enum", "oneOf", "$ref"})
_JSON_TYPES = (dict, list, str, int, float, bool, type(None))


class _Unsupported(Exception):
    pass


def matches(instance: Any, name: str) -> bool:
    """True only if instance matches schemas/<name>.schema.json; False: it may not (validate to know)."""
    check = _compiled(name)
    return check is not None and _plain(instance) and check(instance)


@cache
def _compiled(name: str) -> Check | None:
    root = schema(name)
    try:
        return _Compiler(root).compile(root, top=True)
    except _Unsupported:
        return None


def _plain(value: Any) -> bool:
    """Whether value is made of JSON's own Python types only (not subclasses: a str enum is not a str here)."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return kind in _JSON_TYPES


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality (const, enum): True and 1 differ, 1 and 1.0 do not."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(key in two and _equal(value, two[key]) for key, value in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    return bool(one == two)


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


_TYPES: dict[str, Check] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: type(v) is int or (type(v) is float and v.is_integer()),
}


def _yes(_value: Any) -> bool:
    return True


def _no(_value: Any) -> bool:
    return False


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        if root.get("$schema") != DRAFT:
            raise _Unsupported(root.get("$schema"))
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, node: Any, *, top: bool = False) -> Check:
        if node is True:
            return _yes
        if node is False:
            return _no
        if not isinstance(node, dict):
            raise _Unsupported(node)
        unknown = set(node) - _KEYWORDS - _ANNOTATIONS - (_ROOT_ONLY if top else frozenset())
        if unknown:
            raise _Unsupported(sorted(unknown))
        checks = [check for check in (self._type(node), self._object(node), self._array(node), self._number(node),
                                      self._string(node), self._values(node), self._one_of(node), self._ref(node))
                  if check is not None]
        if not checks:
            return _yes
        if len(checks) == 1:
            return checks[0]

        def every(value: Any, checks: tuple[Check, ...] = tuple(checks)) -> bool:
            for check in checks:  # noqa: SIM110 (a loop: all() over a generator is dearer here)
                if not check(value):
                    return False
            return True
        return every

    def _type(self, node: dict[str, Any]) -> Check | None:
        if "type" not in node:
            return None
        names = [node["type"]] if isinstance(node["type"], str) else node["type"]
        if not isinstance(names, list) or any(name not in _TYPES for name in names):
            raise _Unsupported(node["type"])
        if len(names) == 1:
            return _TYPES[names[0]]
        kinds = tuple(_TYPES[name] for name in names)
        return lambda value: any(kind(value) for kind in kinds)

    def _object(self, node: dict[str, Any]) -> Check | None:
        if not {"properties", "additionalProperties", "required"} & node.keys():
            return None
        properties = {key: self.compile(sub) for key, sub in node.get("properties", {}).items()}
        extra = self.compile(node["additionalProperties"]) if "additionalProperties" in node else _yes
        required = tuple(node.get("required", ()))
        if not all(isinstance(key, str) for key in required):
            raise _Unsupported(required)

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for key in required:
                if key not in value:
                    return False
            for key, item in value.items():  # noqa: SIM110 (as in every)
                if not properties.get(key, extra)(item):
                    return False
            return True
        return check

    def _array(self, node: dict[str, Any]) -> Check | None:
        if not {"items", "minItems", "maxItems"} & node.keys():
            return None
        items = self.compile(node["items"]) if "items" in node else _yes
        low, high = node.get("minItems", 0), node.get("maxItems")

        def check(value: Any) -> bool:
            if type(value) is not list:
                return True
            if len(value) < low or (high is not None and len(value) > high):
                return False
            return all(items(item) for item in value)
        return check

    def _number(self, node: dict[str, Any]) -> Check | None:
        if not {"minimum", "maximum"} & node.keys():
            return None
        low, high = node.get("minimum"), node.get("maximum")
        if not all(bound is None or _is_number(bound) for bound in (low, high)):
            raise _Unsupported((low, high))
        return lambda value: not _is_number(value) or not (
            (low is not None and value < low) or (high is not None and value > high))

    def _string(self, node: dict[str, Any]) -> Check | None:
        if not {"pattern", "minLength"} & node.keys():
            return None
        search = re.compile(node["pattern"]).search if "pattern" in node else None
        shortest = node.get("minLength", 0)
        return lambda value: type(value) is not str or (
            len(value) >= shortest and (search is None or search(value) is not None))

    def _values(self, node: dict[str, Any]) -> Check | None:
        if "const" not in node and "enum" not in node:
            return None
        choices = [node["const"]] if "const" in node else []
        if "enum" in node and not isinstance(node["enum"], list):
            raise _Unsupported(node["enum"])
        enum = node.get("enum")
        return lambda value: all(_equal(value, choice) for choice in choices) and (
            enum is None or any(_equal(value, choice) for choice in enum))

    def _one_of(self, node: dict[str, Any]) -> Check | None:
        if "oneOf" not in node:
            return None
        branches = [self.compile(sub) for sub in node["oneOf"]]
        return lambda value: sum(1 for branch in branches if branch(value)) == 1

    def _ref(self, node: dict[str, Any]) -> Check | None:
        if "$ref" not in node:
            return None
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Unsupported(ref)
        if ref not in self.refs:
            target: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise _Unsupported(ref)
                target = target[part]
            compiled: list[Check] = []
            self.refs[ref] = lambda value: compiled[0](value)  # a reference back to itself resolves later
            compiled.append(self.compile(target))
        return self.refs[ref]
