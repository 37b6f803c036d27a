"""Followers in the core: anyone may follow for themselves, only the owner or a lead may (un)follow someone
else, each status update goes to every follower but its author by DM once, and the board lists them."""

from __future__ import annotations

import pytest

from core_fixtures import T0, Run, dms, hours
from sev1bot import commands as cmd
from sev1bot.core import CoreError
from sev1bot.core.escalation import board_edit
from sev1bot.core.events import FollowChanged, StatusUpdate

ZWJ = "\u200d"


def started() -> Run:
    run = Run()
    run.start()
    return run


def test_followers_get_each_update_by_dm_but_its_author() -> None:
    run = started()
    run.do(FollowChanged("bob", "bob", True), T0 + hours(0.1))
    run.do(FollowChanged("alice", "dana", True), T0 + hours(0.2))  # the owner adds dana
    assert run.s.followers == ("bob", "dana")
    decision = run.do(StatusUpdate("bob", "Rolled back"), T0 + hours(0.3))
    [dm] = dms(decision.effects)
    assert (dm.username, dm.dedupe_key) == ("dana", "follow:1:dana")
    assert f"from @{ZWJ}bob" in dm.message and "> Rolled back" in dm.message
    board = board_edit(run.s, run.playbook, T0 + hours(0.3), run.calendar).message
    assert f"**Followers** (each update by DM): @{ZWJ}bob, @{ZWJ}dana" in board
    run.do(FollowChanged("dana", "dana", False), T0 + hours(0.4))
    assert list(run.s.followers) == ["bob"]
    assert not dms(run.do(StatusUpdate("bob", "Fixed"), T0 + hours(0.5)).effects)


def test_only_the_owner_or_a_lead_adds_someone_else() -> None:
    run = started()
    with pytest.raises(CoreError, match="Only the owner or a lead"):
        run.do(FollowChanged("carol", "dana", True), T0 + hours(0.1))
    run.do(FollowChanged("stu", "dana", True), T0 + hours(0.1))  # stu is a lead the playbook invites
    assert run.s.followers == ("dana",)
    assert run.do(FollowChanged("dana", "dana", True), T0 + hours(0.2)).effects == (), "already so"


def test_the_command_names_the_person_and_the_incident() -> None:
    assert cmd.parse_command("follow", "bob") == FollowChanged("bob", "bob", True)
    assert cmd.parse_command("unfollow @Dana", "bob") == FollowChanged("bob", "dana", False)
    assert cmd.parse_command("follow ~sev1-x", "bob") == cmd.Elsewhere(
        "sev1-x", FollowChanged("bob", "bob", True)
    )
    with pytest.raises(cmd.UsageError):
        cmd.parse_command("follow @a @b", "bob")
