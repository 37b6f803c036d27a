"""Followers: people who get each status update of an incident by direct message.

``/sev1 follow`` adds the person who typed it, ``/sev1 follow @dana`` adds dana (only the owner or a lead
the playbook invites may add or remove someone else); ``unfollow`` is the reverse. Who follows is not a
field of its own: ``IncidentState.followers`` reads it from the timeline, which the store already keeps.
Each update's DM has the dedupe key ``follow:<updates so far>:<username>``.
"""

from __future__ import annotations

from sev1bot.core import render
from sev1bot.core.effects import DirectMessage, StatusBoard
from sev1bot.core.escalation import Plan
from sev1bot.core.events import FollowChanged


class FollowRefusal(Exception):
    """A follow the core refuses; the decide module turns it into its CoreError."""


def apply(plan: Plan, event: FollowChanged) -> None:
    username = event.username.strip().removeprefix("@").lower()
    if username != event.actor:
        leads = [plan.state.owner, *render.role_holders(plan.playbook, plan.playbook.invite)]
        if event.actor not in leads:
            raise FollowRefusal("Only the owner or a lead can make someone else (un)follow this incident.")
    if (username in plan.state.followers) == event.following:
        return  # already so
    if event.following:
        plan.log(event.actor, "follow", f"{username} follows the incident (each update by direct message)")
    else:
        plan.log(event.actor, "unfollow", f"{username} no longer follows the incident")
    plan.refresh_board()


def tell_followers(plan: Plan, actor: str, text: str, n: int) -> None:
    """The ``n``-th status update (from 1) to each follower but its author, by direct message."""
    message = render.follower_dm(plan.state, actor, text)
    plan.emit(
        *(
            DirectMessage(u, message, dedupe_key=f"follow:{n}:{u}", links=(StatusBoard(),))
            for u in plan.state.followers
            if u != actor
        )
    )
