"""Per-deployment role holders: who is "the CEO" here, without editing the playbook.

Two sources, the later winning: an overlay YAML file ``roles: {ceo: jane.doe}``, then environment variables
``SEV1BOT_ROLE_<ROLE>=username`` (the role id upper-cased, ``-`` written ``_``: ``SEV1BOT_ROLE_CSM_LEAD``).
An override that names no role is an error rather than ignored: a typo would otherwise page the wrong person.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from sev1bot.playbook.loader import validate_source
from sev1bot.playbook.problems import PlaybookError, Problem
from sev1bot.playbook.schema import USERNAME_PATTERN, Playbook, Role, Slug, Strict
from sev1bot.playbook.yamlsource import read_text, read_yaml

log = logging.getLogger(__name__)

ENV_PREFIX = "SEV1BOT_ROLE_"
ENVIRONMENT = "environment"  # the "file" that problems with environment variables name

PathArg = str | os.PathLike[str]


class RoleOverlay(Strict):
    """The overlay file: role id -> Mattermost username."""

    roles: dict[Slug, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class _Override:
    name: str  # the role id (overlay) or the variable name (environment)
    username: str
    at: Problem  # where problems with this override point; its message is unused

    @property
    def from_env(self) -> bool:
        return self.at.file == ENVIRONMENT

    @property
    def label(self) -> str:
        return self.name if self.from_env else f"roles.{self.name}"

    def matches(self, role_id: str) -> bool:
        return self.name == (env_name(role_id) if self.from_env else role_id)

    def problem(self, message: str) -> Problem:
        return Problem(self.at.file, self.at.line, self.at.column, f"{self.label}: {message}")


def env_name(role_id: str) -> str:
    """The variable that overrides a role: ``csm_lead`` -> ``SEV1BOT_ROLE_CSM_LEAD``."""
    return ENV_PREFIX + role_id.upper().replace("-", "_")


def apply_role_overrides(
    playbook: Playbook, env: Mapping[str, str], overlay_path: PathArg | None = None
) -> Playbook:
    """A copy of ``playbook`` with role usernames replaced; PlaybookError for unknown roles or bad names."""
    return apply_role_overrides_all({playbook.id: playbook}, env, overlay_path)[playbook.id]


def apply_role_overrides_all(
    playbooks: Mapping[str, Playbook], env: Mapping[str, str], overlay_path: PathArg | None = None
) -> dict[str, Playbook]:
    """Apply one set of overrides to several playbooks; each override must name a role of at least one."""
    overrides = [*_read_overlay(overlay_path), *_from_env(env)]
    problems = [problem for override in overrides if (problem := _check(override, playbooks))]
    if problems:
        raise PlaybookError(problems)
    result: dict[str, Playbook] = {}
    for playbook_id, playbook in playbooks.items():
        roles = dict(playbook.roles)
        for override in overrides:
            for role_id in [role_id for role_id in roles if override.matches(role_id)]:
                roles[role_id] = Role(title=roles[role_id].title, username=override.username)
                source = override.name if override.from_env else override.at.file
                log.info("playbook %s: role %s is %s (%s)", playbook_id, role_id, override.username, source)
        result[playbook_id] = playbook.model_copy(update={"roles": roles})
    return result


def _check(override: _Override, playbooks: Mapping[str, Playbook]) -> Problem | None:
    if not re.fullmatch(USERNAME_PATTERN, override.username):
        return override.problem(
            f"{override.username!r} is not a valid Mattermost username: "
            "use 1-64 lower-case letters, digits, '.', '-' and '_'"
        )
    roles = sorted({role_id for playbook in playbooks.values() for role_id in playbook.roles})
    matching = [role_id for role_id in roles if override.matches(role_id)]
    if len(matching) > 1:
        return override.problem(f"matches several roles ({', '.join(matching)}); rename one of them")
    if matching:
        return None
    which = ", ".join(playbooks) or "none loaded"
    known = ", ".join(env_name(role_id) if override.from_env else role_id for role_id in roles) or "none"
    return override.problem(f"no such role in the playbooks ({which}); known: {known}")


def _from_env(env: Mapping[str, str]) -> list[_Override]:
    return [
        _Override(name, value.strip().removeprefix("@"), Problem(ENVIRONMENT, 0, 0, ""))
        for name, value in sorted(env.items())
        if name.startswith(ENV_PREFIX)
    ]


def _read_overlay(path: PathArg | None) -> list[_Override]:
    if path is None:
        return []
    file = os.fspath(path)
    source = read_yaml(read_text(Path(file), file), file, "a roles overlay (roles: {role: username})")
    overlay = validate_source(source, RoleOverlay)
    overrides = []
    for role_id, username in overlay.roles.items():
        at = source.problem(source.locate(("roles", role_id)), "")
        overrides.append(_Override(role_id, username.strip().removeprefix("@"), at))
    return overrides
