"""docs/ARCHITECTURE.md names every module of the package: a module added without its row fails here."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PACKAGE = ROOT / "gomatrix"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def named_in(text: str) -> set[str]:
    """The paths the document names in code spans, relative to gomatrix/ (`gomatrix/cli.py` and `cli.py`,
    `results/quickcheck.py` and `gomatrix/results/quickcheck.py` are the same module)."""
    return {span.removeprefix("gomatrix/") for span in re.findall(r"`([^`\n]+)`", text)}


def modules() -> list[str]:
    """Every Python module under gomatrix/, relative to it; packages' __init__.py as their directory."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if "__pycache__" in relative.parts or relative.parts[0] == "data":
            continue
        if relative.name == "__init__.py" and relative.parent.parts:
            found.append(f"{relative.parent.as_posix()}/")
        else:
            found.append(relative.as_posix())
    return found


def test_every_module_is_named_in_the_architecture() -> None:
    named = named_in(ARCHITECTURE.read_text(encoding="utf-8"))
    missing = [module for module in modules() if module not in named]
    assert not missing, f"docs/ARCHITECTURE.md does not name (in a code span, e.g. `results/x.py`): {missing}"


def test_what_it_names_exists() -> None:
    named = named_in(ARCHITECTURE.read_text(encoding="utf-8"))
    names = {module.rsplit("/", 1)[-1] for module in modules()}  # a bare `sandbox.py` beside its package's name
    stale = sorted(n for n in named if re.fullmatch(r"(\w+/)?\w+\.py", n) and not (PACKAGE / n).exists()
                   and not (ROOT / n).exists() and n not in names)
    assert not stale, f"docs/ARCHITECTURE.md names modules that do not exist: {stale}"


def test_the_check_sees_modules() -> None:
    found = modules()
    assert {"cli.py", "__init__.py", "results/", "results/quickcheck.py", "analysis/plotdraw.py"} <= set(found)
    assert named_in("`gomatrix/run/merge.py` and `plots.py`") == {"run/merge.py", "plots.py"}
