"""The playbook file reference (docs/playbook-schema.md), generated from the pydantic models.

    python -m sev1bot.playbook.reference > docs/playbook-schema.md

Keys, types, constraints, defaults and ``Field(description=...)`` texts all come from
:mod:`sev1bot.playbook.schema`, so the reference cannot drift from what the loader accepts. Fields without a
``description`` there take one from :data:`NOTES`; :func:`stale_notes` and :func:`undocumented_fields` let the
docs test catch a note for a field that is gone and a new field that nobody described.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sev1bot import durations
from sev1bot.durations import format_duration
from sev1bot.playbook.schema import SLUG_PATTERN, USERNAME_PATTERN, Playbook

COMMAND = "python -m sev1bot.playbook.reference > docs/playbook-schema.md"

# Descriptions for fields the schema leaves undescribed: (model name, field name) -> text.
NOTES: dict[tuple[str, str], str] = {
    ("Playbook", "id"): "Unique name of the playbook; each incident records the id of the playbook it runs.",
    ("Playbook", "title"): "Shown in the channel purpose, e.g. `MME Sev 1 Outages: Acme Corp`.",
    ("Playbook", "description"): "Free text about the playbook, for the people who maintain it.",
    ("Playbook", "roles"): "The people the playbook needs, by role id (e.g. `ceo`). See [Role](#role).",
    ("Playbook", "escalation"): "Pings while an incident stays open; leave it out for none.",
    ("Playbook", "updates"): "How often the customer must hear from the incident.",
    ("Playbook", "deadlines"): "Due dates counted from resolution, each met by checking one item.",
    ("Playbook", "resolution"): "What resolves an incident.",
    ("Playbook", "permissions"): "Who may run the commands that change who is in charge.",
    ("Playbook", "reactions"): "Emoji that check or skip an item when added to its post.",
    ("Playbook", "stages"): "The checklist, in order. Stages and their items are numbered from 1.",
    ("Role", "title"): "How posts name the role, e.g. `CEO`.",
    ("Role", "username"): "Mattermost username (without `@`) of the default holder.",
    ("Stage", "title"): "Shown on the stage's post and on the status board.",
    ("Stage", "items"): "The stage's items, in order.",
    ("Item", "id"): "Optional name, so that deadlines and `resolution.items` can refer to the item.",
    ("Item", "title"): "The first line of the item's post.",
    ("Item", "description"): "Shown under the title.",
    ("Escalation", "after"): "How long after the start the first ping goes.",
    ("Escalation", "repeat_every"): "Interval of the following pings while the incident is open.",
    ("Deadline", "id"): "Unique among the deadlines.",
    ("Deadline", "title"): "Used in reminders and on the status board.",
    ("Deadline", "business_days"): "Due this many business days after resolution, at the same time of day "
    "(weekends and holidays do not count).",
    ("Deadline", "duration"): "Due this long after resolution, in calendar time.",
    ("Resolution", "command"): "Whether `/sev1 resolve` resolves an incident.",
    ("Resolution", "items"): "Checking any of these items (id or `stage.item`) resolves the incident.",
    ("Permissions", "resolve"): "Roles that may resolve and reopen.",
    ("Permissions", "owner"): "Roles that may hand the incident to a new owner.",
    ("Reactions", "check"): "Emoji names, without colons, that check an item.",
    ("Reactions", "skip"): "Emoji names that skip an item (mark it not needed).",
}

# Rules that involve more than one field (the model validators and Playbook.reference_problems).
RULES: dict[str, list[str]] = {
    "Playbook": [
        "Item ids and deadline ids must be unique.",
        "Every role named in `invite`, `escalation.notify` and `permissions` must be defined in `roles`.",
        "Every item named by a deadline or by `resolution.items` must exist.",
        "`resolution.command: false` needs at least one item in `resolution.items`.",
        "An emoji cannot be in both `reactions.check` and `reactions.skip`.",
        "An item with `done_by_bot: leads_invited` needs roles in `invite`.",
    ],
    "Item": ["`description_pending: true` and `description` exclude each other."],
    "Deadline": ["Give exactly one of `business_days` and `duration`."],
}


# The validators PositiveDuration has and Duration lacks: how a "more than 0s" duration is recognised.
_POSITIVE_ONLY = [
    m for m in typing.get_args(durations.PositiveDuration)[1:] if m not in typing.get_args(durations.Duration)
]
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def sections() -> list[tuple[str, type[BaseModel]]]:
    """Every model reachable from :class:`Playbook`, with the YAML path where it first appears."""
    found: dict[type[BaseModel], str] = {Playbook: ""}
    queue: list[type[BaseModel]] = [Playbook]
    while queue:
        model = queue.pop(0)
        base = found[model]
        for name, info in model.model_fields.items():
            for child, suffix in _nested_models(info.annotation):
                if child not in found:
                    found[child] = f"{base}.{name}{suffix}".lstrip(".")
                    queue.append(child)
    return [(path, model) for model, path in found.items()]


def _nested_models(tp: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        yield tp, suffix
    elif origin is list:
        yield from _nested_models(args[0], suffix + "[]")
    elif origin is dict:
        yield from _nested_models(args[1], suffix + ".<id>")
    elif origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in args if origin is not typing.Annotated else args[:1]:
            yield from _nested_models(arg, suffix)


def describe_type(tp: Any, metadata: list[Any] | None = None) -> str:
    """A reader's name for a field type, with its constraints: ``list of role id (at least 1)``."""
    metadata = list(metadata or [])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        extra = [m for a in args[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
        return describe_type(args[0], extra + metadata)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a, metadata) for a in args if a is not type(None))
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    if origin is list:
        return f"list of {describe_type(args[0])}" + _length(metadata)
    if origin is dict:
        return f"mapping of {describe_type(args[0])} to {describe_type(args[1])}"
    return _describe_scalar(tp, metadata)


def _describe_scalar(tp: Any, metadata: list[Any]) -> str:
    if tp is timedelta:
        positive = any(any(m is p for p in _POSITIVE_ONLY) for m in metadata)
        return "[duration](#durations)" + (", more than 0s" if positive else "")
    if tp is bool:
        return "`true` or `false`"
    if tp is int:
        low, high = _constraint(metadata, "ge"), _constraint(metadata, "le")
        bounds = f" from {low} to {high}" if low is not None and high is not None else ""
        return "whole number" + bounds
    if tp is str:
        return _describe_text(metadata)
    if inspect.isclass(tp) and issubclass(tp, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in tp)
    raise TypeError(f"reference: no description for the type {tp!r}; teach describe_type about it")


def _describe_text(metadata: list[Any]) -> str:
    pattern = _constraint(metadata, "pattern")
    if pattern == SLUG_PATTERN:
        return "[id](#ids-and-usernames)"
    if pattern == USERNAME_PATTERN:
        return "[username](#ids-and-usernames)"
    if pattern is not None:
        return f"text matching `{pattern}`"
    return "text" + (", not empty" if _constraint(metadata, "min_length") else "")


def _constraint(metadata: list[Any], name: str) -> Any:
    """The value of constraint ``name`` (``ge``, ``pattern``, ``min_length``...) among a field's metadata."""
    return next((getattr(m, name) for m in metadata if getattr(m, name, None) is not None), None)


def _length(metadata: list[Any]) -> str:
    least = _constraint(metadata, "min_length") or 0
    most = _constraint(metadata, "max_length")
    text = ", not empty" if least == 1 else f", at least {least}" if least else ""
    return text + (f", at most {most}" if most is not None else "")


def _markdown(docstring: str) -> str:
    """A docstring as markdown: ``code`` becomes `code` and :mod:`x` becomes `x`."""
    return _RST_ROLE.sub(r"`\1`", inspect.cleandoc(docstring)).replace("``", "`")


def describe_default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "not set"
    return f"`{_yaml(value)}`" if not isinstance(value, BaseModel) else "each field's default"


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def field_description(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    return info.description or NOTES.get((model.__name__, name), "")


def undocumented_fields() -> list[str]:
    """``Model.field`` for every field with neither a Field description nor a note."""
    return [
        f"{model.__name__}.{name}"
        for _, model in sections()
        for name in model.model_fields
        if not field_description(model, name)
    ]


def stale_notes() -> list[str]:
    """Notes for fields that no longer exist or that now have a Field description of their own."""
    models = {model.__name__: model for _, model in sections()}
    stale = []
    for model_name, name in NOTES:
        model = models.get(model_name)
        if model is None or name not in model.model_fields or model.model_fields[name].description:
            stale.append(f"{model_name}.{name}")
    return stale + [f"{m} (rules)" for m in RULES if m not in models]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _model_section(path: str, model: type[BaseModel]) -> list[str]:
    doc = _markdown(model.__doc__ or "") if model.__doc__ != BaseModel.__doc__ else ""
    where = f"Where: `{path}`" if path else "Where: the top level of the file"
    lines = [f"### {model.__name__}", "", where, ""]
    if doc:
        lines += [doc, ""]
    lines += ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        kind = _cell(describe_type(info.annotation, info.metadata))
        text = _cell(field_description(model, name))
        lines.append(f"| `{name}` | {kind} | {describe_default(info)} | {text} |")
    rules = RULES.get(model.__name__, [])
    if rules:
        lines += ["", "Rules:", "", *(f"- {rule}" for rule in rules)]
    return [*lines, ""]


def render_reference() -> str:
    """The whole markdown reference."""
    durations_doc = _markdown(durations.__doc__ or "")
    lines = [
        "# Playbook file reference",
        "",
        f"<!-- GENERATED from sev1bot.playbook.schema: do not edit; regenerate with `{COMMAND}` -->",
        "",
        "A playbook is one YAML file. Unknown keys are errors, so a typo is reported rather than ignored. "
        "Check files with `sev1bot validate [PATH...]`, which prints every problem as `file:line:column: "
        "message`. Items are numbered `stage.item` from 1 (`2.3` is the third item of stage 2): that is "
        "how responders and deadlines name them, unless the item also has an `id`.",
        "",
        "## Sections",
        "",
    ]
    found = sections()
    lines += [
        f"- [{model.__name__}](#{model.__name__.lower()}): " + (f"`{path}`" if path else "the top level")
        for path, model in found
    ]
    lines.append("")
    for path, model in found:
        lines += _model_section(path, model)
    lines += [
        "## Durations",
        "",
        durations_doc,
        "",
        "## Ids and usernames",
        "",
        f"- An **id** (playbook, role, item and deadline ids) matches `{SLUG_PATTERN}`: lower-case letters, "
        "digits, `-` and `_`, starting with a letter or digit, at most 64 characters.",
        f"- A **username** matches `{USERNAME_PATTERN}`: a Mattermost username, lower-case, without `@`.",
        "- Role holders can be changed per deployment without editing the playbook: "
        "`SEV1BOT_ROLE_<ROLE>=username` (the role id in upper case, `-` written `_`) or a roles file "
        "`roles: {ceo: jane.doe}` named by `SEV1BOT_ROLES_FILE`.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
