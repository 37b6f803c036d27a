"""The playbook file format: pydantic v2 models for a playbook written in YAML.

Items are addressed by position, ``"<stage>.<item>"`` counted from 1 (``"2.3"``), which is what responders type.
An item may also carry a slug ``id`` so that deadlines and resolution rules can name it; references accept
either form and are resolved to the positional key by :meth:`Playbook.item_key`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sev1bot.durations import Duration

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(Strict):
    """A person the playbook needs, e.g. the CEO. ``username`` is the default holder, overridable per deployment."""

    title: str
    username: str = Field(pattern=r"^[a-z0-9.\-_]{1,64}$")


class Item(Strict):
    id: Slug | None = None
    title: str = Field(min_length=1)
    description: str | None = None
    description_pending: bool = Field(
        default=False, description='True where the source still says "Includes XXX": details to be written.'
    )
    customer_update: bool = Field(
        default=False, description="A reply to the customer: the CEO rule applies past the escalation threshold."
    )


class Stage(Strict):
    title: str = Field(min_length=1)
    items: list[Item] = Field(min_length=1)


class Escalation(Strict):
    """Who is pinged, and when, while an incident stays open."""

    after: Duration
    repeat_every: Duration
    notify: list[str] = Field(min_length=1, description="Role ids to mention and message.")


class Deadline(Strict):
    """A due date counted from resolution: either business days or a calendar duration."""

    id: Slug
    title: str
    item: str = Field(description='The checklist item that meets the deadline: its id or "stage.item".')
    business_days: int | None = Field(default=None, ge=0, le=60)
    duration: Duration | None = None
    remind_before: Duration = Field(default=timedelta(hours=2), description="When the 'due soon' reminder goes.")


class Resolution(Strict):
    """What resolves an incident: the ``resolve`` command and/or checking one of these items."""

    command: bool = True
    items: list[str] = Field(default_factory=list)


class Permissions(Strict):
    """Roles allowed to run a command besides the incident owner; an empty list means any channel member."""

    resolve: list[str] = Field(default_factory=list)
    owner: list[str] = Field(default_factory=list)


class Reactions(Strict):
    check: list[str] = Field(default_factory=lambda: ["white_check_mark", "heavy_check_mark", "ballot_box_with_check"])
    skip: list[str] = Field(default_factory=lambda: ["fast_forward"])


class Playbook(Strict):
    id: Slug
    title: str
    description: str = ""
    roles: dict[Slug, Role] = Field(default_factory=dict)
    invite: list[str] = Field(default_factory=list, description="Role ids invited to every new incident channel.")
    escalation: Escalation | None = None
    deadlines: list[Deadline] = Field(default_factory=list)
    resolution: Resolution = Field(default_factory=Resolution)
    permissions: Permissions = Field(default_factory=Permissions)
    reactions: Reactions = Field(default_factory=Reactions)
    stages: list[Stage] = Field(min_length=1)

    def keys(self) -> list[str]:
        """Every item's positional key, in checklist order."""
        return [f"{s}.{i}" for s, stage in enumerate(self.stages, 1) for i in range(1, len(stage.items) + 1)]

    def item(self, key: str) -> Item:
        stage, index = (int(part) for part in key.split("."))
        return self.stages[stage - 1].items[index - 1]

    def item_key(self, ref: str) -> str | None:
        """Resolve an item reference (slug id or "stage.item") to its positional key, or None if unknown."""
        for key in self.keys():
            if key == ref or self.item(key).id == ref:
                return key
        return None
