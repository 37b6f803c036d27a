"""docs/architecture.md names every module of the package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sev1bot"
DOC = ROOT / "docs" / "architecture.md"


def modules() -> set[str]:
    return {
        str(path.relative_to(ROOT / "src"))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }


def named() -> set[str]:
    return set(re.findall(r"`(sev1bot/[a-z_/]+\.py)`", DOC.read_text()))


def test_every_module_is_named_in_the_architecture_doc() -> None:
    missing = sorted(modules() - named())
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_the_architecture_doc_names_no_module_that_does_not_exist() -> None:
    gone = sorted(named() - modules())
    assert not gone, f"docs/architecture.md names modules that do not exist: {', '.join(gone)}"


def test_paths_name_functions_that_exist() -> None:
    """Every `module.py: Name.method` or `module.py: function` in the paths section is real."""
    text = DOC.read_text().split("## Three paths", 1)[1]
    refs = re.findall(r"`([a-z_/]+\.py): ([A-Za-z_][\w.]*)`", text)
    assert refs, "the paths section names no functions"
    for module, dotted in refs:
        source = (PACKAGE / module).read_text()
        for part in dotted.split("."):
            assert re.search(rf"\b(def|class) {re.escape(part)}\b", source), f"{module}: no {part}"
