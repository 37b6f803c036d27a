"""Settings of the running bot, read explicitly from the environment (and an optional KEY=VALUE file).

Every variable the bot reads is listed in :data:`ENV_VARS`. :meth:`Settings.from_env` checks them all and
reports every problem in one :class:`ConfigError`, naming the variable and what is wrong, and never echoes a
secret value (tokens, secrets, database URLs).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr

log = logging.getLogger(__name__)

COMMAND_PATH = "/mattermost/command"
ACTION_PATH = "/mattermost/action"
ROLE_PREFIX = "SEV1BOT_ROLE_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

ENV_VARS: dict[str, str] = {
    "MATTERMOST_URL": "required; base URL of the Mattermost server (http or https), e.g. https://chat.example.com",
    "MATTERMOST_TOKEN": "required, secret; access token of the bot account",
    "MATTERMOST_TEAM": "required; name (URL handle) of the team the bot works in",
    "SEV1BOT_DATABASE_URL": "database URL, default sqlite:///sev1bot.db (or postgresql+psycopg://...)",
    "SEV1BOT_LISTEN": "host:port the HTTP endpoint listens on, default 0.0.0.0:8080",
    "SEV1BOT_PUBLIC_URL": "required; base URL Mattermost uses to reach the bot, e.g. http://sev1bot:8080",
    "SEV1BOT_PLAYBOOKS": "file or directory of playbooks, default playbooks/",
    "SEV1BOT_TIMEZONE": "IANA time zone for business days, deadlines and the times people type "
    "(`/sev1 eta 17:30`, `/sev1 since 13:40`), default UTC",
    "SEV1BOT_HOLIDAYS_COUNTRY": "optional country code whose public holidays are not business days, e.g. US",
    "SEV1BOT_HOLIDAYS": "optional extra non-business dates, comma-separated YYYY-MM-DD",
    "SEV1BOT_COMMAND_TOKEN": "optional, secret; token of a /sev1 command made by hand (skips registration)",
    "SEV1BOT_ROLES_FILE": "optional YAML file mapping playbook roles to usernames (overlay)",
    "SEV1BOT_SIGNING_SECRET": "optional, secret; key signing button contexts, default derived from the token",
    "SEV1BOT_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR, default INFO",
    ROLE_PREFIX + "<ROLE>": "optional; usernames for a playbook role, e.g. SEV1BOT_ROLE_CEO=alice",
}

_SECRET_VARS = frozenset({"MATTERMOST_TOKEN", "SEV1BOT_COMMAND_TOKEN", "SEV1BOT_SIGNING_SECRET"})
_KNOWN_PREFIXES = ("SEV1BOT_", "MATTERMOST_")
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]\s]*)):(?P<port>\d{1,5})$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists each problem as one line."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class Settings(BaseModel):
    """Validated settings. Secrets are :class:`SecretStr`, so they never appear in repr or logs."""

    model_config = ConfigDict(frozen=True)

    mattermost_url: str
    mattermost_token: SecretStr
    mattermost_team: str
    public_url: str
    database_url: SecretStr = SecretStr("sqlite:///sev1bot.db")
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    playbooks: Path = Path("playbooks")
    timezone: str = "UTC"
    holidays_country: str | None = None
    holidays: tuple[date, ...] = ()
    command_token: SecretStr | None = None
    roles_file: Path | None = None
    signing_secret_override: SecretStr | None = Field(default=None, repr=False)
    log_level: str = "INFO"
    role_overrides: dict[str, str] = Field(default_factory=dict)

    @property
    def command_url(self) -> str:
        return self.public_url + COMMAND_PATH

    @property
    def action_url(self) -> str:
        return self.public_url + ACTION_PATH

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def signing_secret(self) -> SecretStr:
        """SEV1BOT_SIGNING_SECRET, or a key derived from the token (never the token itself)."""
        if self.signing_secret_override is not None:
            return self.signing_secret_override
        token = self.mattermost_token.get_secret_value().encode()
        return SecretStr(hmac.new(token, b"sev1bot button signing v1", hashlib.sha256).hexdigest())

    @classmethod
    def from_env(cls, env: Mapping[str, str], config_file: str | Path | None = None) -> Settings:
        """Read settings from ``env``; ``config_file`` (KEY=VALUE lines) only fills variables env lacks."""
        problems: list[str] = []
        merged: dict[str, str] = {}
        if config_file is not None:
            merged.update(read_config_file(Path(config_file), problems))
        merged.update(env)
        reader = _Reader(merged, problems)
        values = _read_all(reader)
        for name in sorted(merged):
            if name.startswith(_KNOWN_PREFIXES) and name not in ENV_VARS and not name.startswith(ROLE_PREFIX):
                log.warning("ignoring unknown setting %s (known: %s)", name, ", ".join(ENV_VARS))
        if problems:
            count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
            text = f"configuration has {count}:\n" + "\n".join(f"  - {p}" for p in problems)
            raise ConfigError(text, problems)
        return cls(**values)


def read_config_file(path: Path, problems: list[str]) -> dict[str, str]:
    """Parse KEY=VALUE lines (``#`` comments, blank lines, optional ``export`` and quotes allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"config file {path}: cannot be read ({exc.__class__.__name__})")
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY.match(key):
            problems.append(f"config file {path} line {number}: expected KEY=VALUE")
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not (key in ENV_VARS or key.startswith(ROLE_PREFIX)):
            problems.append(f"config file {path} line {number}: unknown setting {key}")
            continue
        values[key] = value
    return values


class _Reader:
    """Reads one variable at a time, recording problems instead of raising."""

    def __init__(self, env: Mapping[str, str], problems: list[str]) -> None:
        self.env = env
        self.problems = problems

    def raw(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        if value is None or not value.strip():
            return default
        return value.strip()

    def required(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name}: missing ({ENV_VARS[name]})")
        return value

    def check(self, name: str, value: str | None, parse: Callable[[str], Any]) -> Any:
        """Apply ``parse``; a ValueError becomes a problem line (value shown only if not secret)."""
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            shown = "" if name in _SECRET_VARS else " " + repr(re.sub(r"//[^/@]*@", "//***@", value))
            self.problems.append(f"{name}:{shown} {exc}")
            return None


def _read_all(r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["mattermost_url"] = r.check("MATTERMOST_URL", r.required("MATTERMOST_URL"), parse_base_url)
    out["mattermost_token"] = r.check("MATTERMOST_TOKEN", r.required("MATTERMOST_TOKEN"), _secret)
    out["mattermost_team"] = r.check("MATTERMOST_TEAM", r.required("MATTERMOST_TEAM"), _team_name)
    out["public_url"] = r.check("SEV1BOT_PUBLIC_URL", r.required("SEV1BOT_PUBLIC_URL"), parse_base_url)
    database = r.raw("SEV1BOT_DATABASE_URL") or "sqlite:///sev1bot.db"
    problem = _database_url_problem(database)
    if problem:
        r.problems.append(f"SEV1BOT_DATABASE_URL: {problem}")
    out["database_url"] = SecretStr(database)
    listen = r.check("SEV1BOT_LISTEN", r.raw("SEV1BOT_LISTEN", "0.0.0.0:8080"), parse_host_port)
    out["listen_host"], out["listen_port"] = listen if listen else ("", 0)
    playbooks = r.raw("SEV1BOT_PLAYBOOKS")  # the default may be absent: the playbook loader says so
    out["playbooks"] = (
        Path("playbooks") if playbooks is None else r.check("SEV1BOT_PLAYBOOKS", playbooks, _existing_path)
    )
    out["timezone"] = r.check("SEV1BOT_TIMEZONE", r.raw("SEV1BOT_TIMEZONE", "UTC"), _timezone)
    out["holidays_country"] = r.check("SEV1BOT_HOLIDAYS_COUNTRY", r.raw("SEV1BOT_HOLIDAYS_COUNTRY"), _country)
    out["holidays"] = r.check("SEV1BOT_HOLIDAYS", r.raw("SEV1BOT_HOLIDAYS", ""), _dates)
    out["command_token"] = r.check("SEV1BOT_COMMAND_TOKEN", r.raw("SEV1BOT_COMMAND_TOKEN"), _secret)
    out["roles_file"] = r.check("SEV1BOT_ROLES_FILE", r.raw("SEV1BOT_ROLES_FILE"), _existing_path)
    out["signing_secret_override"] = r.check(
        "SEV1BOT_SIGNING_SECRET", r.raw("SEV1BOT_SIGNING_SECRET"), _signing_secret
    )
    out["log_level"] = r.check("SEV1BOT_LOG_LEVEL", r.raw("SEV1BOT_LOG_LEVEL", "INFO"), _log_level)
    out["role_overrides"] = {k: v for k, v in r.env.items() if k.startswith(ROLE_PREFIX)}
    return out


def parse_base_url(value: str) -> str:
    """An http(s) base URL without query or fragment; returned without a trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("has no host name")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be a base URL without credentials, query or fragment")
    return value.rstrip("/")


def parse_host_port(value: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces)."""
    match = _HOST_PORT.match(value)
    if not match or int(match.group("port")) > 65535:
        raise ValueError("is not host:port (e.g. 0.0.0.0:8080, [::]:8080; port 0-65535)")
    host = match.group("v6") or match.group("host") or "0.0.0.0"
    if match.group("v6"):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has an invalid IPv6 address") from None
    return host, int(match.group("port"))


def _secret(value: str) -> SecretStr:
    if any(ch.isspace() for ch in value):
        raise ValueError("contains whitespace (check for a stray quote or line break)")
    return SecretStr(value)


def _signing_secret(value: str) -> SecretStr:
    if len(value) < 16:
        raise ValueError("is too short: use at least 16 random characters")
    return SecretStr(value)


def _team_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
        raise ValueError("is not a team name (its URL handle: lower-case letters, digits, - and _)")
    return value


def _existing_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise ValueError("does not exist")
    return path


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError):
        raise ValueError("is not a known time zone (use an IANA name such as Europe/Paris or UTC)") from None
    return value


def _country(value: str) -> str:
    import holidays

    code = value.upper()
    if code not in holidays.list_supported_countries():
        raise ValueError("is not a country code the holidays package knows (e.g. US, GB, FR, DE)")
    return code


def _dates(value: str) -> tuple[date, ...]:
    out: list[date] = []
    bad: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", item):
                raise ValueError(item)
            out.append(date.fromisoformat(item))
        except ValueError:
            bad.append(item)
    if bad:
        raise ValueError(f"has invalid dates {', '.join(bad)} (write YYYY-MM-DD, comma-separated)")
    return tuple(sorted(set(out)))


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"is not a log level ({', '.join(LOG_LEVELS)})")
    return value.upper()


def _database_url_problem(value: str) -> str | None:
    """Why the URL is unusable, without echoing it (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        return "is not a database URL (e.g. sqlite:///sev1bot.db or postgresql+psycopg://user@host/db)"
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        return "must be a sqlite:// or postgresql:// URL"
    return None
