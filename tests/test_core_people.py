"""People are told: the assignee, the new and the former owner and everyone who joins get a DM, and items
the bot carries out itself (``done_by_bot``) are checked by the bot once delivery says they are done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core_fixtures import PLAYBOOK, STARTED, T0, UTC_CAL, Run, dms, edits, hours, mme_data, of_type
from sev1bot.core import start
from sev1bot.core.effects import (
    CreateChannel,
    DirectMessage,
    Invite,
    ItemPost,
    StageRoot,
    StatusBoard,
    fill_links,
    post_link,
)
from sev1bot.core.events import Assigned, ItemSkipped, MemberJoined, OwnerChanged, Resolved, TaskDone
from sev1bot.core.state import BOT_ACTOR, ItemStatus
from sev1bot.core.text import ZWJ
from sev1bot.playbook.loader import load_playbook
from sev1bot.playbook.schema import BotTask, Playbook

LATER = T0 + hours(0.5)
SHIPPED = Path(__file__).resolve().parents[1] / "playbooks" / "mme-sev1.yaml"


def bot_playbook() -> Playbook:
    """The fixture playbook with 1.1 and 1.2 declared done by the bot, as the shipped one has them."""
    data: dict[str, Any] = mme_data()
    first = list(data["stages"][0]["items"])  # a copy: the fixture's lists are shared by every test
    first[0] = {**first[0], "done_by_bot": "channel_created"}
    first[1] = {**first[1], "done_by_bot": "leads_invited"}
    data["stages"] = [{**data["stages"][0], "items": first}, *data["stages"][1:]]
    return Playbook.model_validate(data)


def started(playbook: Playbook = PLAYBOOK) -> Run:
    run = Run(playbook=playbook)
    run.start()
    return run


def shown(dm: DirectMessage) -> str:
    """The DM as its reader sees it once delivery filled in the links."""
    return fill_links(dm.message, dm.links, lambda ref: f"https://chat/pl/{type(ref).__name__}")


# -- links the core cannot complete ------------------------------------------------------------------------


def test_post_links_are_filled_in_with_the_url_of_each_post() -> None:
    message = f"see {post_link('2.3 [draft]')} and {post_link('the board', 1)}, not [x](sev1bot-post:7)"
    urls = {ItemPost("2.3"): "https://chat/t/pl/p1", StatusBoard(): "https://chat/t/pl/p2"}
    filled = fill_links(message, (ItemPost("2.3"), StatusBoard()), urls.__getitem__)
    assert filled == (
        "see [2.3 \\[draft\\]](https://chat/t/pl/p1) and [the board](https://chat/t/pl/p2), "
        "not [x](sev1bot-post:7)"  # no such link: left as it is
    )


# -- assignment --------------------------------------------------------------------------------------------


def test_the_assignee_gets_a_dm_naming_the_incident_and_the_item_with_a_link_to_its_post() -> None:
    run = started()
    fx = run.do(Assigned("alice", "2.3", "@bob"), LATER).effects
    (dm,) = dms(fx)
    assert (dm.username, dm.links, dm.dedupe_key) == ("bob", (ItemPost("2.3"),), "assigned:1:bob")
    assert shown(dm) == (
        f":point_right: @{ZWJ}alice assigned you an item of the Sev 1 for **Acme Corp** "
        "(~sev1-2026-11-27-acme-corp):\n"
        "**2.3 Share output from support bundle**\n"
        "Link to relevant docs\n"
        "[Open 2.3 in the checklist](https://chat/pl/ItemPost) · once it is done, react with "
        ":white_check_mark: on its post (:fast_forward: skips it), or type `/sev1 check 2.3` in the "
        "incident channel."
    )
    assert fx.index(dm) > fx.index(Invite(("bob",))), "invited before being told where to look"


def test_an_item_without_details_says_so_and_each_new_assignment_is_told_once() -> None:
    run = started()
    first = dms(run.do(Assigned("alice", "3.2", "bob"), LATER).effects)
    assert "_Details to be written._" in first[0].message
    assert run.do(Assigned("alice", "3.2", "bob"), LATER).effects == ()  # already bob's: nothing new
    run.do(Assigned("alice", "3.2", "carol"), LATER)
    again = dms(run.do(Assigned("alice", "3.2", "bob"), LATER).effects)
    assert [dm.dedupe_key for dm in first + again] == ["assigned:1:bob", "assigned:3:bob"]


def test_nobody_is_told_by_dm_what_they_did_themselves() -> None:
    run = started()
    assert dms(run.do(Assigned("alice", "2.3", "alice"), LATER).effects) == []
    assert [dm.username for dm in dms(run.do(OwnerChanged("alice", "bob"), LATER).effects)] == ["bob"]


# -- ownership ---------------------------------------------------------------------------------------------


def test_the_new_and_the_former_owner_get_a_dm_with_the_boards_link() -> None:
    run = started()
    fx = run.do(OwnerChanged("jason", "@Carol"), LATER).effects
    new, former = dms(fx)
    assert (new.username, new.links, new.dedupe_key) == ("carol", (StatusBoard(),), "owner:1:carol")
    assert (former.username, former.links, former.dedupe_key) == ("alice", (StatusBoard(),), "owner:1:alice")
    assert shown(new) == (
        f":large_orange_diamond: @{ZWJ}jason made you the owner of the Sev 1 for **Acme Corp** "
        "(~sev1-2026-11-27-acme-corp). It is active, 0/40 items done, current stage 1 · Escalation: see the "
        "[status board](https://chat/pl/StatusBoard)."
    )
    assert shown(former).startswith(
        f":arrows_counterclockwise: @{ZWJ}jason made @{ZWJ}carol the owner of the Sev 1 for **Acme Corp**"
    )
    assert "you no longer own it" in former.message and "[status board](" in shown(former)
    assert run.do(OwnerChanged("jason", "carol"), LATER).effects == ()  # carol's already: nobody told again


# -- welcome -----------------------------------------------------------------------------------------------


def test_someone_who_joins_gets_one_welcome_saying_what_who_where_and_how() -> None:
    run = started()
    run.do(OwnerChanged("alice", "bob"), LATER)
    before = run.s
    fx = run.do(MemberJoined("dana"), LATER).effects
    (dm,) = fx
    assert isinstance(dm, DirectMessage)
    assert (dm.username, dm.links, dm.dedupe_key) == ("dana", (StatusBoard(),), "welcome:dana")
    assert run.s == before, "the welcome changes nothing: the sent table remembers who was welcomed"
    assert shown(dm) == (
        ":wave: You are in the incident channel of the Sev 1 for **Acme Corp** (~sev1-2026-11-27-acme-corp): "
        "Login latency above 30s\n"
        f"**Owner:** @{ZWJ}bob · started Fri 27 Nov 2026 10:00 UTC by @{ZWJ}alice · active, 0/40 items done, "
        "current stage 1 · Escalation.\n"
        "**Status board:** [pinned in the channel](https://chat/pl/StatusBoard). The checklist is posted "
        "there, one thread per stage.\n"
        "To check an item, react with :white_check_mark: on its post (:fast_forward: skips it), or type "
        "`/sev1 check 1.1` in the incident channel; `/sev1 help` lists every command."
    )
    # Reported twice (a live event and a catch-up): the same key, which delivery claims once.
    assert run.do(MemberJoined("dana"), LATER).effects == fx


def test_a_welcome_to_a_resolved_incident_says_so() -> None:
    run = started()
    run.do(Resolved("alice", "fixed"), LATER)
    (dm,) = dms(run.do(MemberJoined("dana"), LATER).effects)
    assert "· resolved, 0/40 items done" in dm.message


# -- what the bot does itself ------------------------------------------------------------------------------


def test_the_shipped_playbook_has_the_bot_check_1_1_and_1_2() -> None:
    playbook = load_playbook(SHIPPED)
    keys: list[str] = playbook.keys()
    declared = {key: playbook.item(key).done_by_bot for key in keys if playbook.item(key).done_by_bot}
    assert declared == {"1.1": BotTask.CHANNEL_CREATED, "1.2": BotTask.LEADS_INVITED}


def test_the_start_asks_delivery_to_report_the_tasks_an_item_names_and_checks_nothing_yet() -> None:
    decision = start(STARTED, bot_playbook(), T0, UTC_CAL)
    create = of_type(decision.effects, CreateChannel)[0]
    invite = of_type(decision.effects, Invite)[0]
    assert (create.task, invite.task) == ("channel_created", "leads_invited")
    assert all(item.status is ItemStatus.OPEN for item in decision.state.items.values())
    plain = start(STARTED, PLAYBOOK, T0, UTC_CAL)
    assert (
        of_type(plain.effects, CreateChannel)[0].task is None
        and of_type(plain.effects, Invite)[0].task is None
    )


def test_a_task_done_checks_its_items_as_the_bot_once() -> None:
    run = started(bot_playbook())
    fx = run.do(TaskDone("channel_created"), T0).effects
    item = run.s.items["1.1"]
    assert (item.status, item.by, item.via) == (ItemStatus.DONE, BOT_ACTOR, "bot")
    assert [(e.actor, e.kind, e.text) for e in run.s.timeline[1:]] == [
        (BOT_ACTOR, "task", "created the incident channel"),
        (BOT_ACTOR, "checked", "checked 1.1 Create Incident Channel, run MME Sev1 Playbook"),
    ]
    shown_edits = edits(fx)
    assert "done by @sev1bot at 10:00 UTC" in shown_edits[ItemPost("1.1")]
    assert shown_edits[StageRoot(1)].startswith("### 1 · Escalation — 1/4 done")
    assert "**Progress:** 1/40 items" in shown_edits[StatusBoard()]
    # Reported again (delivery retried after a crash between the task and writing it down): nothing.
    before = run.s
    assert run.do(TaskDone("channel_created"), LATER).effects == () and run.s == before
    run.do(TaskDone("leads_invited"), LATER)
    assert run.s.items["1.2"].status is ItemStatus.DONE and run.s.items["1.3"].status is ItemStatus.OPEN


def test_a_task_checks_nothing_a_person_already_closed_nor_twice_after_an_uncheck() -> None:
    run = started(bot_playbook())
    run.do(ItemSkipped("alice", "1.1"), T0)
    assert run.do(TaskDone("channel_created"), LATER).effects == ()
    assert run.s.items["1.1"].by == "alice" and run.s.items["1.1"].status is ItemStatus.SKIPPED
    assert run.s.timeline[-1].kind == "task"  # what the bot did is still on the timeline


def test_leads_left_out_of_the_invite_leave_the_item_open_for_a_person() -> None:
    run = started(bot_playbook())
    fx = run.do(TaskDone("leads_invited", left_out=("brent", "ian")), T0).effects
    assert fx == () and run.s.items["1.2"].status is ItemStatus.OPEN
    assert (run.s.timeline[-1].kind, run.s.timeline[-1].text) == (
        "task",
        "invited the leads except brent, ian",
    )
    assert run.do(TaskDone("leads_invited"), LATER).effects == ()  # that invite was reported already


@pytest.mark.parametrize("task", ["unknown_task", ""])
def test_a_task_this_version_does_not_know_is_ignored(task: str) -> None:
    run = started(bot_playbook())
    before = run.s
    assert run.do(TaskDone(task), T0).effects == () and run.s == before
