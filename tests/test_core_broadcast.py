"""Broadcasts in the core: the start's post in each broadcast channel (edited as the incident moves), one post
per status update, CEO escalation and resolution, each at most once; none without broadcast channels."""

from __future__ import annotations

from core_fixtures import T0, Run, edits, hours, mme_playbook, posts
from sev1bot.core.codec import dump_effect, load_effect
from sev1bot.core.effects import BroadcastStart, Post
from sev1bot.core.events import ItemChecked, OwnerChanged, Resolved, StatusUpdate
from sev1bot.store.refs import ref_from_str, ref_to_str

BROADCAST = mme_playbook(updates={"every": "30m", "broadcast": ["sev1-status", "execs"]})
ZWJ = "\u200d"


def started() -> Run:
    run = Run(playbook=BROADCAST)
    run.start()
    return run


def broadcasts(run: Run) -> list[Post]:
    assert run.last is not None
    return [p for p in posts(run.last.effects) if p.channel is not None]


def test_the_start_posts_a_live_line_in_each_broadcast_channel() -> None:
    run = started()
    found = broadcasts(run)
    assert [(p.channel, p.ref, p.dedupe_key) for p in found] == [
        ("sev1-status", BroadcastStart("sev1-status"), "broadcast:sev1-status:start"),
        ("execs", BroadcastStart("execs"), "broadcast:execs:start"),
    ]
    assert found[0].message.startswith(
        ":rotating_light: **Sev 1 · Acme Corp** (~sev1-2026-11-27-acme-corp) · **active** since "
    )
    assert f"owner @{ZWJ}alice · progress 0/40" in found[0].message


def test_the_live_line_is_edited_as_the_incident_moves() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.1"), T0 + hours(0.1))
    assert "progress 1/40" in edits(run.last.effects if run.last else ())[BroadcastStart("execs")]
    run.do(OwnerChanged("alice", "carol"), T0 + hours(0.2))
    assert f"owner @{ZWJ}carol" in edits(run.last.effects if run.last else ())[BroadcastStart("sev1-status")]
    run.do(Resolved("carol", "fixed"), T0 + hours(0.5))
    live = edits(run.last.effects if run.last else ())[BroadcastStart("sev1-status")]
    assert live.startswith(":white_check_mark: **Sev 1 · Acme Corp**") and "**resolved** after 30m" in live
    [done, _] = broadcasts(run)
    assert done.dedupe_key == "broadcast:sev1-status:resolved:1"
    assert done.message.endswith(f"resolved by @{ZWJ}carol after 30m.")


def test_each_update_and_each_ceo_escalation_is_broadcast_once() -> None:
    run = started()
    run.do(StatusUpdate("alice", "Rolled back @channel"), T0 + hours(0.1))
    [update, _] = broadcasts(run)
    assert update.dedupe_key == "broadcast:sev1-status:update:1" and update.ref is None
    assert f"update from @{ZWJ}alice: Rolled back" in update.message and "@channel" not in update.message
    run.fire("escalation", T0 + hours(1))
    [ping, _] = broadcasts(run)
    assert ping.dedupe_key == "broadcast:sev1-status:escalation:0"
    assert f"has been out for 1h: escalated to @{ZWJ}ian" in ping.message


def test_no_broadcast_channel_no_broadcasts() -> None:
    run = Run()
    run.start()
    decision = run.do(StatusUpdate("alice", "Rolled back"), T0 + hours(0.1))
    assert not broadcasts(run) and not any(isinstance(r, BroadcastStart) for r in edits(decision.effects))


def test_the_start_post_ref_survives_the_outbox_and_the_posts_table() -> None:
    post = Post("x", ref=BroadcastStart("sev1-status"), channel="sev1-status", dedupe_key="k")
    assert load_effect(dump_effect(post)) == post
    assert ref_to_str(BroadcastStart("sev1-status")) == "broadcast:sev1-status"
    assert ref_from_str("broadcast:sev1-status") == BroadcastStart("sev1-status")
