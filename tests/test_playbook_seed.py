"""The shipped MME Sev 1 playbook: a verbatim transcription of the seed document, plus the rules around it.

The seed lives in the reference folder beside the checkout (``../shared/seed``). Without it the comparison is
skipped with the reason, except under CI=true, where it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sev1bot.playbook.loader import load_playbook
from sev1bot.playbook.schema import Playbook
from testkit import unavailable

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / ".." / "shared" / "seed" / "mme-sev1-playbook.md"
SHIPPED = REPO / "playbooks" / "mme-sev1.yaml"
PLACEHOLDER = "Includes XXX"


@dataclass
class SeedItem:
    title: str
    description: str | None = None


@dataclass
class SeedStage:
    title: str
    items: list[SeedItem] = field(default_factory=list)


def seed_text() -> str:
    if not SEED.is_file():
        reason = f"seed playbook not found at {SEED} (the reference folder beside the checkout)"
        unavailable(reason, check="seed playbook checks")
    return SEED.read_text(encoding="utf-8")


def parse_seed(text: str) -> list[SeedStage]:
    """Stages ``## N - Title``, items ``[ ] Title``, descriptions `` - _text_``; anything else is an error."""
    stages: list[SeedStage] = []
    for number, line in enumerate(text.splitlines(), 1):
        if stage := re.fullmatch(r"## (\d+) - (.+?)\s*", line):
            assert int(stage.group(1)) == len(stages) + 1, f"seed line {number}: stages out of order"
            stages.append(SeedStage(stage.group(2)))
        elif item := re.fullmatch(r"\[ \] (.+?)\s*", line):
            assert stages, f"seed line {number}: item before the first stage"
            stages[-1].items.append(SeedItem(item.group(1)))
        elif description := re.fullmatch(r" - _(.+)_\s*", line):
            assert stages and stages[-1].items, f"seed line {number}: description without an item"
            assert stages[-1].items[-1].description is None, f"seed line {number}: second description"
            stages[-1].items[-1].description = description.group(1)
        else:
            assert not stages or not line.strip(), f"seed line {number} not understood: {line!r}"
    return stages


@pytest.fixture(scope="module")
def shipped() -> Playbook:
    return load_playbook(SHIPPED)


def test_seed_parser_reads_the_whole_seed() -> None:
    stages = parse_seed(seed_text())
    assert [len(stage.items) for stage in stages] == [4, 5, 6, 6, 6, 6, 3, 4]
    assert all(item.description for stage in stages for item in stage.items)


def test_shipped_playbook_matches_the_seed_verbatim(shipped: Playbook) -> None:
    stages = parse_seed(seed_text())
    assert [stage.title for stage in shipped.stages] == [stage.title for stage in stages]
    differences = []
    for s, (ours, theirs) in enumerate(zip(shipped.stages, stages, strict=True), 1):
        assert len(ours.items) == len(theirs.items), (
            f"stage {s} has {len(ours.items)} items, the seed {len(theirs.items)}"
        )
        for i, (item, seed) in enumerate(zip(ours.items, theirs.items, strict=True), 1):
            pending = seed.description == PLACEHOLDER
            if item.title != seed.title:
                differences.append(f"{s}.{i} title: {item.title!r} != seed {seed.title!r}")
            if item.description_pending != pending:
                differences.append(
                    f"{s}.{i} description_pending is {item.description_pending}, seed says {pending}"
                )
            expected = None if pending else seed.description
            if item.description != expected:
                differences.append(f"{s}.{i} description: {item.description!r} != seed {expected!r}")
    assert not differences, "\n".join(differences)


def test_shipped_playbook_shape(shipped: Playbook) -> None:
    assert shipped.id == "mme-sev1"
    assert shipped.title == "MME Sev 1 Outages"
    assert [stage.title for stage in shipped.stages] == [
        "Escalation",
        "Data Gathering",
        "Data Review",
        "Code Investigation",
        "Release Preparation",
        "Dot release deployment",
        "Resolution",
        "Retrospective",
    ]
    assert len(shipped.keys()) == 40
    assert shipped.item("6.2").title == "Upgrade customer\u2019s dev/staging environment with dot release"
    # The seed has a trailing space after this title; it is not part of the title.
    assert shipped.item("6.3").title == "Verify fix in customer\u2019s dev/staging environment"
    assert sum(item.description_pending for stage in shipped.stages for item in stage.items) == 23
    texts = [shipped.title, shipped.description] + [
        text
        for stage in shipped.stages
        for item in stage.items
        for text in (item.title, item.description or "")
    ]
    assert not [text for text in texts if "XXX" in text]


def test_shipped_roles_invites_and_escalation(shipped: Playbook) -> None:
    assert {role_id: (role.title, role.username) for role_id, role in shipped.roles.items()} == {
        "csm_lead": ("CSM lead", "brent.fox"),
        "tam_lead": ("TAM lead", "stu.doherty"),
        "de_lead": ("DE lead", "jason.blais"),
        "ceo": ("CEO", "ian.tien"),
    }
    assert shipped.invite == ["csm_lead", "tam_lead", "de_lead", "ceo"]
    assert shipped.escalation is not None
    assert shipped.escalation.model_dump() == {"after": "1h", "repeat_every": "1h", "notify": ["ceo"]}
    assert shipped.permissions.resolve == ["de_lead", "csm_lead", "tam_lead"]
    assert shipped.permissions.owner == ["de_lead", "csm_lead", "tam_lead"]


def test_every_reply_to_customer_item_is_a_customer_update(shipped: Playbook) -> None:
    keys = shipped.keys()
    flagged = [key for key in keys if shipped.item(key).customer_update]
    replies = [key for key in keys if shipped.item(key).title.startswith("Reply to customer")]
    assert flagged == replies == ["1.4", "3.6", "4.6", "5.6", "6.6", "7.3", "8.4"]


def test_deadlines_and_resolution_point_at_the_right_items(shipped: Playbook) -> None:
    due = {
        shipped.item_key(deadline.item): (deadline.business_days, deadline.model_dump()["duration"])
        for deadline in shipped.deadlines
    }
    assert due == {"8.1": (1, None), "8.2": (2, None), "8.3": (3, None), "7.1": (None, "1d")}
    assert {deadline.item for deadline in shipped.deadlines} == {
        "retrospective",
        "draft-summary",
        "send-summary",
        "monitor-fix",
    }
    assert shipped.resolution.command is True
    assert [shipped.item_key(ref) for ref in shipped.resolution.items] == ["7.2"]
    assert shipped.item("7.2").id == "customer-confirmation"
    assert shipped.item("7.2").title == "Receive confirmation from customer about issue resolution"
