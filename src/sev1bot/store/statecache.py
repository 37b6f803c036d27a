"""The last committed state of each incident, so that loading an unchanged incident costs one query.

Loading rebuilds an incident from its rows, items and whole timeline: milliseconds that grow with every
event, paid twice per reaction (docs/performance.md). Every save bumps the incident's version, whoever
makes it, so a state is good for exactly the version it was committed at: the store reads the version and
uses the cached state only when they match. Callers must remember a state only after its transaction
committed.

A cached state must be what a load would return, not merely equal to it (``==`` ignores dict order and
time zones): :func:`as_loaded` gives it the store's shape, UTC times, items in checklist order, timers by
due time, enum members, which the core's states already have, so that normally costs a scan and no copy.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sev1bot.core.state import (
    CustomerReply,
    Eta,
    IncidentState,
    IncidentStatus,
    ItemState,
    ItemStatus,
    TimelineEntry,
)
from sev1bot.store.incidents import _natural as natural_key

MAX_INCIDENTS = 512


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _loaded_item(item: ItemState) -> ItemState:
    if type(item.status) is ItemStatus and (item.at is None or item.at.tzinfo is UTC):
        return item
    at = None if item.at is None else _utc(item.at)
    return item.model_copy(update={"status": ItemStatus(item.status), "at": at})


def _loaded_clock(state: IncidentState) -> dict[str, Any]:
    """The customer clock's fields that need UTC times to look loaded (usually none)."""
    update: dict[str, Any] = {}
    if state.outage_started_at is not None and state.outage_started_at.tzinfo is not UTC:
        update["outage_started_at"] = _utc(state.outage_started_at)
    if any(r.at.tzinfo is not UTC for r in state.customer_replies):
        update["customer_replies"] = tuple(
            CustomerReply(at=_utc(r.at), by=r.by, item=r.item) for r in state.customer_replies
        )
    if any(e.given_at.tzinfo is not UTC or e.eta.tzinfo is not UTC for e in state.etas):
        update["etas"] = tuple(Eta(given_at=_utc(e.given_at), by=e.by, eta=_utc(e.eta)) for e in state.etas)
    return update


def as_loaded(state: IncidentState, known: int = 0) -> IncidentState:
    """``state`` exactly as ``load_incidents`` returns it; ``state`` itself when it already is.
    The first ``known`` timeline entries are known to be in shape already (a save only appends)."""
    update: dict[str, Any] = _loaded_clock(state)
    if state.started_at.tzinfo is not UTC:
        update["started_at"] = _utc(state.started_at)
    if state.resolved_at is not None and state.resolved_at.tzinfo is not UTC:
        update["resolved_at"] = _utc(state.resolved_at)
    if type(state.status) is not IncidentStatus:
        update["status"] = IncidentStatus(state.status)
    order = sorted(state.items, key=natural_key)
    items = {key: _loaded_item(state.items[key]) for key in order}
    if order != list(state.items) or any(items[k] is not state.items[k] for k in order):
        update["items"] = items
    timers = dict(sorted(((k, _utc(v)) for k, v in state.timers.items()), key=lambda kv: (kv[1], kv[0])))
    if list(timers.items()) != list(state.timers.items()) or any(
        v.tzinfo is not UTC for v in state.timers.values()
    ):
        update["timers"] = timers
    if any(state.timeline[n].at.tzinfo is not UTC for n in range(known, len(state.timeline))):
        update["timeline"] = tuple(
            e if e.at.tzinfo is UTC else TimelineEntry(at=_utc(e.at), actor=e.actor, kind=e.kind, text=e.text)
            for e in state.timeline
        )
    return state.model_copy(update=update) if update else state


class StateCache:
    """incident id -> (state, version), as last committed; bounded, safe to share between threads."""

    def __init__(self, limit: int = MAX_INCIDENTS) -> None:
        self._limit = limit
        self._states: dict[str, tuple[IncidentState, int]] = {}
        self._lock = threading.Lock()

    def get(self, incident_id: str) -> tuple[IncidentState, int] | None:
        return self._states.get(incident_id)

    def remember(self, state: IncidentState, version: int) -> None:
        """Keep ``state`` as committed at ``version`` (call only after the commit succeeded)."""
        before = self._states.get(state.id)
        shared = 0
        if before is not None:  # the entries this state shares with the cached one were checked then
            n = len(before[0].timeline)
            if n <= len(state.timeline) and (n == 0 or state.timeline[n - 1] is before[0].timeline[n - 1]):
                shared = n
        loaded = as_loaded(state, shared)
        with self._lock:
            known = self._states.get(state.id)
            if known is not None and known[1] > version:
                return  # a later commit got here first
            if known is None and len(self._states) >= self._limit:
                self._states.clear()
            self._states[state.id] = (loaded, version)

    def forget(self, incident_id: str) -> None:
        with self._lock:
            self._states.pop(incident_id, None)

    def __len__(self) -> int:
        return len(self._states)
