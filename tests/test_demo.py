"""``sev1bot demo`` end to end as a real process, its demo playbook, its rendering, and the CLI's help.

The three demo runs (quiet, verbose with JSON logs, --keep-running) start together in one module fixture and
run in parallel, so the whole file takes about as long as one demo.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from sev1bot.cli import build_parser, main
from sev1bot.demo.playbook import DemoSetupError, Timings, find_shipped_playbook, write_demo_playbook
from sev1bot.demo.screen import render_markdown
from sev1bot.playbook.loader import load_playbook

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "playbooks" / "mme-sev1.yaml"
DEFAULT_SEED = ROOT / "src" / "sev1bot" / "sandbox" / "seed.yaml"
SPEED = "8"  # every compressed duration at its 1 s floor, pauses of 1/8 s
BOUND = 45.0  # seconds a fast demo may take, start-up included


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    started: float
    ended: float = 0.0

    def wait(self, timeout: float = 60) -> Run:
        self.proc.wait(timeout)
        self.ended = self.ended or time.monotonic()
        return self

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "SEV1BOT_LOG_LEVEL")}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}


def start(directory: Path, name: str, *args: str) -> Run:
    out, err = directory / f"{name}.out", directory / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sev1bot.cli", *args],
            cwd=ROOT,
            env=demo_env(),
            stdout=stdout,
            stderr=stderr,
        )
    return Run(proc, out, err, time.monotonic())


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    seed = yaml.safe_load(DEFAULT_SEED.read_text())
    return {u["username"]: "tok" + secrets.token_hex(12) for u in [*seed["users"], {"username": "sev1bot"}]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str]) -> Iterator[dict[str, Run]]:
    directory = tmp_path_factory.mktemp("demo")
    seed = yaml.safe_load(DEFAULT_SEED.read_text())
    for user in seed["users"]:
        user["token"] = tokens[user["username"]]
    seed["bot"]["token"] = tokens["sev1bot"]
    seed_file = directory / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    started = {
        "quiet": start(directory, "quiet", "demo", "--speed", SPEED),
        "json": start(
            directory, "json", "--log-json", "demo", "--verbose", "--speed", SPEED, "--seed", str(seed_file)
        ),
        "keep": start(directory, "keep", "demo", "--speed", SPEED, "--keep-running"),
    }
    yield started
    for run in started.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def test_the_demo_shows_every_milestone_in_order_and_exits_0_quickly(runs: dict[str, Run]) -> None:
    run = runs["quiet"].wait()
    out = run.stdout
    assert run.proc.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert run.ended - run.started < BOUND
    milestones = [
        "Time is compressed in a demo copy of the playbook",
        "CEO escalation after 1h → 3s",
        "1 business day → 3s",
        '@alice in ~town-square: /sev1 start "Acme Corp"',
        "Channel created (private channel) by sev1bot",
        "Header: Sev 1 · Acme Corp · owner @alice · active",
        "Members: @alice @brent.fox",
        "Status board · sev1bot",
        "📌 pinned the status board",
        "Checklist posted: 8 stages, 40 items",
        "✎ 1.2 Add CSM, TAM & DE to Incident Channel → ✅ done by @sev1bot",
        "👋 You are in the incident channel of the Sev 1 for Acme Corp",
        "+ @bob joined the channel",
        "@bob reacts ✔ to 1.3 Start audio & screen share with customer",
        "✎ 1.3 Start audio & screen share with customer → ✅ done by @bob",
        "✎ 2.4 Share output from slow query logs → ⏩ skipped by @bob",
        "CEO ping (escalation) · sev1bot",
        "@ian.tien @alice 🚨 The Sev 1 for Acme Corp has been open for",
        "DM to @ian.tien · from @sev1bot",
        "CEO must be looped in (open > 3s)",
        "/sev1 resolve Fixed by dot release 10.11.2",
        "Resolved · sev1bot",
        "✅ Resolved by @jason.blais. Escalation pings have stopped.",
        "Deadline reminder · sev1bot",
        "Complete incident retrospective (8.1) is due",
        "Send completed incident summary analysis to the customer (8.3) is overdue by",
        "Took",
    ]
    missing = [text for text in milestones if text not in out]
    assert not missing, f"missing {missing} in:\n{out}"
    # What must come in this order whatever the timing (the script waits for the ping before resolving).
    # "│ 🚨 The Sev 1" starts the CEO's ping DM (the welcome DM he got at the start comes much earlier).
    causal = ["/sev1 start", "Channel created", "Status board", "Checklist posted", "CEO ping",
              "│ 🚨 The Sev 1", "/sev1 resolve", "Resolved · sev1bot", "Deadline reminder",
              "Took"]  # fmt: skip
    order = [out.index(text) for text in causal]
    assert order == sorted(order), [causal[order.index(i)] for i in sorted(order)]
    members = re.search(r"Members\s+(@[^│\n]*)", out.split("─ Summary ─")[-1])
    assert members and set(members.group(1).split()) == {
        "@alice", "@bob", "@carol", "@brent.fox", "@stu.doherty", "@jason.blais", "@ian.tien", "@sev1bot"
    }  # fmt: skip
    # Every item was posted once, and the summary agrees with what was shown.
    assert len(re.findall(r"└ \d+\.\d+ ", out)) == 40
    assert "7 of 40 items done, 1 skipped, 32 open" in out
    assert "none after the resolution" in out and "8.1 was checked in time" in out
    # Quiet by default: nothing below WARNING reaches stderr.
    assert "[info" not in run.stderr and "[debug" not in run.stderr, run.stderr


def test_verbose_json_logs_are_json_lines_and_never_show_a_token(
    runs: dict[str, Run], tokens: dict[str, str]
) -> None:
    run = runs["json"].wait()
    assert run.proc.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"event", "level", "logger", "timestamp"} <= record.keys() for record in records)
    assert any(r["level"] == "info" and r["event"].startswith("connected to") for r in records), lines[:20]
    for name, token in tokens.items():
        assert token not in run.stderr, f"{name}'s token leaked into the log"
        assert token not in run.stdout, f"{name}'s token printed"
    assert "Summary" in run.stdout


def test_keep_running_leaves_the_sandbox_open_for_another_client(runs: dict[str, Run]) -> None:
    run = runs["keep"]
    deadline = time.monotonic() + 60
    while "Press Ctrl-C to stop." not in run.stdout:
        assert run.proc.poll() is None, run.stdout[-3000:] + run.stderr[-3000:]
        assert time.monotonic() < deadline, "the demo did not reach its keep-running banner"
        time.sleep(0.1)
    out = run.stdout
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out)
    token = re.search(r"^\s+alice\s+(\S+)$", out, re.MULTILINE)
    assert url and token, out[-2000:]
    request = urllib.request.Request(
        f"{url.group(1)}/api/v4/users/me", headers={"Authorization": f"Bearer {token.group(1)}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["username"] == "alice"
    run.proc.send_signal(signal.SIGINT)
    assert run.wait(20).proc.returncode == 0


def test_a_seed_without_the_demo_people_is_refused_clearly(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        yaml.safe_dump({"team": {"name": "t1", "display_name": "T"}, "users": [{"username": "zed"}]})
    )
    run = start(tmp_path, "bad", "demo", "--seed", str(seed)).wait(30)
    assert run.proc.returncode == 2
    assert "the sandbox seed lacks the demo's people: alice, bob" in run.stderr


# -- the demo playbook ----------------------------------------------------------------------------------


def test_timings_compress_an_hour_to_seconds_and_never_below_one() -> None:
    normal = Timings.for_speed(1)
    assert (normal.escalate_after, normal.deadlines, normal.remind_before) == (6, (4, 6, 8, 10), 2)
    fast = Timings.for_speed(100)
    assert (fast.escalate_after, fast.deadlines, fast.remind_before) == (3, (2, 3, 4, 5), 1)
    assert fast.pause == pytest.approx(0.01)
    with pytest.raises(ValueError, match="positive"):
        Timings.for_speed(0)


def test_the_demo_copy_changes_only_the_clock(tmp_path: Path) -> None:
    demo = write_demo_playbook(SHIPPED, tmp_path / "pb", Timings.for_speed(1))
    shipped, copy = load_playbook(SHIPPED), demo.playbook
    assert copy.escalation is not None and shipped.escalation is not None
    assert copy.escalation.after == timedelta(seconds=6) and copy.escalation.repeat_every == timedelta(
        seconds=6
    )
    assert copy.escalation.notify == shipped.escalation.notify
    assert [d.duration for d in copy.deadlines] == [timedelta(seconds=s) for s in (4, 6, 8, 10)]
    assert all(d.business_days is None and d.remind_before == timedelta(seconds=2) for d in copy.deadlines)
    assert [d.item for d in copy.deadlines] == [d.item for d in shipped.deadlines]
    assert copy.stages == shipped.stages and copy.roles == shipped.roles and copy.invite == shipped.invite
    assert demo.changes[0] == "CEO escalation after 1h → 6s, then every 1h → 6s"
    assert "24h → 4s, 1 business day → 6s, 2 business days → 8s" in demo.changes[1]


def test_the_demo_refuses_another_playbook_and_says_where_it_looked(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("id: db-outage\ntitle: x\n")
    with pytest.raises(DemoSetupError, match="written for the 'mme-sev1' playbook"):
        write_demo_playbook(other, tmp_path / "pb", Timings.for_speed(1))
    with pytest.raises(DemoSetupError, match=re.escape(str(tmp_path))):
        find_shipped_playbook([tmp_path])
    assert find_shipped_playbook([tmp_path, SHIPPED.parent]) == SHIPPED


def test_markdown_renders_as_the_web_app_shows_it() -> None:
    message = (
        "### :rotating_light: Sev 1 · Acme\n**Owner:** @\u200dalice\n\n| Stage | Done |\n|:--|:--|\n"
        "| 1 · Escalation | 3/4 |\n| 2 · Data Gathering | 0/5 |\n> quoted\n- **Deadline** (8.1): _open_"
    )
    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None).print(render_markdown(message))
    text = buffer.getvalue()
    assert "🚨 Sev 1 · Acme" in text and "Owner: @alice" in text
    assert "**" not in text and "|" not in text and "\u200d" not in text
    rows = [line for line in text.splitlines() if "·" in line and "/" in line]
    assert len(rows) == 2 and rows[0].index("3/4") == rows[1].index("0/5"), rows  # an aligned table
    assert "▌ quoted" in text and "• Deadline (8.1): open" in text


# -- the command line -----------------------------------------------------------------------------------


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command, summary in [
        ("run", "run the bot against Mattermost"),
        ("demo", "play a scripted Sev 1 against the built-in sandbox server"),
        ("sandbox", "start the Mattermost-compatible sandbox server"),
        ("validate", "check playbook files and print a summary of each"),
    ]:
        assert re.search(rf"^\s+{command}\s+{re.escape(summary)}", out, re.MULTILINE), out


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("run", ["--config", "SIGTERM"]),
        ("demo", ["--speed", "--keep-running", "--verbose", "--seed", "compressed"]),
        ("sandbox", ["--host", "--port", "--seed"]),
        ("validate", ["paths", "line and column"]),
    ],
)
def test_every_command_has_help(
    command: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"usage: sev1bot {command}" in out and "--log-json" in out
    assert all(text in out for text in expected), out


def test_log_json_goes_before_or_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["--log-json", "validate"]).log_json is True
    assert parser.parse_args(["validate", "--log-json"]).log_json is True
    assert parser.parse_args(["validate"]).log_json is False


def test_a_bad_speed_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    for value, reason in [("0", "must be greater than 0"), ("fast", "expected a number")]:
        with pytest.raises(SystemExit) as exit_:
            main(["demo", "--speed", value])
        assert exit_.value.code == 2
        assert reason in capsys.readouterr().err


def test_the_installed_entry_point_answers_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sev1bot.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and "demo" in result.stdout and "validate" in result.stdout
