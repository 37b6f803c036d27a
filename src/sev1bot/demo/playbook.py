"""The demo's copy of the shipped playbook, with escalation and deadlines compressed to seconds.

The copy is written to a temporary directory and loaded through the normal loader, so the bot runs exactly
what a deployment would, only on a shorter clock. Nothing else of the playbook changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sev1bot.playbook.loader import load_playbooks
from sev1bot.playbook.problems import PlaybookError
from sev1bot.playbook.schema import Playbook

PLAYBOOK_ID = "mme-sev1"
PLAYBOOK_FILE = f"{PLAYBOOK_ID}.yaml"


class DemoSetupError(Exception):
    """The demo cannot start: what is missing and where it was looked for."""


@dataclass(frozen=True)
class Timings:
    """Compressed durations in whole seconds (the playbook format has no fractions), and the pace."""

    pause: float  # between two scripted actions
    escalate_after: int
    repeat_every: int
    deadlines: tuple[int, ...]  # in the playbook's deadline order
    remind_before: int

    @classmethod
    def for_speed(cls, speed: float) -> Timings:
        """Speed 1 plays in about 25 s; faster speeds shorten pauses, and durations down to 1 s units."""
        if not speed > 0:
            raise ValueError(f"--speed must be a positive number, got {speed}")
        unit = max(1, round(2 / speed))
        return cls(
            pause=1.0 / speed,
            escalate_after=3 * unit,
            repeat_every=3 * unit,
            deadlines=(2 * unit, 3 * unit, 4 * unit, 5 * unit),
            remind_before=unit,
        )


@dataclass(frozen=True)
class DemoPlaybook:
    directory: Path
    playbook: Playbook
    changes: list[str]  # what was compressed, for the screen: "CEO escalation after 1h -> 6s"


def find_shipped_playbook(search: list[Path] | None = None) -> Path:
    """``playbooks/mme-sev1.yaml`` in the working directory or the checkout this package runs from."""
    candidates = search or [Path.cwd() / "playbooks", Path(__file__).resolve().parents[3] / "playbooks"]
    for directory in candidates:
        path = directory / PLAYBOOK_FILE
        if path.is_file():
            return path
    where = ", ".join(str(d) for d in candidates)
    raise DemoSetupError(
        f"the demo needs the shipped playbook {PLAYBOOK_FILE}; looked in {where}. "
        "Run it from the sev1bot checkout."
    )


def write_demo_playbook(source: Path, directory: Path, timings: Timings) -> DemoPlaybook:
    """Write the compressed copy of ``source`` into ``directory`` and load it back through the loader."""
    data: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("id") != PLAYBOOK_ID:
        raise DemoSetupError(f"{source}: the demo script is written for the {PLAYBOOK_ID!r} playbook")
    changes: list[str] = []
    escalation = data.get("escalation") or {}
    if escalation:
        changes.append(
            f"CEO escalation after {escalation['after']} → {timings.escalate_after}s, "
            f"then every {escalation['repeat_every']} → {timings.repeat_every}s"
        )
        escalation["after"] = f"{timings.escalate_after}s"
        escalation["repeat_every"] = f"{timings.repeat_every}s"
    deadlines: list[dict[str, Any]] = data.get("deadlines") or []
    if len(deadlines) > len(timings.deadlines):
        raise DemoSetupError(f"{source}: expected at most {len(timings.deadlines)} deadlines")
    shown: list[str] = []
    for deadline, seconds in zip(deadlines, timings.deadlines, strict=False):
        days = deadline.pop("business_days", None)
        before = deadline.pop("duration", None)
        was = f"{days} business day{'s' if days != 1 else ''}" if days is not None else str(before)
        shown.append(f"{was} → {seconds}s")
        deadline["duration"] = f"{seconds}s"
        deadline["remind_before"] = f"{timings.remind_before}s"
    if shown:
        changes.append(
            f"deadlines after resolution {', '.join(shown)}; "
            f"reminders {timings.remind_before}s before (not 2h)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / PLAYBOOK_FILE
    header = f"# Demo copy of {source}: escalation and deadlines compressed to seconds.\n"
    target.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        playbook = load_playbooks(directory)[PLAYBOOK_ID]
    except PlaybookError as exc:
        raise DemoSetupError(f"the demo copy of {source} does not load:\n{exc}") from None
    return DemoPlaybook(directory, playbook, changes)
