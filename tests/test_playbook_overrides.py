"""Role holders overridden per deployment: SEV1BOT_ROLE_<ROLE> variables and a roles overlay file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sev1bot.playbook.loader import PlaybookError, load_playbook, parse_playbook
from sev1bot.playbook.overrides import apply_role_overrides, apply_role_overrides_all, env_name
from sev1bot.playbook.schema import Playbook

SHIPPED = Path(__file__).resolve().parents[1] / "playbooks" / "mme-sev1.yaml"


@pytest.fixture(scope="module")
def mme() -> Playbook:
    return load_playbook(SHIPPED)


def with_roles(roles: str) -> Playbook:
    return parse_playbook(f"id: p\ntitle: P\nroles:\n{roles}stages: [{{title: S, items: [{{title: x}}]}}]\n")


def usernames(playbook: Playbook) -> dict[str, str]:
    return {role_id: role.username for role_id, role in playbook.roles.items()}


def overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(text, "utf-8")
    return path


def errors(call: object) -> list[str]:
    assert callable(call)
    with pytest.raises(PlaybookError) as info:
        call()
    return [str(problem) for problem in info.value.problems]


def test_env_name_upper_cases_and_replaces_dashes() -> None:
    assert env_name("ceo") == "SEV1BOT_ROLE_CEO"
    assert env_name("csm_lead") == "SEV1BOT_ROLE_CSM_LEAD"
    assert env_name("on-call") == "SEV1BOT_ROLE_ON_CALL"


def test_environment_overrides_a_role(mme: Playbook, caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "SEV1BOT_ROLE_CEO": "jane.doe",
        "SEV1BOT_ROLE_DE_LEAD": " @sam.lee ",
        "PATH": "/bin",
        "SEV1BOT_X": "y",
    }
    with caplog.at_level(logging.INFO, logger="sev1bot.playbook.overrides"):
        changed = apply_role_overrides(mme, env)
    assert usernames(changed) == {
        "csm_lead": "brent.fox",
        "tam_lead": "stu.doherty",
        "de_lead": "sam.lee",  # spaces and a leading @ are dropped
        "ceo": "jane.doe",
    }
    assert changed.roles["ceo"].title == "CEO"
    assert usernames(mme)["ceo"] == "ian.tien"  # the loaded playbook is untouched
    assert changed.stages == mme.stages
    assert "playbook mme-sev1: role ceo is jane.doe (SEV1BOT_ROLE_CEO)" in caplog.messages


def test_no_overrides_gives_an_equal_playbook(mme: Playbook) -> None:
    assert apply_role_overrides(mme, {}) == mme


def test_overlay_file_overrides_and_the_environment_wins(mme: Playbook, tmp_path: Path) -> None:
    path = overlay(tmp_path, "roles:\n  ceo: jane.doe\n  tam_lead: kim.park\n")
    changed = apply_role_overrides(mme, {"SEV1BOT_ROLE_CEO": "ann.lee"}, path)
    assert usernames(changed)["tam_lead"] == "kim.park"
    assert usernames(changed)["ceo"] == "ann.lee"


def test_role_ids_with_dashes_are_matched_by_env_name() -> None:
    playbook = with_roles("  on-call: {title: On call, username: a.b}\n")
    assert usernames(apply_role_overrides(playbook, {"SEV1BOT_ROLE_ON_CALL": "c.d"})) == {"on-call": "c.d"}


def test_unknown_role_in_the_environment_is_an_error(mme: Playbook) -> None:
    assert errors(lambda: apply_role_overrides(mme, {"SEV1BOT_ROLE_CTO": "x.y"})) == [
        "environment: SEV1BOT_ROLE_CTO: no such role in the playbooks (mme-sev1); known: SEV1BOT_ROLE_CEO, "
        "SEV1BOT_ROLE_CSM_LEAD, SEV1BOT_ROLE_DE_LEAD, SEV1BOT_ROLE_TAM_LEAD"
    ]


def test_unknown_role_in_the_overlay_is_an_error_at_its_line(mme: Playbook, tmp_path: Path) -> None:
    path = overlay(tmp_path, "# who holds the roles here\nroles:\n  ceo: jane.doe\n  cto: max.roe\n")
    assert errors(lambda: apply_role_overrides(mme, {}, path)) == [
        f"{path}:4:8: roles.cto: no such role in the playbooks (mme-sev1); "
        "known: ceo, csm_lead, de_lead, tam_lead"
    ]


def test_bad_usernames_are_errors(mme: Playbook, tmp_path: Path) -> None:
    path = overlay(tmp_path, "roles:\n  ceo: Jane Doe\n")
    assert errors(lambda: apply_role_overrides(mme, {"SEV1BOT_ROLE_DE_LEAD": ""}, path)) == [
        f"{path}:2:8: roles.ceo: 'Jane Doe' is not a valid Mattermost username: "
        "use 1-64 lower-case letters, digits, '.', '-' and '_'",
        "environment: SEV1BOT_ROLE_DE_LEAD: '' is not a valid Mattermost username: "
        "use 1-64 lower-case letters, digits, '.', '-' and '_'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ceo: jane.doe\n", "1:1: unknown key 'ceo' (allowed: roles)"),
        ("roles: [ceo]\n", "1:8: roles: expected a mapping of keys to values, got a list"),
        (
            "roles:\n  ceo: 7\n",
            "2:8: roles.ceo: expected text, got a number (7); put it in quotes to make it text",
        ),
        ("roles:\n  ceo: a\n  ceo: b\n", "3:3: roles: duplicate key 'ceo' (first at line 2)"),
        ("", "1:1: the file is empty; expected a roles overlay (roles: {role: username})"),
    ],
)
def test_a_malformed_overlay_is_reported_with_positions(
    mme: Playbook, tmp_path: Path, text: str, expected: str
) -> None:
    path = overlay(tmp_path, text)
    assert errors(lambda: apply_role_overrides(mme, {}, path)) == [f"{path}:{expected}"]


def test_missing_overlay_file_is_an_error(mme: Playbook, tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    assert errors(lambda: apply_role_overrides(mme, {}, missing)) == [f"{missing}: no such file or directory"]


def test_overrides_across_several_playbooks(mme: Playbook) -> None:
    other = with_roles("  scribe: {title: Scribe, username: s.one}\n")
    env = {"SEV1BOT_ROLE_CEO": "jane.doe", "SEV1BOT_ROLE_SCRIBE": "s.two"}
    changed = apply_role_overrides_all({"mme-sev1": mme, "p": other}, env)
    assert usernames(changed["mme-sev1"])["ceo"] == "jane.doe"
    assert usernames(changed["p"]) == {"scribe": "s.two"}
    # A role of only one playbook is still unknown when that playbook is applied alone.
    assert errors(lambda: apply_role_overrides(other, env))[0].startswith(
        "environment: SEV1BOT_ROLE_CEO: no such role in the playbooks (p)"
    )


def test_two_roles_with_the_same_variable_are_ambiguous() -> None:
    playbook = with_roles("  a-b: {title: One, username: x.one}\n  a_b: {title: Two, username: x.two}\n")
    assert errors(lambda: apply_role_overrides(playbook, {"SEV1BOT_ROLE_A_B": "y.z"})) == [
        "environment: SEV1BOT_ROLE_A_B: matches several roles (a-b, a_b); rename one of them"
    ]
