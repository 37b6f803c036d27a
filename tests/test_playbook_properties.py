"""Property tests: whatever text is fed to the loader, it answers with a Playbook or a PlaybookError.

Every problem must carry the file, a line and column >= 1 within the text, and a non-empty message; no other
exception (KeyError, RecursionError, a pydantic ValidationError...) may escape.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sev1bot.playbook.loader import PlaybookError, parse_playbook
from sev1bot.playbook.schema import Playbook

SHIPPED = Path(__file__).resolve().parents[1] / "playbooks" / "mme-sev1.yaml"
SHIPPED_DATA = yaml.safe_load(SHIPPED.read_text("utf-8"))
FILE = "prop.yaml"

PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
# Each example parses the whole 40-item playbook (tens of milliseconds in pure-Python PyYAML): fewer of them.
FEWER = settings(PROPERTY, max_examples=40)

KEYS = sorted(
    {
        *Playbook.model_fields,
        "title",
        "items",
        "username",
        "after",
        "repeat_every",
        "notify",
        "business_days",
        "duration",
        "item",
        "command",
        "check",
        "skip",
        "description_pending",
        "customer_update",
        "ceo",
        "<<",
        "titel",
    }
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1, 1, 1)),
    st.sampled_from(["1h", "PT1H", "P1M", "0s", "1.1", "9.9", "ceo", "x", "", "Includes XXX", "-1h", "1:30"]),
    st.text(max_size=12),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6), SCALARS), inner, max_size=5),
    ),
    max_leaves=25,
)
YAMLISH = st.text(
    alphabet=st.sampled_from(
        list(":-[]{}&*!|>'\"%@`#,?\n\r\t \\") + list("aidtle01") + ["\ufeff", "\x00", "\u2028", "’"]
    )
)


def check(text: str) -> None:
    """The loader's contract for any input."""
    try:
        playbook = parse_playbook(text, FILE)
    except PlaybookError as error:
        assert error.problems
        last_line = len(text.splitlines()) + 1
        for problem in error.problems:
            assert problem.file == FILE
            assert 1 <= problem.line <= last_line, problem
            assert problem.column >= 1, problem
            assert problem.message.strip(), problem
    else:
        assert isinstance(playbook, Playbook)
        assert playbook.reference_problems() == []


@PROPERTY
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    check(text)


@PROPERTY
@given(YAMLISH)
def test_yaml_punctuation_soup(text: str) -> None:
    check(text)


@PROPERTY
@given(STRUCTURES)
def test_arbitrary_yaml_structures(data: Any) -> None:
    check(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@FEWER
@given(st.data())
def test_mutations_of_the_shipped_playbook(data: st.DataObject) -> None:
    """Replace or delete one value somewhere in the real playbook: exercises deep positions and references."""
    document = copy.deepcopy(SHIPPED_DATA)
    parent: Any = document
    while True:
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = parent[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            parent = child
            continue
        if data.draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = data.draw(STRUCTURES)
        break
    check(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    check("[" * 1200 + "]" * 1200)  # deeper than Python's recursion limit allows PyYAML to compose
    check("\n".join(" " * depth + "k:" for depth in range(1200)))


def test_recursive_aliases_are_a_problem_not_a_crash() -> None:
    check("id: x\ntitle: t\nstages: &s [*s]\n")
    check("id: x\ntitle: t\nstages: &s [{title: S, items: *s}]\n")
