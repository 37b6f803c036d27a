"""Delivery bookkeeping: which queued effects a batch may skip, and writing down what was delivered.

The end-to-end tests deliver through the sandbox; these pin the two pieces that decide what is sent and
what is remembered: ``_coalesce`` (a later edit of the same post makes an earlier one pointless) and
``Acks`` (one transaction at a time, in order, errors surfaced) against a real store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sev1bot.core import effects as fx
from sev1bot.service import acks as acks_module
from sev1bot.service.acks import Acks
from sev1bot.service.executor import _coalesce
from sev1bot.store import Store
from sev1bot.store.errors import Fenced
from sev1bot.store.leases import Fence
from sev1bot.store.outbox import Batch, Delivered, OutboxEntry
from store_peek import active_posts, sent_of
from store_samples import incident, playbook
from testkit import eventually

BOARD, ITEM = fx.StatusBoard(), fx.ItemPost("1.1")


def entries(*effects: fx.Effect) -> list[OutboxEntry]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [OutboxEntry(n, "inc-1", effect, at) for n, effect in enumerate(effects, 1)]


def test_only_the_last_edit_of_a_post_in_a_batch_is_sent() -> None:
    batch = entries(
        fx.EditPost(ITEM, "item checked"),
        fx.EditPost(BOARD, "1/40"),
        fx.Post("update", ref=None),
        fx.EditPost(ITEM, "item unchecked"),
        fx.EditPost(BOARD, "0/40"),
        fx.SetHeader("h1"),
        fx.Schedule("escalation", datetime(2026, 1, 1, 1, tzinfo=UTC)),
        fx.SetHeader("h2"),
    )
    due, superseded = _coalesce(batch)
    assert [e.id for e in due] == [3, 4, 5, 7, 8]  # the post, the last edits, the timer, the last header
    assert superseded == [1, 2, 6]
    assert _coalesce(entries(fx.EditPost(BOARD, "a"), fx.EditPost(ITEM, "b"))) == (
        entries(fx.EditPost(BOARD, "a"), fx.EditPost(ITEM, "b")),
        [],
    )


async def test_acks_write_everything_in_order_and_forget_the_entries(store: Store) -> None:
    effects = (fx.Post("board", ref=BOARD), fx.Post("item", ref=ITEM), fx.EditPost(BOARD, "v2"))
    store.create_incident(incident(), playbook(), effects)
    ids = [e.id for e in store.outbox_batch("inc-1").entries]
    assert store.claim("inc-1", "escalation:0")
    acks = Acks(store)
    acks.add(Delivered("inc-1", post=(BOARD, "post-board")))
    acks.add(Delivered("inc-1", (ids[0],)))
    acks.add(Delivered("inc-1", (ids[1],), post=(ITEM, "post-item"), sent=("escalation:0", "post-item")))
    acks.add(Delivered("inc-1", (ids[2],)))
    await acks.settle()
    assert active_posts(store, "inc-1") == {BOARD: "post-board", ITEM: "post-item"}
    assert sent_of(store, "inc-1") == {"escalation:0": "post-item"}
    batch = store.outbox_batch("inc-1")
    assert batch.entries == [] and batch.posts == {}


async def test_a_failed_write_stops_delivery(store: Store) -> None:
    store.create_incident(incident(), playbook(), (fx.Post("board", ref=BOARD),))
    store.delivered([Delivered("inc-1", post=(ITEM, "post-1"))])
    acks = Acks(store, flush_after=0)  # written at once
    acks.add(Delivered("inc-1", post=(BOARD, "post-1")))  # that post is already the item's: refused
    with pytest.raises(ValueError, match="already recorded"):  # check() raises once the write has failed
        await eventually(acks.check, what="the failed write to surface in check()")
    acks = Acks(store)
    acks.add(Delivered("inc-1", post=(BOARD, "post-1")))
    with pytest.raises(ValueError, match="already recorded"):
        await acks.settle()
    assert [e.effect for e in store.outbox_batch("inc-1").entries] == [fx.Post("board", ref=BOARD)]


async def test_a_write_that_finds_the_fence_stale_stops_delivery_after_writing(store: Store) -> None:
    """A long pass learns that its leader was deposed from the next write of what it delivered (the
    check rides in that transaction), and stops before the next effect; what it delivered is written."""
    store.create_incident(incident(), playbook(), (fx.Post("board", ref=BOARD), fx.Post("item", ref=ITEM)))
    board, item = store.outbox_batch("inc-1").entries
    now = datetime.now(UTC)
    assert store.acquire_lease("leader", "a", timedelta(seconds=30), now) == 1
    acks = Acks(store, fence=Fence("leader", 1))
    acks.add(Delivered("inc-1", (board.id,), post=(BOARD, "post-board")))
    await acks.settle()
    acks.check()  # still the leader: deliver on
    assert store.acquire_lease("leader", "b", timedelta(seconds=30), now + timedelta(hours=1)) == 2
    acks.add(Delivered("inc-1", (item.id,), post=(ITEM, "post-item")))
    await acks.settle()
    with pytest.raises(Fenced, match="another replica holds the 'leader' lease now"):
        acks.check()
    assert active_posts(store, "inc-1") == {BOARD: "post-board", ITEM: "post-item"}
    assert store.outbox_batch("inc-1").entries == []


class Monotonic:
    """A clock for ``Acks`` that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def recorded_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[list[Delivered]]:
    """What each of the store's ``delivered`` calls wrote: one list per transaction."""
    writes: list[list[Delivered]] = []
    deliver = store.delivered

    def recording(done: list[Delivered], fence: Fence | None = None) -> str | None:
        stale = deliver(done, fence)
        writes.append(list(done))  # once committed
        return stale

    monkeypatch.setattr(store, "delivered", recording)
    return writes


async def test_acks_wait_for_the_pass_unless_it_runs_long(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Monotonic()
    monkeypatch.setattr(acks_module, "time", clock)
    writes = recorded_writes(store, monkeypatch)
    store.create_incident(incident(), playbook(), (fx.Post("board", ref=BOARD), fx.Post("item", ref=ITEM)))
    board, item = Delivered("inc-1", post=(BOARD, "post-board")), Delivered("inc-1", post=(ITEM, "post-item"))
    acks = Acks(store, flush_after=0.3)
    # A short pass writes once, at its end. One turn of the loop between the adds would let a writer started
    # by the first take it alone: the writes would then be [[board], [item]].
    acks.add(board)
    await asyncio.sleep(0)
    clock.now += 0.2
    acks.add(item)
    await acks.settle()
    assert writes == [[board, item]], "a short pass writes once, at its end"
    # A long pass writes as soon as the oldest unwritten item is flush_after old, without waiting for its end.
    writes.clear()
    again = Delivered("inc-1", post=(BOARD, "post-board-2")), Delivered("inc-1", post=(ITEM, "post-item-2"))
    acks.add(again[0])
    clock.now += 0.5
    acks.add(again[1])  # the first has waited long enough: both go
    await eventually(lambda: writes == [list(again)], what="the write of both before the pass ends")
    await acks.settle()
    assert active_posts(store, "inc-1") == {BOARD: "post-board-2", ITEM: "post-item-2"}
    # An at-most-once send (a ping) is written down at once: which post it became is part of its record.
    assert store.claim("inc-1", "escalation:1")
    acks.add(Delivered("inc-1", sent=("escalation:1", "post-ping")))
    await eventually(lambda: sent_of(store, "inc-1").get("escalation:1") == "post-ping", what="the ping")
    await acks.settle()


async def test_the_batch_carries_the_channel_and_posts(store: Store) -> None:
    store.create_incident(incident(), playbook(), (fx.EditPost(BOARD, "v2"),))
    store.set_channel_id("inc-1", "chan-1")
    store.delivered([Delivered("inc-1", post=(BOARD, "post-board"))])
    batch = store.outbox_batch("inc-1")
    assert batch.channel_id == "chan-1" and batch.posts == {BOARD: "post-board"}
    assert [e.effect for e in batch.entries] == [fx.EditPost(BOARD, "v2")]


async def test_the_batch_reads_only_what_the_caller_does_not_know(store: Store) -> None:
    store.create_incident(incident(), playbook(), (fx.EditPost(BOARD, "v2"), fx.EditPost(ITEM, "i2")))
    store.set_channel_id("inc-1", "chan-1")
    store.delivered(
        [Delivered("inc-1", post=(BOARD, "post-board")), Delivered("inc-1", post=(ITEM, "post-item"))]
    )
    known = Batch([], "chan-known", {BOARD: "post-board-known"})
    batch = store.outbox_batch("inc-1", known=known)
    # What the caller knows is taken as it is (it never changes once set); the rest comes from the store.
    assert batch.channel_id == "chan-known"
    assert batch.posts == {BOARD: "post-board-known", ITEM: "post-item"}
    assert batch.posts is not known.posts


Record = tuple[str, fx.PostRef, str]
REFS = st.sampled_from([BOARD, ITEM, fx.StageRoot(1)])
BEFORE: Record = ("inc-1", BOARD, "p")  # something already there to replace or collide with
INCIDENTS = ("inc-1", "inc-2")


def recorded_one_by_one(records: list[Record]) -> tuple[bool, dict[str, dict[fx.PostRef, str]]]:
    """What recording ``records`` one after another in one transaction leaves, by the rules: a ref names
    one post, a later record replacing the earlier; a post already recorded as another ref (of any
    incident) is refused, and the refusal rolls the whole transaction back."""
    before = {BEFORE[2]: BEFORE[:2]}  # post id -> (incident, ref)
    owner, ok = before, True
    for incident_id, ref, post_id in records:
        key = (incident_id, ref)
        if owner.get(post_id, key) != key:
            owner, ok = before, False
            break
        owner = {p: k for p, k in owner.items() if k != key} | {post_id: key}
    return ok, {i: {ref: p for p, (j, ref) in owner.items() if j == i} for i in INCIDENTS}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["inc-1", "inc-2"]), REFS, st.sampled_from("pqrstuvwxyz")), max_size=6)
)
@example([("inc-1", ITEM, "q"), ("inc-1", ITEM, "r")])  # a later record of a ref replaces the earlier
@example([("inc-2", BOARD, "p")])  # a post recorded as another incident's: refused
@example([("inc-1", BOARD, "p"), ("inc-1", ITEM, "p")])  # the same again is harmless; then it moves: refused
@example([("inc-1", BOARD, "q"), ("inc-2", ITEM, "p")])  # "p" was replaced, so it is free for another ref
def test_recording_posts_at_once_is_recording_them_one_by_one(records: list[Record]) -> None:
    with Store("sqlite://") as store:
        store.migrate()
        for n in (1, 2):
            store.create_incident(incident(n), playbook())
        store.delivered([Delivered(BEFORE[0], post=BEFORE[1:])])
        try:
            store.delivered([Delivered(i, post=(ref, p)) for i, ref, p in records])
        except ValueError:
            ok = False
        else:
            ok = True
        assert (ok, {i: active_posts(store, i) for i in INCIDENTS}) == recorded_one_by_one(records)
