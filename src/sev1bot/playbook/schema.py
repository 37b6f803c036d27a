"""The playbook file format: pydantic v2 models for a playbook written in YAML.

Items are addressed by position, ``"<stage>.<item>"`` counted from 1 (``"2.3"``), which is what responders
type. An item may also carry a slug ``id`` so that deadlines and resolution rules can name it; references
accept either form and are resolved to the positional key by :meth:`Playbook.item_key`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sev1bot.durations import Duration, PositiveDuration

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
USERNAME_PATTERN = r"^[a-z0-9.\-_]{1,64}$"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
# A Mattermost channel name (the URL's last part, not the display name).
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]

Loc = tuple[str | int, ...]
"""Where a value sits in a playbook, as pydantic reports it: ``("stages", 1, "items", 0, "id")``."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(Strict):
    """A person the playbook needs, e.g. the CEO.

    ``username`` is the default holder, overridable per deployment (see :mod:`sev1bot.playbook.overrides`).
    """

    title: str = Field(min_length=1)
    username: str = Field(pattern=USERNAME_PATTERN)


class BotTask(StrEnum):
    """Something the bot does by itself when an incident starts; an item that names it is checked by the bot
    once it is done."""

    CHANNEL_CREATED = "channel_created"  # the incident channel exists (and the playbook runs in it)
    LEADS_INVITED = "leads_invited"  # everyone in the playbook's ``invite`` list was added to the channel


class Item(Strict):
    id: Slug | None = None
    title: str = Field(min_length=1)
    description: str | None = Field(default=None, min_length=1)
    description_pending: bool = Field(
        default=False, description='True where the source still says "Includes XXX": details to be written.'
    )
    customer_update: bool = Field(
        default=False,
        description="A reply to the customer: checking it records a reply (who, when) that restarts the "
        "`updates.every` clock, and past the escalation threshold the CEO rule applies and each reply is "
        "sent to the escalation contacts by direct message.",
    )
    done_by_bot: BotTask | None = Field(
        default=None,
        description="The bot checks this item itself (as @sev1bot) once it has done this: `channel_created` "
        "when the incident channel exists, `leads_invited` when everyone in `invite` was added to it (left "
        "open for a person if anyone could not be).",
    )

    @model_validator(mode="after")
    def _pending_means_no_description(self) -> Item:
        if self.description_pending and self.description is not None:
            raise ValueError(
                "an item with description_pending: true has no description yet; remove one of the two"
            )
        return self


class Stage(Strict):
    title: str = Field(min_length=1)
    items: list[Item] = Field(min_length=1)


class Escalation(Strict):
    """Who is pinged, and when, while an incident stays open."""

    after: Duration
    repeat_every: PositiveDuration
    notify: list[str] = Field(min_length=1, description="Role ids to mention and message.")


class Updates(Strict):
    """How often the people outside the incident hear from it."""

    every: PositiveDuration | None = Field(
        default=None,
        description="Drives two reminders to the owner, each a mention in the incident channel: when no "
        "status update (`/sev1 update`) has been posted for this long (the start counts as the first; after "
        "two unanswered reminders the invited leads are mentioned too), and when no reply to the customer "
        "(a checked `customer_update` item) has gone out for this long. Leave it out for no reminders.",
    )
    broadcast: list[ChannelName] = Field(
        default_factory=list,
        description="Channels of the bot's team, by name (e.g. `sev1-status`), that get one short post "
        "linking to the incident channel at the start (edited as the incident moves: status, owner, "
        "progress, resolved), at every status update, at each CEO escalation and at the resolution. The "
        "bot joins a public one itself; add it to a private one. A name it cannot find is reported in the "
        "incident channel at the start.",
    )


class Deadline(Strict):
    """A due date counted from resolution: either business days or a calendar duration."""

    id: Slug
    title: str = Field(min_length=1)
    item: str = Field(description='The checklist item that meets the deadline: its id or "stage.item".')
    business_days: int | None = Field(default=None, ge=0, le=60)
    duration: PositiveDuration | None = None
    remind_before: Duration = Field(
        default=timedelta(hours=2), description="When the 'due soon' reminder goes."
    )

    @model_validator(mode="after")
    def _one_kind_of_due_date(self) -> Deadline:
        if (self.business_days is None) == (self.duration is None):
            if self.duration is None:
                raise ValueError("give when it is due: business_days or duration")
            raise ValueError("give either business_days or duration, not both")
        return self


class Resolution(Strict):
    """What resolves an incident: the ``resolve`` command and/or checking one of these items."""

    command: bool = True
    items: list[str] = Field(default_factory=list)


class Permissions(Strict):
    """Roles allowed to run a command besides the incident owner; an empty list means any channel member."""

    resolve: list[str] = Field(default_factory=list)
    owner: list[str] = Field(default_factory=list)


class Reactions(Strict):
    check: list[str] = Field(
        default_factory=lambda: ["white_check_mark", "heavy_check_mark", "ballot_box_with_check"]
    )
    skip: list[str] = Field(default_factory=lambda: ["fast_forward"])


class Playbook(Strict):
    id: Slug
    title: str = Field(min_length=1)
    description: str = ""
    roles: dict[Slug, Role] = Field(default_factory=dict)
    invite: list[str] = Field(
        default_factory=list, description="Role ids invited to every new incident channel."
    )
    escalation: Escalation | None = None
    updates: Updates = Field(default_factory=Updates)
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
        # Every event resolves a few references (deadlines, resolution items): a scan of the checklist each
        # time showed in profiles (docs/performance.md). Answers are kept for the ``stages`` they came from
        # (a model_copy shares the cache but may have other stages).
        cache = self.item_ref_cache
        if cache[0] is not self.stages:
            cache[:] = [self.stages, {}]
        known: dict[str, str | None] = cache[1]
        if ref not in known:
            known[ref] = next((key for key in self.keys() if key == ref or self.item(key).id == ref), None)
        return known[ref]

    @cached_property
    def item_ref_cache(self) -> list[Any]:
        """[stages, {ref: key}] for item_key; not a field (equality and dumps ignore it)."""
        return [None, {}]

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Checks across fields that a single field cannot make: unknown or duplicate names.

        The loader reports these with file positions; models built in code can call this directly.
        """
        return [
            *self._item_id_problems(),
            *self._deadline_problems(),
            *self._resolution_problems(),
            *self._role_problems(),
            *self._reaction_problems(),
            *self._bot_task_problems(),
        ]

    def _item_id_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        seen_items: dict[str, str] = {}
        for key in self.keys():
            item_id = self.item(key).id
            stage, index = (int(part) - 1 for part in key.split("."))
            if item_id is None:
                continue
            if item_id in seen_items:
                loc: Loc = ("stages", stage, "items", index, "id")
                problems.append(
                    (loc, f"duplicate item id {item_id!r} (already used by item {seen_items[item_id]})")
                )
            else:
                seen_items[item_id] = key
        return problems

    def _deadline_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        seen_deadlines: set[str] = set()
        for d, deadline in enumerate(self.deadlines):
            if deadline.id in seen_deadlines:
                problems.append((("deadlines", d, "id"), f"duplicate deadline id {deadline.id!r}"))
            seen_deadlines.add(deadline.id)
            if self.item_key(deadline.item) is None:
                problems.append((("deadlines", d, "item"), self._unknown_item(deadline.item)))
        return problems

    def _resolution_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = [
            (("resolution", "items", r), self._unknown_item(ref))
            for r, ref in enumerate(self.resolution.items)
            if self.item_key(ref) is None
        ]
        if not self.resolution.command and not self.resolution.items:
            problems.append(
                (("resolution",), "nothing could resolve an incident: set command: true or list items")
            )
        return problems

    def _role_problems(self) -> list[tuple[Loc, str]]:
        role_lists: list[tuple[Loc, list[str]]] = [
            (("invite",), self.invite),
            (("permissions", "resolve"), self.permissions.resolve),
            (("permissions", "owner"), self.permissions.owner),
        ]
        if self.escalation is not None:
            role_lists.append((("escalation", "notify"), self.escalation.notify))
        return [
            ((*where, n), self._unknown_role(name))
            for where, names in role_lists
            for n, name in enumerate(names)
            if name not in self.roles
        ]

    def _reaction_problems(self) -> list[tuple[Loc, str]]:
        checks = set(self.reactions.check)
        return [
            (("reactions", "skip", n), f"emoji {emoji!r} cannot both check and skip an item")
            for n, emoji in enumerate(self.reactions.skip)
            if emoji in checks
        ]

    def _bot_task_problems(self) -> list[tuple[Loc, str]]:
        if self.invite:
            return []
        return [
            (
                ("stages", int(key.split(".")[0]) - 1, "items", int(key.split(".")[1]) - 1, "done_by_bot"),
                "leads_invited, but the playbook invites nobody: list the roles to invite in `invite`",
            )
            for key in self.keys()
            if self.item(key).done_by_bot is BotTask.LEADS_INVITED
        ]

    def _unknown_item(self, ref: str) -> str:
        return f"unknown item {ref!r}: name an item by its id or as stage.item, e.g. 2.3"

    def _unknown_role(self, name: str) -> str:
        known = f"roles: {', '.join(self.roles)}" if self.roles else "no roles are defined"
        return f"unknown role {name!r} ({known})"
