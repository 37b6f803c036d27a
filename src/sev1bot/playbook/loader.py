"""Load playbooks from YAML files, reporting every problem with its file, line and column.

Three passes, each reporting all it finds: YAML syntax (which stops the file), then the schema (pydantic)
together with duplicate YAML keys, then the cross-references (:meth:`Playbook.reference_problems`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sev1bot.playbook.problems import PlaybookError, Problem, explain, format_loc
from sev1bot.playbook.schema import Playbook
from sev1bot.playbook.yamlsource import YamlSource, read_text, read_yaml

__all__ = [
    "LoadedPlaybook",
    "PlaybookError",
    "Problem",
    "load_playbook",
    "load_playbook_files",
    "load_playbooks",
    "parse_playbook",
    "validate_source",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
PathArg = str | os.PathLike[str]

SUFFIXES = (".yaml", ".yml")
_EXPECTED = "a playbook (a mapping with id, title, stages and so on)"


@dataclass(frozen=True)
class LoadedPlaybook:
    """A valid playbook and the file it came from (as the caller spelled the path)."""

    file: str
    playbook: Playbook


def load_playbook(path: PathArg) -> Playbook:
    """Load and check one playbook file; raise PlaybookError listing every problem."""
    return _load_file(Path(path), os.fspath(path))[0]


def load_playbooks(paths: PathArg | Iterable[PathArg]) -> dict[str, Playbook]:
    """Load every playbook in the given files and directories (``*.yaml``, ``*.yml``), keyed by its id."""
    return {playbook_id: entry.playbook for playbook_id, entry in load_playbook_files(paths).items()}


def load_playbook_files(paths: PathArg | Iterable[PathArg]) -> dict[str, LoadedPlaybook]:
    """Like :func:`load_playbooks`, keeping each playbook's file. All files' problems are raised together."""
    problems: list[Problem] = []
    loaded: dict[str, LoadedPlaybook] = {}
    first_id_at: dict[str, str] = {}
    for entry in _expand(paths):
        if isinstance(entry, Problem):
            problems.append(entry)
            continue
        path, file = entry
        try:
            playbook, source = _load_file(path, file)
        except PlaybookError as error:
            problems.extend(error.problems)
            continue
        id_at = source.problem(source.locate(("id",)), "")
        if playbook.id in loaded:
            message = f"id: duplicate playbook id {playbook.id!r} (also at {first_id_at[playbook.id]})"
            problems.append(Problem(file, id_at.line, id_at.column, message))
            continue
        loaded[playbook.id] = LoadedPlaybook(file, playbook)
        first_id_at[playbook.id] = f"{file}:{id_at.line}:{id_at.column}"
    if problems:
        raise PlaybookError(problems)
    return loaded


def parse_playbook(text: str, file: str = "<playbook>") -> Playbook:
    """Check playbook YAML given as text; ``file`` is only used to name it in problems."""
    return _parse(text, file)[0]


def validate_source(source: YamlSource, model: type[M]) -> M:
    """Validate parsed YAML against a pydantic model; every error (and duplicate key) becomes a Problem."""
    problems = list(source.problems)
    try:
        result = model.model_validate(source.data)
    except ValidationError as exc:
        problems.extend(_schema_problem(source, error, model) for error in exc.errors())
        raise PlaybookError(sorted(problems)) from None
    if problems:
        raise PlaybookError(problems)
    return result


def _schema_problem(source: YamlSource, error: ErrorDetails, model: type[BaseModel]) -> Problem:
    loc, kind = error["loc"], error["type"]
    if kind == "missing":
        where, node = loc[:-1], source.locate(loc[:-1])
    elif kind in {"extra_forbidden", "invalid_key"}:
        where, node = loc[:-1], source.locate(loc, key=True)
    elif "[key]" in loc:
        where, node = loc[: loc.index("[key]") - 1], source.locate(loc)
    else:
        where, node = loc, source.locate(loc)
    message = explain(error, model)
    return source.problem(node, f"{format_loc(where)}: {message}" if where else message)


def _parse(text: str, file: str) -> tuple[Playbook, YamlSource]:
    source = read_yaml(text, file, _EXPECTED)
    playbook = validate_source(source, Playbook)
    problems = [
        source.problem(source.locate(loc), f"{format_loc(loc)}: {message}")
        for loc, message in playbook.reference_problems()
    ]
    if problems:
        raise PlaybookError(sorted(problems))
    log.debug("loaded playbook %s from %s (%d items)", playbook.id, file, len(playbook.keys()))
    return playbook, source


def _load_file(path: Path, file: str) -> tuple[Playbook, YamlSource]:
    return _parse(read_text(path, file), file)


def _expand(paths: PathArg | Iterable[PathArg]) -> list[tuple[Path, str] | Problem]:
    """Files to load as (path, name to report), or a Problem for a missing path, in the order given.

    Directories give their ``*.yaml``/``*.yml`` files, sorted; a file named twice is loaded once.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[tuple[Path, str] | Problem] = []
    seen: set[Path] = set()
    for raw in paths:
        name, path = os.fspath(raw), Path(raw)
        if path.is_dir():
            children = sorted(
                child.name
                for child in path.iterdir()
                if child.suffix in SUFFIXES and not child.name.startswith(".") and child.is_file()
            )
            if not children:
                found.append(Problem(name, 0, 0, "no playbook files (*.yaml, *.yml) in this directory"))
            files = [(path / child, os.path.join(name, child)) for child in children]
        elif path.exists():
            files = [(path, name)]
        else:
            found.append(Problem(name, 0, 0, "no such file or directory"))
            files = []
        for file in files:
            if file[0].resolve() not in seen:
                seen.add(file[0].resolve())
                found.append(file)
    return found
