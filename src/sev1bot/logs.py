"""Logging for every command: text for people, JSON lines with ``--log-json``; secrets redacted either way.

The standard library's logging stays the API (one logger per module, %-style arguments); structlog only
formats. Redaction works on the text of every field after formatting (the message, the traceback with
each chained exception's text, the stack), before the JSON or console renderer, so a token that slips into
any message or exception is masked in either output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_TOKENISH = re.compile(
    r"(?i)(authorization:\s*(?:bearer|token)\s+|token[=:\s\"']+|access_token=)([A-Za-z0-9._\-]{8,})"
)
REDACTED = "[redacted]"


class Redactor(logging.Filter):
    """Masks known secrets and anything shaped like a bearer token in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets = sorted([*self.secrets, secret], key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKENISH.sub(lambda m: m.group(1) + REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the message and stack; :meth:`processor` scrubs the traceback once it is text."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        record.msg, record.args = self.scrub(message), None
        return True

    def processor(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        """structlog processor: scrub every string field (``exception`` and ``stack`` included)."""
        for key, value in event_dict.items():
            if isinstance(value, str):
                event_dict[key] = self.scrub(value)
        return event_dict


REDACTOR = Redactor()


def configure(level: str = "INFO", json: bool = False, stream: object = None) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            renderer,
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The driver logs every non-2xx answer (404 lookups included) at ERROR; our adapter reports what matters.
    # Its client module pins "mattermostautodriver.websocket" to INFO itself, so that logger is set too.
    for name in ("mattermostautodriver", "mattermostautodriver.websocket"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per HTTP request otherwise
