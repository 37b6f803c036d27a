"""The pure incident core: state, events, effects, and the decisions that connect them. No I/O in here."""

from __future__ import annotations

from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import CoreError, Decision, decide, item_key, start
from sev1bot.core.escalation import ESCALATION, deadline_due, parse_deadline_key
from sev1bot.core.naming import channel_name, with_suffix
from sev1bot.core.text import mention, neutralize, normalize_username, one_line

__all__ = [
    "ESCALATION",
    "BusinessCalendar",
    "CoreError",
    "Decision",
    "channel_name",
    "deadline_due",
    "decide",
    "item_key",
    "mention",
    "neutralize",
    "normalize_username",
    "one_line",
    "parse_deadline_key",
    "start",
    "with_suffix",
]
