"""The shape of the code, checked by reading it with ``ast``: short functions, imports that point down.

- No function in ``src/sev1bot`` is longer than 60 lines (the generated Alembic migrations aside).
- The core is pure: it imports nothing from the Mattermost adapters, the store or the service.
- The Mattermost adapters and the store do not import the service that uses them.
- Every module of the service fits on a few screens: 250 lines at most.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "sev1bot"
MIGRATIONS = PACKAGE / "store" / "migrations"
FUNCTION_MAX = 60
SERVICE_MODULE_MAX = 250
# Service modules over the limit when the check came, each at most as long as then. The service's
# restructuring (issue 11) is to split them; an entry left behind once its module fits fails the test.

# Which packages each layer must not import from (``sev1bot.<layer>`` -> forbidden ``sev1bot.<x>``).
FORBIDDEN = {
    "core": ("mattermost", "store", "service"),
    "mattermost": ("service",),
    "store": ("service",),
}


def _modules(under: Path) -> Iterator[Path]:
    yield from sorted(under.rglob("*.py"))


def _name(path: Path, src: Path) -> str:
    return path.relative_to(src).as_posix()


def _dotted(path: Path, src: Path) -> str:
    """``src/sev1bot/core/decide.py`` -> ``sev1bot.core.decide``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def long_functions(path: Path, src: Path = SRC) -> list[str]:
    """``file: function is N lines (at most 60)`` for each function or method over the limit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_MAX:
                found.append(f"{_name(path, src)}: {node.name} is {length} lines (at most {FUNCTION_MAX})")
    return found


def imported_modules(path: Path, src: Path = SRC) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in a module, relative imports resolved."""
    dotted = _dotted(path, src)
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            yield node.lineno, module
            for alias in node.names:  # ``from sev1bot import service`` imports the package too
                yield node.lineno, f"{module}.{alias.name}"


def forbidden_imports(path: Path, layer: str, src: Path = SRC) -> list[str]:
    """``file:line: layer imports module (...)``, once per import statement that uses a forbidden package."""
    problems, reported = [], set()
    for line, module in imported_modules(path, src):
        other = next((o for o in FORBIDDEN[layer] if f"{module}.".startswith(f"sev1bot.{o}.")), None)
        if other is not None and line not in reported:
            reported.add(line)
            problems.append(f"{_name(path, src)}:{line}: {layer} imports {module} (no {other} in {layer})")
    return problems


def test_no_function_is_over_60_lines() -> None:
    problems = [
        problem
        for path in _modules(PACKAGE)
        if not path.is_relative_to(MIGRATIONS)
        for problem in long_functions(path)
    ]
    assert not problems, "split these functions:\n" + "\n".join(problems)


def test_imports_point_down() -> None:
    problems = [
        problem
        for layer in FORBIDDEN
        for path in _modules(PACKAGE / layer)
        for problem in forbidden_imports(path, layer)
    ]
    assert not problems, "imports that point up:\n" + "\n".join(problems)


def test_service_modules_are_at_most_250_lines() -> None:
    problems = []
    for path in _modules(PACKAGE / "service"):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > SERVICE_MODULE_MAX:
            problems.append(f"{_name(path, SRC)} is {count} lines (at most {SERVICE_MODULE_MAX})")
    assert not problems, "split these service modules:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The helpers find a long function and each form of an upward import, so a green run means something."""
    target = tmp_path / "sev1bot" / "core" / "example.py"
    target.parent.mkdir(parents=True)
    target.write_text(
        "from sev1bot.service.spine import Spine\n"
        "from ..store import store\n"
        "import sev1bot.mattermost.ws\n"
        "from sev1bot import service\n"
        "from sev1bot.core import text\n"
        "def long():\n" + "    x = 1\n" * FUNCTION_MAX,
        encoding="utf-8",
    )
    assert long_functions(target, tmp_path) == [
        f"sev1bot/core/example.py: long is {FUNCTION_MAX + 1} lines (at most {FUNCTION_MAX})"
    ]
    found = forbidden_imports(target, "core", tmp_path)
    assert [problem.split(": ", 1)[0] for problem in found] == [
        f"sev1bot/core/example.py:{line}" for line in (1, 2, 3, 4)
    ]
