"""The docs cannot drift from the code: generated parts of the README and docs/, and deploy files vs ENV_VARS.

The README holds generated blocks between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name
-->`` markers: the checklist picture (the channel the real core builds from the shipped playbook, with a fixed
clock and fixed names), the command reference (help_text()), the shipped deadlines and the configuration
table (config.ENV_VARS).

    .venv/bin/python tests/test_docs.py           # print the blocks
    .venv/bin/python tests/test_docs.py --write   # rewrite them in README.md
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from sev1bot.commands import help_text
from sev1bot.config import ENV_VARS
from sev1bot.core import BusinessCalendar, channel_name, decide, render, start
from sev1bot.core.effects import CreateChannel, EditPost, Effect, Post, PostRef, SetHeader, StageRoot
from sev1bot.core.events import (
    Assigned,
    EtaSet,
    Event,
    ItemChecked,
    ItemSkipped,
    Started,
    StatusUpdate,
    TaskDone,
    TimerDue,
)
from sev1bot.core.moments import parse_moment
from sev1bot.durations import format_duration
from sev1bot.playbook.loader import load_playbook, parse_playbook
from sev1bot.playbook.reference import COMMAND, render_reference, stale_notes, undocumented_fields
from sev1bot.playbook.schema import Playbook

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SCHEMA_DOC = ROOT / "docs" / "playbook-schema.md"
PLAYBOOK_FILE = ROOT / "playbooks" / "mme-sev1.yaml"
WRITE = ".venv/bin/python tests/test_docs.py --write"
NAME = re.compile(r"\b(?:SEV1BOT|MATTERMOST)_[A-Z0-9_]*(?:<[A-Z]+>)?")
# Environment variables src/ may read that are not sev1bot settings (none so far).
NOT_SETTINGS: frozenset[str] = frozenset()
# Variables only the tests read, which the README's Tests section may name.
TEST_VARIABLES = frozenset({"SEV1BOT_TEST_PG"})
# Dockerfile ENV lines that configure Python or the shell, not sev1bot.
RUNTIME_ENV = frozenset({"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})


# -- the checklist picture ---------------------------------------------------------------------------------

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday
CALENDAR = BusinessCalendar("UTC")
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "ballot_box_with_check": "☑️",
    "fast_forward": "⏩",
    "rotating_light": "🚨",
    "red_circle": "🔴",
    "loudspeaker": "📢",
    "warning": "⚠️",
    "alarm_clock": "⏰",
    "arrows_counterclockwise": "🔄",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "dart": "🎯",
    "clock1": "🕐",
    "speech_balloon": "💬",
}
SHOWN_STAGES = 2  # stages shown with their threads open; the rest are summarised in one line
WIDTH = 100


@dataclass
class ChannelPost:
    at: datetime
    message: str
    thread: PostRef | None
    pinned: bool
    edited: bool = False


@dataclass
class Channel:
    """The incident channel an adapter would build from the core's effects (posts in order, edits applied)."""

    name: str = ""
    display_name: str = ""
    header: str = ""
    posts: dict[PostRef | int, ChannelPost] = field(default_factory=dict)

    def apply(self, effects: tuple[Effect, ...], at: datetime) -> None:
        for effect in effects:
            if isinstance(effect, CreateChannel):
                self.name, self.display_name, self.header = effect.name, effect.display_name, effect.header
            elif isinstance(effect, SetHeader):
                self.header = effect.header
            elif isinstance(effect, Post):
                key = effect.ref if effect.ref is not None else len(self.posts)
                self.posts[key] = ChannelPost(at, effect.message, effect.thread, effect.pin)
            elif isinstance(effect, EditPost):
                post = self.posts[effect.ref]
                post.edited = post.edited or post.message != effect.message
                post.message = effect.message


def scenario(playbook: Playbook) -> Channel:
    """A Sev 1 one hour in: 1.1 and 1.2 checked by the bot as it did them, a few more items checked, one
    skipped, one assigned, a reply to the customer and the reminder 30 minutes later, an ETA, an update, the
    first CEO ping."""
    name = channel_name(T0, "Acme Corp")
    started = Started("inc-1", "alice", "Acme Corp", name, "Logins take over 30 s for every user")
    decision = start(started, playbook, T0, CALENDAR)
    channel = Channel()
    channel.apply(decision.effects, T0)
    steps: list[tuple[int, Event]] = [
        (0, TaskDone("channel_created")),  # what delivery reports once the channel exists
        (0, TaskDone("leads_invited")),  # and once the leads are in it
        (10, ItemChecked("bob", "1.3")),
        (12, ItemChecked("bob", "1.4")),
        (21, Assigned("alice", "2.1", "carol")),
        (25, EtaSet("alice", parse_moment("17:30"))),
        (33, ItemChecked("bob", "2.2")),
        (38, ItemSkipped("bob", "2.4")),
        (42, TimerDue("customer")),
        (52, StatusUpdate("alice", "Slow queries on the Posts table; the customer's DBA is on the call.")),
        (60, TimerDue("escalation")),
    ]
    for minutes, event in steps:
        at = T0 + timedelta(minutes=minutes)
        decision = decide(decision.state, event, playbook, at, CALENDAR)
        channel.apply(decision.effects, at)
    return channel


def plain(markdown: str) -> str:
    """Mattermost markdown as a reader sees it: emoji drawn, emphasis and invisible joiners gone."""
    out: list[str] = []
    table: list[list[str]] = []
    for raw in [*markdown.replace("\u200d", "").replace("\u200b", "").split("\n"), ""]:
        line = re.sub(r":([a-z_]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), raw)
        line = re.sub(r"\*\*(.+?)\*\*", r"\1", line).removeprefix("### ")
        if re.fullmatch(r"_[^_].*_", line):
            line = line[1:-1]
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                table.append(cells)
            continue
        if table:
            widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
            out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
            table = []
        out.append(line)
    return "\n".join(out[:-1])


def _post(post: ChannelPost, indent: str = "") -> list[str]:
    notes = [note for note, on in (("pinned", post.pinned), ("edited", post.edited)) if on]
    lines = [
        f"{indent}sev1bot  {render.fmt_time(post.at, CALENDAR)}"
        + (f"  ({', '.join(notes)})" if notes else "")
    ]
    for line in plain(post.message).split("\n"):
        wrapped = textwrap.wrap(line, WIDTH - len(indent) - 2, break_on_hyphens=False) or [""]
        lines += [f"{indent}  {part}".rstrip() for part in wrapped]
    return [*lines, ""]


def checklist_picture(playbook: Playbook) -> str:
    """The incident channel of :func:`scenario`, as text."""
    channel = scenario(playbook)
    lines = [f"~{channel.name}  ·  {channel.display_name}", f"Header: {plain(channel.header)}", ""]
    replies: dict[PostRef, list[ChannelPost]] = {}
    for post in channel.posts.values():
        if post.thread is not None:
            replies.setdefault(post.thread, []).append(post)
    hidden = [ref for ref in channel.posts if isinstance(ref, StageRoot) and ref.stage > SHOWN_STAGES]
    for ref, post in channel.posts.items():
        if post.thread is not None or ref in hidden:
            continue
        lines += _post(post)
        for reply in replies.get(ref, []) if isinstance(ref, StageRoot) else []:
            lines += _post(reply, indent="    ")
        if hidden and isinstance(ref, StageRoot) and ref.stage == SHOWN_STAGES:
            lines += [f"(stages {SHOWN_STAGES + 1} to {len(playbook.stages)} follow the same way)", ""]
    return "\n".join(lines).rstrip("\n")


# -- the README's generated blocks -------------------------------------------------------------------------


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


def env_table() -> str:
    rows = [f"| `{name}` | {_escape_cell(text)} |" for name, text in ENV_VARS.items()]
    return "\n".join(["| Variable | Meaning |", "|---|---|", *rows])


def deadlines_table(playbook: Playbook) -> str:
    rows = []
    for deadline in playbook.deadlines:
        if deadline.business_days is not None:
            due = f"{deadline.business_days} business day" + ("s" if deadline.business_days != 1 else "")
        else:
            assert deadline.duration is not None
            hours = deadline.duration.total_seconds() / 3600
            due = f"{hours:g} hours" if hours.is_integer() else format_duration(deadline.duration)
        rows.append(f"| {_escape_cell(deadline.title)} | {due} | {playbook.item_key(deadline.item)} |")
    return "\n".join(["| Deadline | Due after resolution | Met by checking |", "|---|---|---|", *rows])


def generated_blocks() -> dict[str, str]:
    playbook = load_playbook(PLAYBOOK_FILE)
    return {
        "checklist": f"```text\n{checklist_picture(playbook)}\n```",
        "commands": help_text(playbook.reactions),
        "deadlines": deadlines_table(playbook),
        "env": env_table(),
    }


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN GENERATED: {name} -->\n)(.*?)\n?(<!-- END GENERATED: {name} -->)", re.S)


def readme_block(text: str, name: str) -> str:
    match = _block(name).search(text)
    assert match, f"README.md has no <!-- BEGIN/END GENERATED: {name} --> block"
    return match.group(2)


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for name, body in generated_blocks().items():
        readme_block(text, name)

        def replace(m: re.Match[str], body: str = body) -> str:
            return m.group(1) + body + "\n" + m.group(3)

        text = _block(name).sub(replace, text)
    README.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    return generated_blocks()


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["checklist", "commands", "deadlines", "env"])
def test_readme_generated_blocks_are_current(name: str, blocks: dict[str, str], readme: str) -> None:
    assert readme_block(readme, name) == blocks[name], f"README.md block {name!r} is stale: run {WRITE}"


def test_checklist_picture_shows_the_scenario(blocks: dict[str, str]) -> None:
    picture = blocks["checklist"]
    assert "~sev1-2026-03-10-acme-corp  ·  Sev 1: Acme Corp (2026-03-10)" in picture
    assert "Status: 🔴 Active, open 1h (since Tue 10 Mar 2026 14:00 UTC)" in picture
    assert "Escalation: the CEO (@ian.tien) pinged 1 time; next ping at 16:00 UTC if still open." in picture
    assert "1 · Escalation — 4/4 done" in picture
    assert "Last reply to the customer: 48m ago by @bob (1.4, 14:12 UTC)" in picture
    assert "· the owner is reminded at 15:12 UTC" in picture
    assert "ETA: 17:30 UTC, in 2h 30m (given by @alice)" in picture
    assert "sev1bot  14:25 UTC\n  🎯 ETA 17:30 UTC, in 3h 5m (set by @alice)." in picture
    assert "@alice ⏳ Acme Corp is waiting: no reply to the customer for 30m (the last by @bob)." in picture
    assert "2 · Data Gathering — 2/5 done (1 skipped)" in picture
    assert "✅ done by @bob at 14:33 UTC" in picture
    assert "✅ done by @sev1bot at 14:00 UTC" in picture  # 1.1 and 1.2, done_by_bot in the playbook
    assert "assigned to @carol" in picture
    assert "🚨 CEO must be looped in (open > 1h)" in picture  # 1.4 after the first ping
    assert (
        "sev1bot  15:00 UTC\n  @ian.tien @alice 🚨 The Sev 1 for Acme Corp has been open for 1h." in picture
    )
    assert "sev1bot  14:00 UTC\n      2.3 Share output from support bundle" in picture  # never edited
    assert "(stages 3 to 8 follow the same way)" in picture and "3 · Data Review —" not in picture
    assert "**" not in picture and ":white_check_mark:" not in picture and "\u200d" not in picture


def test_plain_text_rendering() -> None:
    assert plain("### :rotating_light: **Sev 1**\n_Hint._\n| A | Bb |\n|:--|:--|\n| ccc | d |\nafter") == (
        "🚨 Sev 1\nHint.\nA    Bb\nccc  d\nafter"
    )
    assert plain("@\u200dalice uses snake_case_names :unknown_emoji:") == (
        "@alice uses snake_case_names :unknown_emoji:"
    )


def test_readme_env_table_names_every_variable(readme: str) -> None:
    names = re.findall(r"^\| `([^`]+)` \|", readme_block(readme, "env"), re.M)
    assert sorted(names) == sorted(ENV_VARS)


def test_readme_names_only_known_variables(readme: str) -> None:
    unknown = {name for name in NAME.findall(readme) if not _known(name) and name not in TEST_VARIABLES}
    assert not unknown, f"README.md names variables missing from config.ENV_VARS: {sorted(unknown)}"
    others = [path for path in (ROOT / "tests").glob("*.py") if path.resolve() != Path(__file__).resolve()]
    tests = "".join(path.read_text(encoding="utf-8") for path in others)
    for name in TEST_VARIABLES:
        assert f'"{name}"' in tests, f"{name} is documented as a test setting but no test reads it"


def test_readme_deadlines_table(blocks: dict[str, str]) -> None:
    assert "| Complete incident retrospective | 1 business day | 8.1 |" in blocks["deadlines"]
    assert "| Monitor fix in customer environment for 24 hours | 24 hours | 7.1 |" in blocks["deadlines"]


def test_readme_prose_matches_the_shipped_playbook(readme: str) -> None:
    """The hand-written sections quote the shipped playbook: its reactions, resolution item and escalation."""
    playbook = load_playbook(PLAYBOOK_FILE)
    reactions = readme.split("### Reactions", 1)[1].split("\n#", 1)[0]
    named = set(re.findall(r"`:([a-z_]+):`", reactions))
    assert named == {*playbook.reactions.check, *playbook.reactions.skip}
    for emoji in playbook.reactions.skip:
        assert f"`:{emoji}:` skips" in reactions
    resolving = [playbook.item_key(ref) for ref in playbook.resolution.items]
    assert resolving == ["7.2"] and "or checking 7.2 " in readme
    assert playbook.escalation is not None
    timing = (format_duration(playbook.escalation.after), format_duration(playbook.escalation.repeat_every))
    assert timing == ("1h", "1h"), "the README's Escalation section says after one hour, then every hour"


def test_readme_playbook_example_is_valid(readme: str) -> None:
    section = readme.split("## Writing or changing a playbook", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example, "the playbook section has no ```yaml example"
    playbook = parse_playbook(example.group(1), "README.md example")
    assert playbook.reference_problems() == []
    assert playbook.item_key("postmortem") == "2.3" and playbook.resolution.items == ["2.2"]


def test_readme_quickstart_commands(readme: str) -> None:
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(python3 dev\.py \w+)", quickstart, re.M)
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]


def test_readme_links_point_at_files(readme: str) -> None:
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", readme)
    assert "docs/playbook-schema.md" in targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", readme, re.M)}
    broken = [a for a in re.findall(r"\]\(#([^)]+)\)", readme) if a not in anchors]
    assert not broken, f"README.md links to missing headings: {broken}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- docs/playbook-schema.md ------------------------------------------------------------------------------


def test_schema_reference_is_current() -> None:
    assert SCHEMA_DOC.is_file(), f"{SCHEMA_DOC} is missing: regenerate with {COMMAND}"
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    assert text == render_reference(), f"docs/playbook-schema.md is stale: regenerate with {COMMAND}"


def test_schema_reference_documents_every_field() -> None:
    assert undocumented_fields() == [], "give these fields a Field(description=...) or a NOTES entry"
    assert stale_notes() == [], "remove these NOTES/RULES entries from sev1bot/playbook/reference.py"


def test_schema_reference_content() -> None:
    text = render_reference()
    assert "| `stages` | list of [Stage](#stage), not empty | **required** |" in text
    assert "| `business_days` | whole number from 0 to 60 | not set |" in text
    assert "| `remind_before` | [duration](#durations) | `2h` |" in text  # may be 0s: no "more than 0s"
    assert "| `repeat_every` | [duration](#durations), more than 0s | **required** |" in text
    assert "`[white_check_mark, heavy_check_mark, ballot_box_with_check]`" in text
    assert "Where: `stages[].items[]`" in text and "Where: `roles.<id>`" in text
    assert ":mod:" not in text and "``" not in text


# -- every variable the code or the deploy files use is a documented setting -------------------------------


def _known(name: str) -> bool:
    """A setting in ENV_VARS, or a variable of a pattern there (SEV1BOT_ROLE_CEO for SEV1BOT_ROLE_<ROLE>)."""
    return name in ENV_VARS or any(
        key.endswith(">") and name.startswith(key.split("<")[0]) and len(name) > len(key.split("<")[0])
        for key in ENV_VARS
    )


def _env_vars_dict_keys(tree: ast.Module) -> set[int]:
    """ids of the key nodes of ``ENV_VARS = {...}`` (the list itself is not a read)."""
    for node in tree.body:
        if not isinstance(node, ast.AnnAssign):
            continue
        target = node.target
        if isinstance(target, ast.Name) and target.id == "ENV_VARS" and isinstance(node.value, ast.Dict):
            return {id(key) for key in node.value.keys if key is not None} | {
                id(sub) for key in node.value.keys if key is not None for sub in ast.walk(key)
            }
    return set()


def _reads_environment(node: ast.AST) -> str | None:
    """The literal name in ``os.environ[...]``, ``os.environ.get(...)`` or ``os.getenv(...)``."""
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
        arg: ast.AST = node.slice
    elif isinstance(node, ast.Call) and node.args and ast.unparse(node.func) in {
        "os.environ.get", "environ.get", "os.getenv", "getenv", "os.environ.setdefault",
    }:  # fmt: skip
        arg = node.args[0]
    else:
        return None
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def variables_in_src() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Names and prefixes (``SEV1BOT_ROLE_``) src/sev1bot uses, sandbox excluded, each with where."""
    names: dict[str, list[str]] = {}
    prefixes: dict[str, list[str]] = {}
    for path in sorted((ROOT / "src" / "sev1bot").rglob("*.py")):
        if "sandbox" in path.relative_to(ROOT / "src" / "sev1bot").parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _env_vars_dict_keys(tree)
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            read = _reads_environment(node)
            if read is not None and where not in names.get(read, []):
                names.setdefault(read, []).append(where)
            if id(node) in skip or not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            found = prefixes if node.value.endswith("_") else names
            if NAME.fullmatch(node.value) and where not in found.get(node.value, []):
                found.setdefault(node.value, []).append(where)
    return names, prefixes


def test_every_variable_read_in_src_is_in_env_vars() -> None:
    names, prefixes = variables_in_src()
    unknown = {n: w for n, w in names.items() if not _known(n) and n not in NOT_SETTINGS}
    assert not unknown, f"read in src/ but missing from config.ENV_VARS: {unknown}"
    bad_prefixes = {p: w for p, w in prefixes.items() if not any(k.startswith(p) for k in ENV_VARS)}
    assert not bad_prefixes, f"prefixes in src/ that no ENV_VARS name has: {bad_prefixes}"


def test_every_env_var_is_read_in_src() -> None:
    names, prefixes = variables_in_src()
    unread = [
        key
        for key in ENV_VARS
        if key not in names and not (key.endswith(">") and key.split("<")[0] in prefixes)
    ]
    assert not unread, f"config.ENV_VARS lists variables nothing in src/ reads: {unread}"


def compose_service_variables() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = compose["services"]["sev1bot"]["environment"]
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split(None, 1)
        if len(words) < 2 or words[0].upper() != "ENV":
            continue
        tokens = shlex.split(words[1])
        if "=" not in tokens[0]:  # legacy form: ENV KEY value
            found[tokens[0]] = " ".join(tokens[1:])
        else:
            found.update(token.partition("=")[::2] for token in tokens)
    return found


def test_compose_sets_only_known_variables() -> None:
    variables = compose_service_variables()
    assert "MATTERMOST_TOKEN" in variables and "SEV1BOT_PUBLIC_URL" in variables
    unknown = sorted(name for name in variables if not _known(name))
    assert not unknown, f"deploy/docker-compose.yml sets variables missing from config.ENV_VARS: {unknown}"
    interpolated = {
        name for value in variables.values() for name in re.findall(r"\$\{(\w+)", value) if not _known(name)
    }
    assert not interpolated, f"the sev1bot service interpolates unknown variables: {sorted(interpolated)}"


def test_dockerfile_sets_only_known_variables() -> None:
    env = dockerfile_env()
    assert "SEV1BOT_PLAYBOOKS" in env
    unknown = sorted(name for name in env if name not in RUNTIME_ENV and not _known(name))
    assert not unknown, f"Dockerfile ENV sets variables missing from config.ENV_VARS: {unknown}"
    mentioned = {n for n in NAME.findall((ROOT / "Dockerfile").read_text(encoding="utf-8")) if not _known(n)}
    assert not mentioned, f"Dockerfile uses unknown variables: {sorted(mentioned)}"


def test_dockerfile_parser() -> None:
    assert "PYTHONUNBUFFERED" in dockerfile_env()
    assert all(name in RUNTIME_ENV or _known(name) for name in dockerfile_env())
    assert _known("SEV1BOT_ROLE_CEO") and not _known("SEV1BOT_ROLE_") and not _known("SEV1BOT_TIMEZON")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_readme()
        print("README.md: generated blocks rewritten")
    else:
        for block_name, body in generated_blocks().items():
            print(f"<!-- BEGIN GENERATED: {block_name} -->\n{body}\n<!-- END GENERATED: {block_name} -->\n")
