"""What a fresh sandbox contains: a team, people, a bot, channels and their tokens.

A seed comes from a YAML or JSON file (``load_seed``) or from Python (``Seed(...)``); ``apply_seed``
creates it in a State. The default seed (seed.yaml beside this module) holds the Sev 1 playbook's role
holders, a few responders and the bot ``sev1bot``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sev1bot.sandbox.models import Channel, Team, User
from sev1bot.sandbox.state import State

DEFAULT_SEED = Path(__file__).with_name("seed.yaml")
_USERNAME = re.compile(r"^[a-z][a-z0-9.\-_]{2,21}$")


class SeedError(ValueError):
    """A seed that cannot be used; the message says which file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedUser(_Strict):
    username: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    token: str = ""  # personal access token; generated when empty
    system_admin: bool = False
    team_admin: bool = False
    deactivated: bool = False  # starts deactivated: its token answers 401 until reactivated

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USERNAME.match(value):
            raise ValueError(
                "must be 3-22 characters: a lowercase letter, then letters, digits, '.', '-' or '_'"
            )
        return value


class SeedBot(SeedUser):
    username: str = "sev1bot"
    description: str = "Runs the Sev 1 playbook"
    team_admin: bool = True  # lets it register its slash command; system_admin stays off, as on a real server


class SeedChannel(_Strict):
    name: str
    display_name: str
    type: str = Field(default="O", pattern="^[OP]$")
    members: list[str] | None = None  # usernames; None means everyone in the team


class SeedTeam(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{0,62}[a-z0-9]$")
    display_name: str


class Seed(_Strict):
    team: SeedTeam
    users: list[SeedUser]
    bot: SeedBot = SeedBot()
    channels: list[SeedChannel] = [
        SeedChannel(name="town-square", display_name="Town Square"),
        SeedChannel(name="off-topic", display_name="Off-Topic"),
    ]

    @model_validator(mode="after")
    def _unique(self) -> Seed:
        people = [*self.users, self.bot]
        names = [p.username for p in people]
        tokens = [p.token for p in people if p.token]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate username: {', '.join(dupes)}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("two people share a token")
        for channel in self.channels:
            strangers = sorted(set(channel.members or []) - set(names))
            if strangers:
                raise ValueError(
                    f"channel {channel.name}: members {', '.join(strangers)} are not seeded users"
                )
        return self


@dataclass
class Seeded:
    """What ``apply_seed`` created: look people up by username."""

    team: Team
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    bot: User | None = None


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for problem in exc.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem["loc"]).lstrip(".")
        lines.append(f"{source}: {where or '(top level)'}: {problem['msg']}")
    return "\n".join(lines)


def parse_seed(data: Any, source: str = "seed") -> Seed:
    try:
        return Seed.model_validate(data)
    except ValidationError as exc:
        raise SeedError(_describe(exc, source)) from None


def load_seed(path: str | Path | None = None) -> Seed:
    """Read a seed from YAML or JSON (by extension; YAML otherwise). None reads the default seed."""
    path = Path(path) if path is not None else DEFAULT_SEED
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return parse_seed(data, str(path))


def apply_seed(state: State, seed: Seed) -> Seeded:
    people = [*seed.users, seed.bot]
    team = state.add_team(Team(name=seed.team.name, display_name=seed.team.display_name))
    seeded = Seeded(team=team)
    for person in people:
        is_bot = person is seed.bot
        user = User(
            username=person.username,
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email or f"{person.username}@sandbox.invalid",
            roles="system_user system_admin" if person.system_admin else "system_user",
            is_bot=is_bot,
            bot_description=seed.bot.description if is_bot else "",
        )
        state.add_user(user)
        state.add_team_member(team.id, user.id, admin=person.team_admin)
        seeded.users[user.username] = user
        seeded.tokens[user.username] = state.add_token(user.id, person.token)
        if person.deactivated:
            state.set_active(user.id, False)
        if is_bot:
            seeded.bot = user
    for spec in seed.channels:
        creator = next(iter(seeded.users.values()))
        channel = state.add_channel(Channel(team.id, spec.type, spec.name, spec.display_name, creator.id))
        for username in spec.members if spec.members is not None else list(seeded.users):
            state.add_channel_member(channel.id, seeded.users[username].id)
    return seeded
