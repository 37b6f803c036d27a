"""Read YAML while keeping positions, so that errors found later can point at a line and column.

PyYAML's ``safe_load`` drops positions and silently keeps the last of two equal keys. Here the document is
composed into a node tree first (every node has a ``start_mark``), duplicate keys are found in that tree,
and the plain data is then built from the same nodes. :meth:`YamlSource.locate` maps a pydantic error
location such as ``("stages", 1, "items", 0, "titel")`` back to its node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from sev1bot.playbook.problems import PlaybookError, Problem, describe, format_loc, short
from sev1bot.playbook.schema import Loc

log = logging.getLogger(__name__)

MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers which node built which value and gives construction errors a position."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.built: dict[Node, Any] = {}

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            data = super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's constructors raise ValueError, IndexError, ... on bad input
            kind = str(node.tag).rsplit(":", 1)[-1]
            message = f"cannot read {short(str(node.value))!r} as {kind} ({exc})"
            raise ConstructorError(None, None, message, node.start_mark) from exc
        self.built[node] = data
        return data


@dataclass
class YamlSource:
    """One parsed YAML file: the node tree, the data built from it, and problems found on the way."""

    file: str
    root: Node
    data: Any
    built: dict[Node, Any]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, node: Node, message: str) -> Problem:
        return Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1, message)

    def locate(self, loc: Loc, *, key: bool = False) -> Node:
        """The node at ``loc`` (its key node with ``key=True``), or the deepest node found if the path ends.

        A ``"[key]"`` part (pydantic's marker for a bad dict key) also selects the key node.
        """
        node, key_node = self.root, None
        for part in loc:
            if part == "[key]" and key_node is not None:
                return key_node
            found = self._child(node, part)
            if found is None:
                return node
            key_node, node = found
        return key_node if key and key_node is not None else node

    def _child(self, node: Node, part: str | int) -> tuple[Node | None, Node] | None:
        if isinstance(node, MappingNode):
            # Later keys win (and merged "<<" keys come first), so search from the end.
            # pydantic reports some keys as text (None as 'None'): try exact, then as text, then as written.
            def same(built: Any) -> bool:
                return type(built) is type(part) and bool(built == part)

            def as_text(built: Any) -> bool:
                return part in {str(built), repr(built)}

            for matches in (same, as_text):
                for key_node, value_node in reversed(node.value):
                    if matches(self.built.get(key_node, _UNBUILT)):
                        return key_node, value_node
            for key_node, value_node in reversed(node.value):
                if isinstance(key_node, ScalarNode) and key_node.value == str(part):
                    return key_node, value_node
        if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            return None, node.value[part]
        return None


_UNBUILT = object()


def read_text(path: Path, file: str) -> str:
    """The file's text; PlaybookError if it is missing, unreadable or not UTF-8 (saying where)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PlaybookError([Problem(file, 0, 0, "no such file or directory")]) from None
    except IsADirectoryError:
        raise PlaybookError([Problem(file, 0, 0, "is a directory, not a file")]) from None
    except OSError as exc:
        raise PlaybookError([Problem(file, 0, 0, f"cannot read the file: {exc.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        message = f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be read"
        raise PlaybookError([Problem(file, line, column, message)]) from None


def read_yaml(text: str, file: str, expected: str) -> YamlSource:
    """Parse one YAML document that must be a mapping; ``expected`` names it in errors ("a playbook ...").

    Raises PlaybookError for bad syntax, an empty file or a document that is not a mapping. Duplicate keys do
    not stop reading: they are returned in ``problems`` so that they are reported with everything else.
    """
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise PlaybookError([Problem(file, 1, 1, f"the file is empty; expected {expected}")])
            duplicates = _duplicate_keys(file, root)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise PlaybookError([_syntax_problem(file, exc)]) from None
    except ReaderError as exc:
        line, column = _line_column(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"invalid YAML: the character U+{ord(char):04X} is not allowed in YAML text"
        raise PlaybookError([Problem(file, line, column, message)]) from None
    except yaml.YAMLError as exc:
        raise PlaybookError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    except RecursionError:
        message = "invalid YAML: the document is nested too deeply"
        raise PlaybookError([Problem(file, 1, 1, message)]) from None
    source = YamlSource(file, root, data, loader.built, duplicates)
    if not isinstance(data, dict):
        raise PlaybookError([source.problem(root, f"the file holds {describe(data)}; expected {expected}")])
    log.debug("read %s (%d nodes)", file, len(loader.built))
    return source


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "the document cannot be read"
    if exc.problem and exc.context and exc.problem.startswith("but "):
        problem = f"{exc.context}, {exc.problem}"
    elif exc.problem and exc.context and exc.context_mark is not None:
        problem += f" ({exc.context}, line {exc.context_mark.line + 1})"
    if mark is None:
        return Problem(file, 1, 1, f"invalid YAML: {problem}")
    return Problem(file, mark.line + 1, mark.column + 1, f"invalid YAML: {problem}")


def _line_column(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _duplicate_keys(file: str, root: Node) -> list[Problem]:
    """Keys that appear twice in one mapping (PyYAML would keep the last without a word)."""
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:  # aliases share nodes, and may even form cycles
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, (*loc, index)) for index, child in enumerate(node.value))
        if not isinstance(node, MappingNode):
            continue
        first: dict[tuple[str, str], Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == MERGE_TAG:
                stack.extend([(key_node, loc), (value_node, loc)])
                continue
            ident = (key_node.tag, key_node.value)
            if ident in first:
                where = f"{format_loc(loc)}: " if loc else ""
                line = first[ident].start_mark.line + 1
                message = f"{where}duplicate key {key_node.value!r} (first at line {line})"
                mark = key_node.start_mark
                problems.append(Problem(file, mark.line + 1, mark.column + 1, message))
            else:
                first[ident] = key_node
            stack.append((value_node, (*loc, key_node.value)))
    return sorted(problems)
