"""``sev1bot validate``: in-process through the CLI entry point, and once as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sev1bot.cli import main

REPO = Path(__file__).resolve().parents[1]
SHIPPED_LINE = "mme-sev1: MME Sev 1 Outages — 8 stages, 40 items, 4 roles (playbooks/mme-sev1.yaml)"
BROKEN = "tests/playbooks/broken"


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.usefixtures("in_repo")
def test_validate_defaults_to_the_playbooks_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [SHIPPED_LINE]
    assert err == ""


@pytest.mark.usefixtures("in_repo")
def test_validate_a_named_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "playbooks/mme-sev1.yaml"]) == 0
    assert capsys.readouterr().out == SHIPPED_LINE + "\n"


@pytest.mark.usefixtures("in_repo")
def test_validate_prints_every_problem_of_every_file_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["validate", f"{BROKEN}/unknown-roles.yaml", f"{BROKEN}/empty.yaml", "playbooks"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""  # no summary when anything is wrong
    assert err.splitlines() == [
        f"{BROKEN}/unknown-roles.yaml:8:15: invite[1]: unknown role 'cto' (roles: ceo)",
        f"{BROKEN}/unknown-roles.yaml:9:53: escalation.notify[0]: unknown role 'boss' (roles: ceo)",
        f"{BROKEN}/unknown-roles.yaml:11:16: permissions.owner[1]: unknown role 'de-lead' (roles: ceo)",
        f"{BROKEN}/empty.yaml:1:1: the file is empty; expected a playbook (a mapping with id, title, stages "
        "and so on)",
    ]


@pytest.mark.usefixtures("in_repo")
def test_validate_a_missing_path_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/playbook.yaml"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "no/such/playbook.yaml: no such file or directory\n")


def test_validate_as_a_subprocess() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "sev1bot.cli", "validate", "playbooks/mme-sev1.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, SHIPPED_LINE + "\n", "")
    bad = subprocess.run(
        [sys.executable, "-m", "sev1bot.cli", "validate", f"{BROKEN}/syntax-error.yaml", "missing.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [  # in the order given
        f"{BROKEN}/syntax-error.yaml:5:7: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence, line 4)",
        "missing.yaml: no such file or directory",
    ]
