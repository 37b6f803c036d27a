"""Settings.from_env: every variable, all problems in one error, secrets never shown."""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path

import pytest

from sev1bot.config import ENV_VARS, ConfigError, Settings, parse_host_port
from sev1bot.mattermost.ws import websocket_url
from sev1bot.store import Store

TOKEN = "s3cr3t-token-abcdefghijklmnop"
BASE = {
    "MATTERMOST_URL": "https://chat.example.com/",
    "MATTERMOST_TOKEN": TOKEN,
    "MATTERMOST_TEAM": "ops",
    "SEV1BOT_PUBLIC_URL": "http://sev1bot:8080",
}


def problems_of(env: dict[str, str], config_file: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, config_file)
    return caught.value.problems


def test_defaults() -> None:
    s = Settings.from_env(BASE)
    assert s.mattermost_url == "https://chat.example.com"
    assert str(websocket_url(s.mattermost_url)) == "wss://chat.example.com/api/v4/websocket"
    assert s.mattermost_token.get_secret_value() == TOKEN
    assert s.mattermost_team == "ops"
    assert s.public_url == "http://sev1bot:8080"
    assert s.command_url == "http://sev1bot:8080/mattermost/command"
    assert s.action_url == "http://sev1bot:8080/mattermost/action"
    assert s.database_url.get_secret_value() == "sqlite:///sev1bot.db"
    assert (s.listen_host, s.listen_port) == ("0.0.0.0", 8080)
    assert s.playbooks == Path("playbooks")
    assert s.timezone == "UTC" and s.tz.key == "UTC"
    assert s.holidays_country is None and s.holidays == ()
    assert s.command_token is None and s.roles_file is None
    assert s.log_level == "INFO"
    assert s.role_overrides == {}


def test_every_variable(tmp_path: Path) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text("ceo: [alice]\n")
    env = {
        **BASE,
        "MATTERMOST_URL": "http://mm.internal:8065/chat",
        "SEV1BOT_DATABASE_URL": "postgresql+psycopg://bot:pw@db:5432/sev1bot",
        "SEV1BOT_LISTEN": "[::1]:9000",
        "SEV1BOT_PLAYBOOKS": str(tmp_path),
        "SEV1BOT_TIMEZONE": "Europe/Paris",
        "SEV1BOT_HOLIDAYS_COUNTRY": "us",
        "SEV1BOT_HOLIDAYS": "2026-12-24, 2026-12-31,2026-12-24",
        "SEV1BOT_COMMAND_TOKEN": "handmade-command-token",
        "SEV1BOT_ROLES_FILE": str(roles),
        "SEV1BOT_SIGNING_SECRET": "0123456789abcdef0123",
        "SEV1BOT_LOG_LEVEL": "debug",
        "SEV1BOT_ROLE_CEO": "alice",
        "SEV1BOT_ROLE_COMMS_LEAD": "bob,carol",
        "HOME": "/ignored",
    }
    s = Settings.from_env(env)
    assert str(websocket_url(s.mattermost_url)) == "ws://mm.internal:8065/chat/api/v4/websocket"
    with Store(s.database_url.get_secret_value()) as store:  # what the bot logs of it
        assert store.url == "postgresql+psycopg://bot:***@db:5432/sev1bot"
    assert (s.listen_host, s.listen_port) == ("::1", 9000)
    assert s.playbooks == tmp_path
    assert s.tz.key == "Europe/Paris"
    assert s.holidays_country == "US"
    assert s.holidays == (date(2026, 12, 24), date(2026, 12, 31))
    assert s.command_token is not None and s.command_token.get_secret_value() == "handmade-command-token"
    assert s.roles_file == roles
    assert s.signing_secret.get_secret_value() == "0123456789abcdef0123"
    assert s.log_level == "DEBUG"
    assert s.role_overrides == {"SEV1BOT_ROLE_CEO": "alice", "SEV1BOT_ROLE_COMMS_LEAD": "bob,carol"}


def test_env_vars_documents_everything_read() -> None:
    source = (Path(__file__).parents[1] / "src/sev1bot/config.py").read_text()
    read = set(re.findall(r'"((?:MATTERMOST|SEV1BOT)_[A-Z_]+)"', source)) - {"SEV1BOT_ROLE_"}
    assert read <= set(ENV_VARS), read - set(ENV_VARS)
    assert "SEV1BOT_ROLE_<ROLE>" in ENV_VARS
    assert all(description.strip() for description in ENV_VARS.values())


def test_all_problems_reported_at_once() -> None:
    env = {
        "MATTERMOST_URL": "ftp://chat.example.com",
        "MATTERMOST_TEAM": "Ops Team",
        "SEV1BOT_LISTEN": "0.0.0.0:99999",
        "SEV1BOT_TIMEZONE": "Mars/Olympus",
        "SEV1BOT_HOLIDAYS_COUNTRY": "XX",
        "SEV1BOT_HOLIDAYS": "2026-02-30,tomorrow,2026-01-01",
        "SEV1BOT_LOG_LEVEL": "LOUD",
        "SEV1BOT_DATABASE_URL": "mysql://root:hunter2@db/x",
        "SEV1BOT_PLAYBOOKS": "/no/such/dir",
        "SEV1BOT_ROLES_FILE": "/no/such/roles.yaml",
        "SEV1BOT_SIGNING_SECRET": "tinysecret9",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    problems = caught.value.problems
    by_var = {p.split(":", 1)[0]: p for p in problems}
    assert set(by_var) == {
        "MATTERMOST_URL",
        "MATTERMOST_TOKEN",
        "MATTERMOST_TEAM",
        "SEV1BOT_PUBLIC_URL",
        "SEV1BOT_LISTEN",
        "SEV1BOT_TIMEZONE",
        "SEV1BOT_HOLIDAYS_COUNTRY",
        "SEV1BOT_HOLIDAYS",
        "SEV1BOT_LOG_LEVEL",
        "SEV1BOT_DATABASE_URL",
        "SEV1BOT_PLAYBOOKS",
        "SEV1BOT_ROLES_FILE",
        "SEV1BOT_SIGNING_SECRET",
    }
    assert "not an http:// or https:// URL" in by_var["MATTERMOST_URL"]
    assert "missing" in by_var["MATTERMOST_TOKEN"] and "missing" in by_var["SEV1BOT_PUBLIC_URL"]
    assert "host:port" in by_var["SEV1BOT_LISTEN"]
    assert "time zone" in by_var["SEV1BOT_TIMEZONE"]
    assert "'XX'" in by_var["SEV1BOT_HOLIDAYS_COUNTRY"]
    assert "2026-02-30" in by_var["SEV1BOT_HOLIDAYS"] and "tomorrow" in by_var["SEV1BOT_HOLIDAYS"]
    assert "does not exist" in by_var["SEV1BOT_PLAYBOOKS"]
    message = str(caught.value)
    assert message.startswith("configuration has 13 problems:")
    assert all(p in message for p in problems)
    # Secrets (and database URLs, which may hold passwords) are never echoed.
    assert "hunter2" not in message and "tinysecret9" not in message


def test_secret_values_never_shown() -> None:
    env = {**BASE, "MATTERMOST_TOKEN": "bad token with spaces", "SEV1BOT_COMMAND_TOKEN": "also bad"}
    problems = problems_of(env)
    assert len(problems) == 2
    assert all("whitespace" in p for p in problems)
    assert not any("bad token" in p or "also bad" in p for p in problems)

    s = Settings.from_env(
        {**BASE, "SEV1BOT_COMMAND_TOKEN": "cmdtoken123", "SEV1BOT_SIGNING_SECRET": "x" * 20}
    )
    for text in (repr(s), str(s), str(s.model_dump())):
        assert TOKEN not in text and "cmdtoken123" not in text and "x" * 20 not in text


def test_signing_secret_derived_from_token_but_not_the_token() -> None:
    one = Settings.from_env(BASE).signing_secret.get_secret_value()
    again = Settings.from_env(BASE).signing_secret.get_secret_value()
    other = Settings.from_env({**BASE, "MATTERMOST_TOKEN": "another-token"}).signing_secret.get_secret_value()
    assert one == again and one != other
    assert TOKEN not in one and len(one) == 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        (":9000", ("0.0.0.0", 9000)),
        ("localhost:80", ("localhost", 80)),
        ("[::]:8080", ("::", 8080)),
    ],
)
def test_listen_good(value: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(value) == expected


@pytest.mark.parametrize("value", ["8080", "host:", "host:65536", "a:b:8080", "[zz]:80", "host:port"])
def test_listen_bad(value: str) -> None:
    problems = problems_of({**BASE, "SEV1BOT_LISTEN": value})
    assert len(problems) == 1 and problems[0].startswith("SEV1BOT_LISTEN: ")


@pytest.mark.parametrize(
    "value",
    ["chat.example.com", "https://", "https://u:p@chat.example.com", "https://x?y=1", "http://h:99999"],
)
def test_bad_urls(value: str) -> None:
    problems = problems_of({**BASE, "MATTERMOST_URL": value, "SEV1BOT_PUBLIC_URL": value})
    assert [p.split(":", 1)[0] for p in problems] == ["MATTERMOST_URL", "SEV1BOT_PUBLIC_URL"]
    text = " ".join(problems)
    assert "u:p@" not in text  # credentials in a URL are masked, the rest is shown
    if "@" in value:
        assert "***@" in text


def test_blank_values_count_as_unset() -> None:
    # docker compose passes ${VAR:-} as an empty string
    s = Settings.from_env({**BASE, "SEV1BOT_HOLIDAYS_COUNTRY": "", "SEV1BOT_COMMAND_TOKEN": "  "})
    assert s.holidays_country is None and s.command_token is None
    assert problems_of({**BASE, "MATTERMOST_TOKEN": ""}) == [
        f"MATTERMOST_TOKEN: missing ({ENV_VARS['MATTERMOST_TOKEN']})"
    ]


def test_config_file_fills_gaps_env_wins(tmp_path: Path) -> None:
    path = tmp_path / "sev1bot.env"
    path.write_text(
        "# settings\n"
        "\n"
        "export MATTERMOST_URL=https://from-file.example.com\n"
        'MATTERMOST_TEAM="ops"\n'
        "SEV1BOT_TIMEZONE = 'America/New_York'\n"
        "SEV1BOT_ROLE_CEO=alice\n"
    )
    env = {k: v for k, v in BASE.items() if k != "MATTERMOST_TEAM"}
    env["MATTERMOST_URL"] = "https://from-env.example.com"
    s = Settings.from_env(env, config_file=path)
    assert s.mattermost_url == "https://from-env.example.com"
    assert s.mattermost_team == "ops"
    assert s.timezone == "America/New_York"
    assert s.role_overrides == {"SEV1BOT_ROLE_CEO": "alice"}


def test_config_file_problems_join_the_others(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("MATTERMOST_TEAM=ops\nthis is not a setting\nSEV1BOT_TIMEZON=UTC\n")
    problems = problems_of({}, config_file=path)
    assert f"config file {path} line 2: expected KEY=VALUE" in problems
    assert f"config file {path} line 3: unknown setting SEV1BOT_TIMEZON" in problems
    assert sum(p.endswith(")") and "missing" in p for p in problems) == 3  # URL, token, public URL
    assert problems_of({**BASE}, config_file=tmp_path / "absent.env") == [
        f"config file {tmp_path / 'absent.env'}: cannot be read (FileNotFoundError)"
    ]


def test_unknown_env_setting_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sev1bot.config"):
        Settings.from_env({**BASE, "SEV1BOT_TIMEZON": "UTC", "SEV1BOT_ROLE_CEO": "alice"})
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "SEV1BOT_TIMEZON" in warnings[0]
    assert TOKEN not in caplog.text
