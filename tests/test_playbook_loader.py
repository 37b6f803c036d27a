"""The loader reports every problem of a playbook file, each at its exact line and column.

Broken fixtures live in tests/playbooks/broken/; each declares what it must produce in comment lines
``# expect LINE:COLUMN MESSAGE-PREFIX``, and must produce exactly those problems and no others.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sev1bot.playbook.loader import (
    PlaybookError,
    Problem,
    load_playbook,
    load_playbook_files,
    load_playbooks,
    parse_playbook,
)

HERE = Path(__file__).resolve().parent
BROKEN = HERE / "playbooks" / "broken"
SHIPPED = HERE.parent / "playbooks" / "mme-sev1.yaml"
EXPECT = re.compile(r"^# expect (\d+):(\d+) (.+)$", re.MULTILINE)

MINIMAL = """\
id: {id}
title: Minimal
stages:
  - title: Only
    items:
      - title: Do the thing
"""


def broken_files() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


def problems_of(call: object) -> list[Problem]:
    assert callable(call)
    with pytest.raises(PlaybookError) as info:
        call()
    return info.value.problems


def test_there_are_many_kinds_of_broken_fixture() -> None:
    assert len(broken_files()) >= 12


@pytest.mark.parametrize("path", broken_files(), ids=lambda path: path.stem)
def test_broken_fixture_reports_exactly_its_expected_problems(path: Path) -> None:
    expected = [
        (int(line), int(column), text) for line, column, text in EXPECT.findall(path.read_text("utf-8"))
    ]
    assert expected, f"{path.name} declares no '# expect LINE:COLUMN MESSAGE' lines"
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    report = str(info.value)
    got = info.value.problems
    assert len(got) == len(expected), f"expected {len(expected)} problems, got:\n{report}"
    for line, column, text in expected:
        assert any((p.line, p.column) == (line, column) and p.message.startswith(text) for p in got), (
            f"no problem '{line}:{column}: {text}...' in:\n{report}"
        )
    for problem in got:
        assert problem.file == str(path)
        assert str(problem) == f"{path}:{problem.line}:{problem.column}: {problem.message}"


def test_the_message_format_of_an_unknown_key() -> None:
    text = MINIMAL.format(id="x").replace("      - title: Do the thing", "      - titel: Do the thing")
    problems = problems_of(lambda: parse_playbook(text, "playbooks/x.yaml"))
    assert [str(p) for p in problems] == [
        "playbooks/x.yaml:6:9: stages[0].items[0]: missing required key 'title'",
        "playbooks/x.yaml:6:9: stages[0].items[0]: unknown key 'titel' (allowed: id, title, description, "
        "description_pending, customer_update, done_by_bot); did you mean 'title'?",
    ]


def test_several_problems_in_one_file_are_all_reported_in_order() -> None:
    text = """\
id: Many Problems
title: Many
title: Twice
roles:
  ceo: {title: CEO, username: Ian}
escalation: {after: soon, repeat_every: 1h, notify: [ceo]}
deadlines:
  - {id: d, title: D, item: "1.1"}
stages:
  - title: First
    items:
      - title: a
        colour: red
  - title: Second
    items: []
"""
    problems = problems_of(lambda: parse_playbook(text, "many.yaml"))
    assert [(p.line, p.column, p.message.split(":")[0]) for p in problems] == [
        (1, 5, "id"),
        (3, 1, "duplicate key 'title' (first at line 2)"),
        (5, 31, "roles.ceo.username"),
        (6, 21, "escalation.after"),
        (8, 5, "deadlines[0]"),
        (13, 9, "stages[0].items[0]"),
        (15, 12, "stages[1].items"),
    ]


def test_cross_reference_problems_are_all_reported_together() -> None:
    text = (
        MINIMAL.format(id="refs")
        + "invite: [cto]\nresolution: {items: [nope]}\npermissions: {resolve: [vp]}\n"
    )
    problems = problems_of(lambda: parse_playbook(text, "refs.yaml"))
    assert [str(p) for p in problems] == [
        "refs.yaml:7:10: invite[0]: unknown role 'cto' (no roles are defined)",
        "refs.yaml:8:22: resolution.items[0]: unknown item 'nope': name an item by its id or as stage.item, "
        "e.g. 2.3",
        "refs.yaml:9:25: permissions.resolve[0]: unknown role 'vp' (no roles are defined)",
    ]


def test_references_accept_slug_ids_and_stage_item_numbers() -> None:
    text = MINIMAL.format(id="ok").replace("- title: Do the thing", "- {id: thing, title: Do the thing}")
    text += "deadlines:\n"
    text += "  - {id: a, title: A, item: thing, business_days: 1}\n"
    text += '  - {id: b, title: B, item: "1.1", duration: 2h}\n'
    playbook = parse_playbook(text)
    assert [playbook.item_key(deadline.item) for deadline in playbook.deadlines] == ["1.1", "1.1"]


def test_yaml_merge_keys_and_anchors_work_and_later_keys_win() -> None:
    text = """\
id: merged
title: Merged
x-item: &standard {title: Standard, customer_update: true}
stages:
  - title: S
    items:
      - <<: *standard
        title: Overridden
"""
    problems = problems_of(lambda: parse_playbook(text, "merged.yaml"))
    # The anchor holder is not a playbook key; the merged item itself is fine and not a duplicate.
    assert [str(p) for p in problems] == [
        "merged.yaml:3:1: unknown key 'x-item' (allowed: id, title, description, roles, invite, escalation, "
        "updates, deadlines, resolution, permissions, reactions, stages)"
    ]


def test_a_file_that_is_not_utf8_is_reported_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"id: latin\ntitle: Caf\xe9\n")
    (problem,) = problems_of(lambda: load_playbook(path))
    assert (problem.line, problem.column) == (2, 11)
    assert problem.message == "the file is not UTF-8 text: byte 0xe9 cannot be read"


def test_a_control_character_is_reported_at_its_position() -> None:
    (problem,) = problems_of(lambda: parse_playbook("id: x\ntitle: a\x07b\n", "bell.yaml"))
    assert str(problem) == "bell.yaml:2:9: invalid YAML: the character U+0007 is not allowed in YAML text"


def test_a_missing_file_and_a_directory_are_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    (problem,) = problems_of(lambda: load_playbook(missing))
    assert str(problem) == f"{missing}: no such file or directory"
    (problem,) = problems_of(lambda: load_playbook(tmp_path))
    assert str(problem) == f"{tmp_path}: is a directory, not a file"


def test_load_playbooks_reads_a_directory_of_yaml_and_yml_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL.format(id="alpha"), "utf-8")
    (tmp_path / "b.yml").write_text(MINIMAL.format(id="beta"), "utf-8")
    (tmp_path / "notes.txt").write_text("not a playbook", "utf-8")
    (tmp_path / ".#a.yaml").write_text("editor lock file", "utf-8")
    playbooks = load_playbooks(tmp_path)
    assert sorted(playbooks) == ["alpha", "beta"]
    assert playbooks["beta"].stages[0].items[0].title == "Do the thing"
    files = load_playbook_files([tmp_path, tmp_path / "a.yaml", SHIPPED])  # a.yaml twice is loaded once
    assert {pid: entry.file for pid, entry in files.items()} == {
        "alpha": str(tmp_path / "a.yaml"),
        "beta": str(tmp_path / "b.yml"),
        "mme-sev1": str(SHIPPED),
    }


def test_duplicate_playbook_ids_across_files_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(MINIMAL.format(id="same"), "utf-8")
    (tmp_path / "two.yaml").write_text("# the second\n" + MINIMAL.format(id="same"), "utf-8")
    (problem,) = problems_of(lambda: load_playbooks(tmp_path))
    assert str(problem) == (
        f"{tmp_path / 'two.yaml'}:2:5: id: duplicate playbook id 'same' (also at {tmp_path / 'one.yaml'}:1:5)"
    )


def test_problems_of_all_files_and_paths_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(MINIMAL.format(id="good"), "utf-8")
    (tmp_path / "bad.yaml").write_text("id: bad\n", "utf-8")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    problems = problems_of(lambda: load_playbooks([tmp_path, tmp_path / "gone", empty_dir]))
    assert [str(p) for p in problems] == [  # in the order the paths were given
        f"{tmp_path / 'bad.yaml'}:1:1: missing required key 'stages'",
        f"{tmp_path / 'bad.yaml'}:1:1: missing required key 'title'",
        f"{tmp_path / 'gone'}: no such file or directory",
        f"{empty_dir}: no playbook files (*.yaml, *.yml) in this directory",
    ]


def test_playbook_error_is_a_value_error_listing_every_problem() -> None:
    error = PlaybookError([Problem("a.yaml", 3, 7, "one"), Problem("b.yaml", 0, 0, "two")])
    assert isinstance(error, ValueError)
    assert str(error) == "a.yaml:3:7: one\nb.yaml: two"
    with pytest.raises(ValueError, match="at least one problem"):
        PlaybookError([])


def test_reference_problems_can_be_checked_on_a_model_built_in_code() -> None:
    playbook = parse_playbook(MINIMAL.format(id="code"))
    broken = playbook.model_copy(update={"invite": ["ghost"]})
    assert broken.reference_problems() == [(("invite", 0), "unknown role 'ghost' (no roles are defined)")]
    assert playbook.reference_problems() == []


def test_keys_that_are_not_text_are_reported_at_the_key() -> None:
    text = MINIMAL.format(id="keys") + "1.5: x\nroles:\n  null: {title: Nobody, username: no.one}\n"
    problems = problems_of(lambda: parse_playbook(text, "keys.yaml"))
    assert [str(p) for p in problems] == [
        "keys.yaml:7:1: keys must be text, not a number (1.5)",
        "keys.yaml:9:3: roles: expected text, got nothing (null); put it in quotes to make it text",
    ]
