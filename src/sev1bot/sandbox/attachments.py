"""Buttons inside posts: ``props.attachments[].actions[]``, their server ids and what clients may see."""

from __future__ import annotations

import copy
from typing import Any

from sev1bot.sandbox.ids import new_id


def attachment_actions(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The button definitions in ``props.attachments[].actions[]`` (the live dicts, for editing)."""
    found: list[dict[str, Any]] = []
    attachments = props.get("attachments")
    if not isinstance(attachments, list):
        return found
    for attachment in attachments:
        actions = attachment.get("actions") if isinstance(attachment, dict) else None
        if isinstance(actions, list):
            found.extend(action for action in actions if isinstance(action, dict))
    return found


def assign_action_ids(props: dict[str, Any]) -> None:
    """``Post.GenerateActionIds``: every action without an id gets a server id."""
    for action in attachment_actions(props):
        if not action.get("id"):
            action["id"] = new_id()


def client_props(props: dict[str, Any]) -> dict[str, Any]:
    """``StripActionIntegrations``: clients never see where a button posts to, nor its context."""
    stripped = copy.deepcopy(props)
    for action in attachment_actions(stripped):
        action.pop("integration", None)
    return stripped
