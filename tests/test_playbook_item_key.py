"""Playbook.item_key remembers its answers without changing what a playbook is or equals."""

from __future__ import annotations

from pathlib import Path

from sev1bot.playbook.loader import load_playbook

SHIPPED = Path(__file__).parents[1] / "playbooks" / "mme-sev1.yaml"


def test_answers_stay_right_across_copies_and_equality_ignores_them() -> None:
    playbook = load_playbook(SHIPPED)
    fresh = load_playbook(SHIPPED)
    assert playbook.item_key("2.3") == "2.3" and playbook.item_key("9.9") is None
    assert playbook == fresh and playbook.model_dump_json() == fresh.model_dump_json()
    stage = playbook.stages[1]
    named_item = stage.items[2].model_copy(update={"id": "support-bundle"})
    named_stage = stage.model_copy(update={"items": [*stage.items[:2], named_item, *stage.items[3:]]})
    named = playbook.model_copy(update={"stages": [playbook.stages[0], named_stage, *playbook.stages[2:]]})
    assert named.item_key("support-bundle") == "2.3" and playbook.item_key("support-bundle") is None
    shorter = playbook.model_copy(update={"stages": playbook.stages[:1]})  # shares the cache object
    assert shorter.item_key("2.3") is None and shorter.item_key("1.1") == "1.1"
    assert playbook.item_key("2.3") == "2.3"
