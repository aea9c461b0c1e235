"""The quick schema check says yes exactly where jsonschema finds no error (on recorded documents and on
thousands of damaged copies of them), and "not sure" on what it does not handle."""

from __future__ import annotations

import copy
import enum
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gomatrix.core.schemas import validator
from gomatrix.results import quickcheck
from gomatrix.results.quickcheck import matches
from tests.conftest import ROOT

DOCUMENTS = {
    "cell": sorted((ROOT / "reports" / "2026-11-30" / "cells").glob("*.json")),
    "cell.v2": sorted((ROOT / "reports" / "2026-11-25-2" / "cells").glob("*.json")),
    "cell.v1": sorted((ROOT / "tests" / "data" / "v1").glob("*--*.json")),
    "report": [ROOT / "reports" / "2026-11-30" / "report.json"],
    "report.v2": [ROOT / "reports" / "2026-11-25-2" / "report.json"],
    "report.v1": [ROOT / "tests" / "data" / "v1" / "report.json"],
}
ODD_VALUES: list[Any] = [None, True, False, 0, 1, -1, 1.5, -0.5, 2.0, "", "x", "go1.24", "ok", "amd64", "heap", [], [1],
                         {}, {"a": 1}, 1e300, float("nan")]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


def _damaged(doc: Any, rng: random.Random) -> Any:
    """A copy with one to three changes: a value replaced (by an odd one, a nearby one, or another part of
    the document), a key or item removed, an unknown key added."""
    doc = copy.deepcopy(doc)
    paths = [path for path in _paths(doc) if path]
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(paths)
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            last, roll = path[-1], rng.random()
            if roll < 0.45:
                parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
            elif roll < 0.6:
                del parent[last]
            elif roll < 0.7 and isinstance(parent, dict):
                parent[f"extra_{rng.randint(0, 9)}"] = 1
            elif roll < 0.9:
                value = parent[last]
                if isinstance(value, str):
                    parent[last] = value + rng.choice(["-", "x", "1", "."])
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    parent[last] = -value if roll < 0.8 else value + 0.5
            else:
                source: Any = doc
                for key in rng.choice(paths):
                    source = source[key]
                parent[last] = copy.deepcopy(source)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_agrees_with_jsonschema_on_recorded_and_damaged_documents(name: str) -> None:
    docs = [json.loads(path.read_text(encoding="utf-8")) for path in DOCUMENTS[name]]
    assert docs and quickcheck._compiled(name) is not None  # every schema of schemas/ is handled
    check = validator(name)
    rng = random.Random(name)
    tries = 600 if name.startswith("cell") else 40
    valid = 0
    for attempt in range(tries):
        doc = docs[attempt] if attempt < len(docs) else _damaged(rng.choice(docs), rng)
        expected = check.is_valid(doc)
        assert matches(doc, name) == expected, (name, attempt)
        valid += expected
    assert len(docs) <= valid < tries  # both kinds were tried


def test_not_sure_about_anything_but_plain_json_values() -> None:
    doc = json.loads(DOCUMENTS["cell"][0].read_text(encoding="utf-8"))
    assert matches(doc, "cell")

    class Word(enum.StrEnum):
        OK = "ok"

    assert not matches({**doc, "status": Word.OK}, "cell")  # jsonschema would say yes; this is not sure
    assert validator("cell").is_valid({**doc, "status": Word.OK})
    assert not matches({**doc, "benchmarks": tuple(doc["benchmarks"])}, "cell")
    assert not matches([doc], "cell")


def test_not_sure_about_a_schema_with_keywords_it_does_not_handle(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    doc = json.loads(DOCUMENTS["cell"][0].read_text(encoding="utf-8"))
    unhandled = {"$schema": quickcheck.DRAFT, "type": "object", "anyOf": [{"required": ["key"]}]}
    monkeypatch.setattr(quickcheck, "schema", lambda _name: unhandled)
    quickcheck._compiled.cache_clear()
    try:
        assert not matches(doc, "cell")
    finally:
        quickcheck._compiled.cache_clear()
