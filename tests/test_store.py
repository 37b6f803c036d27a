"""The store's behaviour, run against SQLite and PostgreSQL alike (fixture ``store``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from sev1bot.core.effects import Effect, ItemPost, Post, PostRef, StageRoot, StatusBoard
from sev1bot.core.state import CustomerReply, Eta, IncidentState, IncidentStatus, ItemState, ItemStatus
from sev1bot.store import (
    ChannelIdTaken,
    ChannelNameTaken,
    Conflict,
    IncidentExists,
    IncidentNotFound,
    IncidentUnreadable,
    Store,
)
from sev1bot.store.errors import Fenced
from sev1bot.store.leases import Fence
from sev1bot.store.outbox import Delivered
from sev1bot.store.tables import incidents, requests, sent, timeline
from store_peek import active_posts, incident_ids, sent_of, version
from store_samples import CET, T0, entry, incident, playbook


@dataclass(frozen=True)
class Decision:
    state: IncidentState
    effects: tuple[Effect, ...]


def test_round_trip_keeps_every_field_and_gives_utc(store: Store) -> None:
    state = incident(resolved_at=T0.astimezone(CET) + timedelta(hours=3), status=IncidentStatus.RESOLVED)
    state = state.model_copy(update={"escalations_sent": 2})
    store.create_incident(state, playbook())
    loaded = store.load(state.id)
    assert loaded == state
    assert loaded is not None
    assert loaded.model_dump() == state.model_dump()  # nothing lost: items, timeline, timers, counters
    times = [loaded.started_at, loaded.resolved_at, *loaded.timers.values()]
    times += [item.at for item in loaded.items.values() if item.at] + [e.at for e in loaded.timeline]
    assert all(t is not None and t.tzinfo is UTC for t in times)
    assert loaded.started_at == T0  # the CET input is the same instant
    assert list(loaded.items) == ["1.1", "1.2", "1.3", "2.1"]
    assert loaded.items["1.3"].via == "reaction"
    clock = [loaded.outage_started_at, *(r.at for r in loaded.customer_replies)]
    clock += [t for e in loaded.etas for t in (e.given_at, e.eta)]
    assert len(clock) == 6 and all(t is not None and t.tzinfo is UTC for t in clock)
    assert loaded.outage_started_at == T0 - timedelta(minutes=40)


def test_items_come_back_in_checklist_order(store: Store) -> None:
    keys = ["2.10", "1.1", "2.9", "10.1", "2.1"]
    state = incident(items={key: ItemState(key=key) for key in keys})
    store.create_incident(state, playbook())
    loaded = store.load(state.id)
    assert loaded is not None
    assert list(loaded.items) == ["1.1", "2.1", "2.9", "2.10", "10.1"]


def test_unknown_incident(store: Store) -> None:
    assert store.load("nope") is None
    with pytest.raises(IncidentNotFound, match="nope"):
        store.load_playbook("nope")
    with pytest.raises(IncidentNotFound):
        store.update("nope", lambda s: s)


def test_playbook_snapshot_survives(store: Store) -> None:
    store.create_incident(incident(), playbook("Sev 1 as it was"))
    snapshot = store.load_playbook("inc-1")
    assert snapshot == playbook("Sev 1 as it was")
    assert snapshot.escalation is not None and snapshot.escalation.after == timedelta(minutes=90)


def test_duplicates_are_refused(store: Store) -> None:
    store.create_incident(incident(1), playbook())
    assert store.channel_name_taken("sev1-acme-1")
    assert not store.channel_name_taken("sev1-acme-2")
    with pytest.raises(ChannelNameTaken, match="sev1-acme-1"):
        store.create_incident(incident(2, channel_name="sev1-acme-1"), playbook())
    with pytest.raises(IncidentExists, match="inc-1"):
        store.create_incident(incident(1, channel_name="other"), playbook())
    assert store.load("inc-2") is None  # the failed insert left nothing behind
    assert incident_ids(store) == ["inc-1"]


def test_bad_input_is_refused_with_where(store: Store) -> None:
    naive = incident(started_at=datetime(2024, 1, 1, 12, 0))
    with pytest.raises(ValueError, match=r"incident 'inc-1' started_at: naive datetime"):
        store.create_incident(naive, playbook())
    with pytest.raises(ValueError, match="runs playbook 'other'"):
        store.create_incident(incident(playbook_id="other"), playbook())
    with pytest.raises(ValueError, match=r"items\['1.1'\] holds the item with key '9.9'"):
        store.create_incident(incident(items={"1.1": ItemState(key="9.9")}), playbook())
    assert incident_ids(store) == []


def test_update_writes_items_timers_and_bumps_version(store: Store) -> None:
    state = incident()
    store.create_incident(state, playbook())
    changed = state.model_copy(
        update={
            "items": {
                "1.1": ItemState(key="1.1"),  # unchecked: by/at cleared
                "1.2": state.items["1.2"],
                "2.2": ItemState(key="2.2", status=ItemStatus.DONE, by="dan", at=T0),  # new
            },  # "2.1" removed
            "timers": {"escalation": T0 + timedelta(hours=3), "deadline:rca": T0 + timedelta(days=3)},
            "owner": "carol",
            "summary": "Checkout is back",
        }
    )
    assert store.update(state.id, lambda _: changed) is changed
    assert (store.load(state.id), version(store, state.id)) == (changed, 2)
    store.update(state.id, lambda s: s.model_copy(update={"timers": {}}))
    again = store.load(state.id)
    assert again is not None and again.timers == {} and version(store, state.id) == 3


def test_timeline_is_append_only(store: Store) -> None:
    state = incident()
    store.create_incident(state, playbook())
    ids_before = _timeline_ids(store, state.id)
    longer = state.model_copy(update={"timeline": (*state.timeline, entry("a"), entry("b", 6))})
    store.update(state.id, lambda _: longer)
    ids_after = _timeline_ids(store, state.id)
    assert ids_after[:2] == ids_before  # the old rows were not rewritten
    assert len(ids_after) == 4
    loaded = store.load(state.id)
    assert loaded is not None and loaded.timeline == longer.timeline


def test_the_customer_clock_only_grows(store: Store) -> None:
    state = incident()
    store.create_incident(state, playbook())
    reply = CustomerReply(at=T0 + timedelta(minutes=30), by="carol", item="2.1")
    eta = Eta(given_at=T0 + timedelta(minutes=31), by="carol", eta=T0 + timedelta(hours=5))
    store.update(
        state.id,
        lambda s: s.model_copy(
            update={
                "customer_replies": (*s.customer_replies, reply),
                "etas": (*s.etas, eta),
                "outage_started_at": T0 - timedelta(hours=2),
            }
        ),
    )
    loaded = store.load(state.id)
    assert loaded is not None
    assert loaded.customer_replies == (*state.customer_replies, reply)
    assert loaded.etas == (*state.etas, eta) and loaded.outage_start == T0 - timedelta(hours=2)
    with pytest.raises(Conflict, match="rewrites the customer replies"):
        store.update(state.id, lambda s: s.model_copy(update={"customer_replies": (reply,)}))
    with pytest.raises(Conflict, match="rewrites the ETAs"):
        store.update(state.id, lambda s: s.model_copy(update={"etas": s.etas[:-1]}))
    assert store.load(state.id) == loaded and version(store, state.id) == 2
    store.update(state.id, lambda s: s.model_copy(update={"outage_started_at": None}))
    cleared = store.load(state.id)
    assert cleared is not None and cleared.outage_start == cleared.started_at


def test_stale_state_is_a_conflict_not_a_lost_entry(store: Store) -> None:
    state = incident()
    store.create_incident(state, playbook())
    store.update(state.id, lambda s: s.model_copy(update={"timeline": (*s.timeline, entry("theirs"))}))
    mine = state.model_copy(update={"owner": "dan"})  # decided before their save: one entry short
    with pytest.raises(Conflict, match="rewrites the timeline"):
        store.update(state.id, lambda _: mine)
    diverged = state.model_copy(update={"timeline": (*state.timeline, entry("mine"))})  # entry 2 differs
    with pytest.raises(Conflict, match="rewrites the timeline"):
        store.update(state.id, lambda _: diverged)
    loaded = store.load(state.id)
    assert loaded is not None and loaded.owner == "alice" and loaded.timeline[-1].text == "theirs"
    assert version(store, state.id) == 2


def test_an_update_decides_on_a_save_in_between(store: Store, store_url: str) -> None:
    store.create_incident(incident(), playbook())
    state = store.load("inc-1")
    assert state is not None
    with Store(store_url) as other:  # another replica saves after this one loaded
        other.update("inc-1", lambda s: s.model_copy(update={"summary": "someone else"}))
    mine = store.update("inc-1", lambda s: s.model_copy(update={"owner": "dan"}))
    assert mine == state.model_copy(update={"summary": "someone else", "owner": "dan"})  # theirs kept
    with Store(store_url) as fresh:
        assert fresh.load("inc-1") == mine
    assert version(store, "inc-1") == 3


def test_update_cannot_take_another_incidents_channel_name(store: Store) -> None:
    store.create_incident(incident(1), playbook())
    store.create_incident(incident(2), playbook())
    with pytest.raises(ChannelNameTaken):
        store.update("inc-2", lambda s: s.model_copy(update={"channel_name": "sev1-acme-1"}))
    loaded = store.load("inc-2")
    assert loaded is not None and loaded.channel_name == "sev1-acme-2"


def test_update_applies_fn_in_one_transaction(store: Store) -> None:
    store.create_incident(incident(), playbook())

    def escalate(state: IncidentState) -> tuple[IncidentState, list[str]]:
        new = state.model_copy(
            update={
                "escalations_sent": state.escalations_sent + 1,
                "timeline": (*state.timeline, entry("esc")),
            }
        )
        return new, ["ping ceo"]

    new_state, effects = store.update("inc-1", escalate)
    assert effects == ["ping ceo"] and new_state.escalations_sent == 1
    assert (store.load("inc-1"), version(store, "inc-1")) == (new_state, 2)
    plain = store.update("inc-1", lambda s: s.model_copy(update={"owner": "dan"}))
    assert plain.owner == "dan"
    assert (store.load("inc-1"), version(store, "inc-1")) == (plain, 3)


def test_update_writes_nothing_when_fn_raises_or_changes_nothing(store: Store) -> None:
    store.create_incident(incident(), playbook())

    def refuse(state: IncidentState) -> IncidentState:
        store_state = state.model_copy(update={"owner": "mallory"})
        raise PermissionError(f"{store_state.owner} may not do that")

    with pytest.raises(PermissionError):
        store.update("inc-1", refuse)
    store.update("inc-1", lambda s: s)
    loaded = store.load("inc-1")
    assert loaded is not None and version(store, "inc-1") == 1 and loaded.owner == "alice"
    with pytest.raises(ValueError, match="must return this incident's new state"):
        store.update("inc-1", lambda s: s.model_copy(update={"id": "inc-2"}))


def test_listing_and_channels(store: Store) -> None:
    store.create_incident(incident(2, started_at=T0 + timedelta(hours=1)), playbook())
    store.create_incident(
        incident(1, status=IncidentStatus.RESOLVED, resolved_at=T0 + timedelta(hours=2)), playbook()
    )
    store.create_incident(incident(3, started_at=T0 + timedelta(hours=2)), playbook())
    assert incident_ids(store) == ["inc-1", "inc-2", "inc-3"]
    assert [s.id for s in store.active_incidents()] == ["inc-2", "inc-3"]  # in order of start
    assert [s.id for s, _, _, _ in store.active_with_posts()] == ["inc-2", "inc-3"]
    assert incident_ids(store, IncidentStatus.RESOLVED) == ["inc-1"]

    assert store.channel_id_of("inc-2") is None
    store.set_channel_id("inc-2", "chan-2")
    assert store.channel_id_of("inc-2") == "chan-2"
    found = store.incident_by_channel_id("chan-2")
    assert found is not None and found.id == "inc-2"
    assert store.incident_by_channel_id("chan-x") is None
    with pytest.raises(ChannelIdTaken, match="chan-2"):
        store.set_channel_id("inc-3", "chan-2")
    with pytest.raises(IncidentNotFound):
        store.set_channel_id("nope", "chan-9")
    with pytest.raises(IncidentNotFound):
        store.channel_id_of("nope")


def test_post_mapping(store: Store) -> None:
    store.create_incident(incident(1), playbook())
    store.create_incident(incident(2), playbook())

    def record(incident_id: str, ref: PostRef, post_id: str) -> None:
        store.delivered([Delivered(incident_id, post=(ref, post_id))])

    record("inc-1", StatusBoard(), "p-board")
    record("inc-1", StageRoot(2), "p-stage2")
    record("inc-1", ItemPost("2.1"), "p-item")
    record("inc-2", StatusBoard(), "p-board-2")
    assert store.post_route("p-item") == ("inc-1", ItemPost("2.1"), playbook())
    assert store.post_route("p-unknown") is None
    assert active_posts(store, "inc-1") == {
        StatusBoard(): "p-board",
        StageRoot(2): "p-stage2",
        ItemPost("2.1"): "p-item",
    }  # no StageRoot(1): it has no post
    assert active_posts(store, "inc-2") == {StatusBoard(): "p-board-2"}

    record("inc-1", StatusBoard(), "p-board")  # recording the same again is harmless
    assert active_posts(store, "inc-1")[StatusBoard()] == "p-board"
    record("inc-1", StatusBoard(), "p-board-new")  # a re-posted board replaces the old mapping
    assert active_posts(store, "inc-1")[StatusBoard()] == "p-board-new"
    assert store.post_route("p-board") is None
    with pytest.raises(ValueError, match=r"already recorded as 'item:2\.1'"):
        record("inc-2", StageRoot(1), "p-item")
    assert active_posts(store, "inc-2") == {StatusBoard(): "p-board-2"}


def test_sent_claims(store: Store) -> None:
    store.create_incident(incident(), playbook())
    assert sent_of(store, "inc-1") == {}
    assert store.claim("inc-1", "escalation:1")
    assert not store.claim("inc-1", "escalation:1")
    assert sent_of(store, "inc-1") == {"escalation:1": None}  # claimed, not yet sent
    assert store.release("inc-1", "escalation:1")  # the send failed: someone may try again
    assert sent_of(store, "inc-1") == {}
    assert store.claim("inc-1", "escalation:1")
    store.delivered([Delivered("inc-1", sent=("escalation:1", "p-esc"))])
    assert sent_of(store, "inc-1") == {"escalation:1": "p-esc"}
    assert not store.release("inc-1", "escalation:1")  # a completed send stays recorded
    assert not store.claim("inc-1", "escalation:1")
    with pytest.raises(ValueError, match="never claimed"):
        store.delivered([Delivered("inc-1", sent=("reminder:x", "p"))])
    assert sent_of(store, "inc-1") == {"escalation:1": "p-esc"}
    with pytest.raises(IncidentNotFound):
        store.claim("nope", "escalation:1")


def test_pending_timers_soonest_first_including_resolved_incidents(store: Store) -> None:
    store.create_incident(incident(1, timers={"escalation": T0 + timedelta(hours=2)}), playbook())
    resolved = incident(
        2, status=IncidentStatus.RESOLVED, resolved_at=T0, timers={"deadline:rca": T0 + timedelta(days=3)}
    )
    store.create_incident(resolved, playbook())
    store.create_incident(
        incident(3, timers={"escalation": (T0 + timedelta(hours=1)).astimezone(CET)}), playbook()
    )
    assert store.pending_timers() == [
        ("inc-3", "escalation", T0 + timedelta(hours=1)),
        ("inc-1", "escalation", T0 + timedelta(hours=2)),
        ("inc-2", "deadline:rca", T0 + timedelta(days=3)),
    ]
    assert all(due.tzinfo is UTC for _, _, due in store.pending_timers())


def test_seen_requests(store: Store) -> None:
    assert not store.seen_request("r1", now=T0)
    assert store.seen_request("r1", now=T0 + timedelta(seconds=5))
    assert not store.seen_request("r2", now=T0 + timedelta(hours=2))
    assert store.prune_requests(before=T0 + timedelta(hours=1)) == 1
    assert not store.seen_request("r1")  # forgotten after pruning
    assert store.seen_request("r2")


def test_leases(store: Store) -> None:
    ttl = timedelta(seconds=30)
    assert store.acquire_lease("leader", "a", ttl, T0) == 1
    assert store.acquire_lease("leader", "b", ttl, T0 + timedelta(seconds=10)) is None  # held by a
    assert store.acquire_lease("leader", "a", ttl, T0 + timedelta(seconds=20)) == 1  # renewal keeps the fence
    assert store.acquire_lease("leader", "b", ttl, T0 + timedelta(seconds=49)) is None  # renewed until 50s
    assert store.acquire_lease("leader", "b", ttl, T0 + timedelta(seconds=50)) == 2  # expired: b takes it
    assert not store.check_fence("leader", 1) and store.check_fence("leader", 2)
    assert store.acquire_lease("leader", "a", ttl, T0 + timedelta(seconds=51)) is None
    assert not store.release_lease("leader", "a")  # a no longer holds it
    assert store.release_lease("leader", "b")
    assert not store.check_fence("leader", 2)  # released
    assert store.acquire_lease("leader", "a", ttl, T0 + timedelta(seconds=52)) == 3  # no need to wait
    assert store.acquire_lease("other", "a", ttl, T0) == 1  # leases are independent
    assert not store.check_fence("missing", 1)
    with pytest.raises(ValueError, match="ttl must be positive"):
        store.acquire_lease("leader", "a", timedelta(0), T0)
    with pytest.raises(ValueError, match="naive datetime"):
        store.acquire_lease("leader", "a", ttl, datetime(2024, 1, 1))


def test_the_outbox_is_handed_out_only_against_the_current_fence(store: Store) -> None:
    """A deposed leader that has not noticed yet gets no batch: the fence is checked in the transaction
    that reads it. Nothing else changes: the entries stay for the new leader."""
    ttl = timedelta(seconds=30)
    clock = [T0]
    store.clock = lambda: clock[0]
    store.create_incident(incident(), playbook(), [Post("on it")])
    assert store.acquire_lease("leader", "a", ttl, T0) == 1
    assert len(store.outbox_batch("inc-1", fence=Fence("leader", 1)).entries) == 1
    clock[0] = T0 + timedelta(seconds=30)  # a's lease ran out, nobody took it yet
    with pytest.raises(Fenced, match="ran out"):
        store.outbox_batch("inc-1", fence=Fence("leader", 1))
    assert store.acquire_lease("leader", "b", ttl, clock[0]) == 2
    with pytest.raises(Fenced, match="another replica holds the 'leader' lease now"):
        store.outbox_batch("inc-1", fence=Fence("leader", 1))
    assert len(store.outbox_batch("inc-1", fence=Fence("leader", 2)).entries) == 1
    assert store.release_lease("leader", "b")
    with pytest.raises(Fenced, match="released"):
        store.outbox_batch("inc-1", fence=Fence("leader", 2))
    assert len(store.outbox_batch("inc-1").entries) == 1  # still there, for whoever leads next


def test_writing_down_deliveries_says_when_the_fence_went_stale_and_writes_anyway(store: Store) -> None:
    store.create_incident(incident(), playbook(), [Post("on it")])
    (entry,) = store.outbox_batch("inc-1").entries
    assert store.acquire_lease("leader", "a", timedelta(seconds=30), datetime.now(UTC)) == 1
    assert store.delivered([], Fence("leader", 1)) is None
    assert (
        store.acquire_lease("leader", "b", timedelta(seconds=30), datetime.now(UTC) + timedelta(hours=1)) == 2
    )
    stale = store.delivered([Delivered("inc-1", (entry.id,))], Fence("leader", 1))
    assert stale is not None and "another replica" in stale
    assert store.outbox_batch("inc-1").entries == []  # it was delivered: written down all the same


def _timeline_ids(store: Store, incident_id: str) -> list[int]:
    with store._tx() as conn:
        query = select(timeline.c.id).where(timeline.c.incident_id == incident_id).order_by(timeline.c.seq)
        return list(conn.execute(query).scalars())


def test_claims_and_seen_requests_are_stamped_by_the_store_clock_in_utc(store_url: str) -> None:
    """Without ``now``, the store's clock stamps the row: the same instant, given back in UTC."""
    at = datetime(2026, 3, 1, 13, 30, 15, 123000, tzinfo=CET)
    with Store(store_url, clock=lambda: at) as store:
        store.create_incident(incident(), playbook())
        assert store.claim("inc-1", "k")
        assert not store.seen_request("req-1")
        with store._tx() as conn:
            stamps = [conn.execute(select(sent.c.sent_at)).scalar_one()]
            stamps.append(conn.execute(select(requests.c.seen_at)).scalar_one())
    for stamp in stamps:
        assert stamp == at and stamp.tzinfo is UTC, stamp


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ('{"id": "sev1", "title": "Sev 1", "stag', "the snapshot: Invalid JSON"),  # cut short
        ('{"id": "sev1", "title": 7}', "title: Input should be a valid string, and "),  # wrong shapes
        ("null", "the snapshot: Input should be an object"),
    ],
)
def test_an_incident_whose_playbook_snapshot_cannot_be_read_is_refused_and_the_others_go_on(
    store: Store, caplog: pytest.LogCaptureFixture, stored: str, problem: str
) -> None:
    store.create_incident(incident(1), playbook())
    store.create_incident(incident(2), playbook())
    store.delivered(
        [
            Delivered("inc-1", post=(ItemPost("1.2"), "post-1")),
            Delivered("inc-2", post=(ItemPost("1.2"), "post-2")),
        ]
    )
    with store._tx(write=True) as conn:
        conn.execute(update(incidents).where(incidents.c.id == "inc-1").values(playbook_json=stored))

    def step(state: IncidentState, _: object) -> Decision:
        return Decision(state.model_copy(update={"summary": "changed"}), ())

    with caplog.at_level(logging.ERROR, logger="sev1bot.store.store"):
        with pytest.raises(
            IncidentUnreadable, match=r"incident 'inc-1' cannot be used: its stored playbook snap"
        ):
            store.apply("inc-1", step)
        with pytest.raises(IncidentUnreadable) as caught:
            store.load_playbook("inc-1")
        assert problem in str(caught.value)
        assert store.post_route("post-1") is None  # a reaction there is not applied
        assert [state.id for state, *_ in store.active_with_posts()] == ["inc-2"]  # reconciliation skips it
    assert store.load("inc-1") == incident(1) and version(store, "inc-1") == 1  # nothing was written
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [str(caught.value)], "one clear line, the first time"
    # The other incident is untouched.
    assert store.apply("inc-2", step).state.summary == "changed"
    assert store.post_route("post-2") == ("inc-2", ItemPost("1.2"), playbook())
