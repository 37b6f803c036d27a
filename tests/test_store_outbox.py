"""The outbox: effects commit with the state that decided them and stay until delivered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

import pytest
from sqlalchemy import insert, select

from sev1bot.core import effects as fx
from sev1bot.core.state import IncidentState
from sev1bot.playbook.schema import Playbook
from sev1bot.store import IncidentNotFound, Store
from sev1bot.store.outbox import Delivered, OutboxEntry
from sev1bot.store.tables import outbox
from store_peek import version
from store_samples import T0, entry, incident, playbook

EVERY_EFFECT: tuple[fx.Effect, ...] = (
    fx.CreateChannel(name="sev1-acme-1", display_name="Sev 1 Acme", header="h", purpose="p"),
    fx.SetHeader(header="new header"),
    fx.Invite(usernames=("alice", "ceo"), task="leads_invited"),
    fx.Post(message="board", ref=fx.StatusBoard(), pin=True),
    fx.Post(message="item", ref=fx.ItemPost("2.1"), thread=fx.StageRoot(2), dedupe_key="escalation:1"),
    fx.EditPost(ref=fx.StatusBoard(), message="board v2"),
    fx.DirectMessage(username="ceo", message="still open", dedupe_key="dm:1"),
    fx.DirectMessage("bob", f"yours: {fx.post_link('2.1')}", "assigned:3:bob", links=(fx.ItemPost("2.1"),)),
    fx.Schedule(key="escalation", at=T0 + timedelta(minutes=90)),
    fx.Cancel(key="escalation"),
)


@dataclass(frozen=True)
class Decision:
    state: IncidentState
    effects: tuple[fx.Effect, ...]


def pending(store: Store, incident_id: str, limit: int = 50) -> list[OutboxEntry]:
    return store.outbox_batch(incident_id, limit).entries


def done(store: Store, *entry_ids: int) -> None:
    store.delivered([Delivered("inc-1", entry_ids)])


def test_effects_come_back_in_order_until_done(store: Store) -> None:
    store.create_incident(incident(1), playbook(), EVERY_EFFECT)
    store.create_incident(incident(2), playbook(), (fx.SetHeader("two"),))
    store.create_incident(incident(3), playbook())
    assert store.outbox_incidents() == ["inc-1", "inc-2"]
    queued = pending(store, "inc-1")
    assert tuple(e.effect for e in queued) == EVERY_EFFECT
    assert all(e.incident_id == "inc-1" and e.created_at.tzinfo is UTC for e in queued)
    ids = [e.id for e in queued]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.id for e in pending(store, "inc-1", limit=3)] == ids[:3]

    done(store, ids[0])
    done(store, ids[0])  # idempotent: a retried acknowledgement is harmless
    assert [e.id for e in pending(store, "inc-1")] == ids[1:]
    for entry_id in ids[1:]:
        done(store, entry_id)
    assert pending(store, "inc-1") == []
    assert store.outbox_incidents() == ["inc-2"]


def test_a_batch_knows_the_posts_its_direct_messages_link_to(store: Store) -> None:
    dm = fx.DirectMessage("bob", f"see {fx.post_link('the board')}", links=(fx.StatusBoard(),))
    store.create_incident(incident(1), playbook(), (dm,))
    store.delivered([Delivered("inc-1", post=(fx.StatusBoard(), "post-board"))])
    assert store.outbox_batch("inc-1").posts == {fx.StatusBoard(): "post-board"}


def test_apply_commits_state_and_effects_together(store: Store) -> None:
    store.create_incident(incident(), playbook("Sev 1 snapshot"))
    seen: list[Playbook] = []

    def step(state: IncidentState, snapshot: Playbook) -> Decision:
        seen.append(snapshot)
        new = state.model_copy(update={"timeline": (*state.timeline, entry("update"))})
        return Decision(new, (fx.Post(message="update"), fx.EditPost(fx.StatusBoard(), "board")))

    decision = store.apply("inc-1", step)
    assert seen[0].title == "Sev 1 snapshot"
    assert (store.load("inc-1"), version(store, "inc-1")) == (decision.state, 2)
    assert [e.effect for e in pending(store, "inc-1")] == list(decision.effects)


def test_apply_that_raises_writes_neither_state_nor_effects(store: Store) -> None:
    store.create_incident(incident(), playbook())

    def refuse(state: IncidentState, _: Playbook) -> Decision:
        raise PermissionError("only the owner may resolve")

    with pytest.raises(PermissionError):
        store.apply("inc-1", refuse)
    assert pending(store, "inc-1") == []
    assert (store.load("inc-1"), version(store, "inc-1")) == (incident(), 1)
    with pytest.raises(IncidentNotFound):
        store.apply("nope", refuse)


def test_apply_without_change_keeps_the_version_but_queues_effects(store: Store) -> None:
    store.create_incident(incident(), playbook())
    store.apply("inc-1", lambda state, _: Decision(state, (fx.SetHeader("h"),)))
    assert version(store, "inc-1") == 1
    assert [e.effect for e in pending(store, "inc-1")] == [fx.SetHeader("h")]


UNREADABLE = (
    "{not json",  # cut short or hand-edited
    '{"$type": "Teleport", "to": "mars"}',  # an effect a newer version knows and this one does not
    '{"message": "no type"}',
    '{"$type": "Post", "mesage": "misspelt field"}',
    '"just a string"',
    "[" * 100_000,  # nested too deeply to parse
)


def test_an_unreadable_outbox_entry_is_logged_once_and_skipped_and_the_rest_delivered(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A row this version cannot read (corrupt, or written by a newer version) must not stop delivery: it is
    named once in the log, stays in the table for a person (or that newer version), and is skipped."""
    store.create_incident(incident(1), playbook(), (fx.SetHeader("one"),))
    store.create_incident(incident(2), playbook(), (fx.SetHeader("two"),))
    with store._tx(write=True) as conn:
        for text in UNREADABLE:
            conn.execute(insert(outbox).values(incident_id="inc-1", effect=text, created_at=T0))
    store.apply("inc-1", lambda state, _: Decision(state, (fx.Post("after"),)))
    with caplog.at_level(logging.ERROR, logger="sev1bot.store.outbox"):
        first = store.outbox_batch("inc-1")
        again = store.outbox_batch("inc-1", 2).entries
    assert [e.effect for e in first.entries] == [fx.SetHeader("one"), fx.Post("after")]
    assert [e.effect for e in again] == [
        fx.SetHeader("one"),
        fx.Post("after"),
    ]  # the limit counts readable ones
    assert [e.effect for e in store.outbox_batch("inc-2").entries] == [fx.SetHeader("two")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == len(UNREADABLE), errors  # once each, not on every read
    assert all("of incident inc-1 does not hold an effect this version understands" in e for e in errors)
    assert all("skipped; it stays in the outbox table" in e for e in errors)
    store.delivered([Delivered("inc-1", tuple(e.id for e in first.entries))])
    assert store.outbox_batch("inc-1").entries == []
    with store._tx() as conn:
        kept = conn.execute(select(outbox.c.effect).where(outbox.c.incident_id == "inc-1")).scalars()
        assert sorted(kept) == sorted(UNREADABLE)
