"""The log configuration ``sev1bot run`` uses: secrets are masked in messages, tracebacks and stacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sev1bot import logs

SECRET = "known-secret-7c1f0e9a2b"


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.REDACTOR.add(SECRET)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def log_failures() -> None:
    log = logging.getLogger("sev1bot.test")
    try:
        try:
            raise KeyError(f"inner {SECRET}")
        except KeyError as inner:
            raise RuntimeError("server said: Authorization: Bearer abcdefghijklmnop") from inner
    except RuntimeError:
        log.exception("cannot reach the server with %s", SECRET)
    try:
        raise ValueError(f"access_token=qwertyuiopasdf and {SECRET}")
    except ValueError as exc:
        log.warning("a warning with the exception attached", exc_info=exc)
    log.info("where we are (%s)", SECRET, stack_info=True)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_secrets_in_exception_text_and_tracebacks_are_redacted(
    configured: io.StringIO, as_json: bool
) -> None:
    logs.configure("INFO", json=as_json, stream=configured)
    log_failures()
    output = configured.getvalue()
    for secret in (SECRET, "abcdefghijklmnop", "qwertyuiopasdf"):
        assert secret not in output, output
    # The tracebacks are still there, with the exceptions' text around the masked part.
    assert "Traceback (most recent call last)" in output and "log_failures" in output
    assert "inner [redacted]" in output and "Authorization: Bearer [redacted]" in output
    assert "direct cause" in output
    if as_json:
        lines = [json.loads(line) for line in output.splitlines()]
        assert [line["level"] for line in lines] == ["error", "warning", "info"]
        assert "[redacted]" in lines[0]["exception"] and "[redacted]" in lines[1]["exception"]
        assert "stack_info" in lines[2]
