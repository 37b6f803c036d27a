"""Interactive message buttons: ``POST /posts/{id}/actions/{action_id}`` as ``DoPostActionWithCookie``.

The server POSTs the integration request to the button's URL, then applies the answer: ``update``
replaces the clicked post's message and props (keeping pins, reactions and the override props) and
broadcasts ``post_edited``; ``ephemeral_text`` goes to the clicker only. Clicks on ephemeral posts carry
the sealed ``cookie`` instead, since those posts are not stored.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from sev1bot.sandbox import bodies, errors, permissions
from sev1bot.sandbox.attachments import attachment_actions
from sev1bot.sandbox.models import Post, User
from sev1bot.sandbox.ops_posts import RETAIN_PROPS, PostOps
from sev1bot.sandbox.outbound import Outbound, OutboundError, trigger_ids
from sev1bot.sandbox.state import State


def _integration_error(detail: str) -> errors.AppError:
    return errors.AppError(
        400, "api.post.do_action.action_integration.app_error", "Action integration error.", detail
    )


@dataclass
class _Target:
    post_id: str
    root_post_id: str
    channel_id: str
    action_type: str
    data_source: str
    integration: dict[str, Any]
    retain: dict[str, Any]
    remove: list[str]
    stored: Post | None


class ButtonOps:
    def __init__(self, state: State, posts: PostOps, outbound: Outbound) -> None:
        self.state = state
        self.posts = posts
        self.outbound = outbound

    async def click(self, actor: User, post_id: str, action_id: str, body: dict[str, Any]) -> dict[str, str]:
        selected = bodies.text(body, "selected_option")
        cookie = bodies.text(body, "cookie")
        target = (
            self._from_cookie(actor, post_id, cookie)
            if cookie
            else self._from_post(actor, post_id, action_id)
        )
        channel = self.state.channel(target.channel_id)
        team = self.state.teams.get(channel.team_id)
        context = copy.deepcopy(target.integration.get("context") or {})
        if target.action_type == "select" and selected:
            context["selected_option"] = selected
        client_trigger_id, trigger_id = trigger_ids(actor.id)
        request: dict[str, Any] = {
            "user_id": actor.id,
            "user_name": actor.username,
            "channel_id": channel.id,
            "channel_name": channel.name,
            "team_id": channel.team_id,
            "team_domain": team.name if team else "",
            "post_id": target.post_id,
            "trigger_id": trigger_id,
            "type": target.action_type,
            "data_source": target.data_source if target.action_type == "select" and selected else "",
        }
        if context:
            request["context"] = context
        answer = await self._call(str(target.integration.get("url") or ""), request)
        self._apply(actor, target, answer)
        return {"status": "OK", "trigger_id": client_trigger_id}

    def _from_post(self, actor: User, post_id: str, action_id: str) -> _Target:
        post = self.state.post(post_id)
        permissions.require_read(self.state, actor, self.state.channel(post.channel_id))
        action = next((a for a in attachment_actions(post.props) if a.get("id") == action_id), None)
        if action is None or not isinstance(action.get("integration"), dict):
            raise errors.AppError(
                404, "api.post.do_action.action_id.app_error", "Invalid action id.", f"action={action_id}"
            )
        return _Target(
            post_id=post.id,
            root_post_id=post.root_id or post.id,
            channel_id=post.channel_id,
            action_type=str(action.get("type") or ""),
            data_source=str(action.get("data_source") or ""),
            integration=action["integration"],
            retain={k: post.props[k] for k in RETAIN_PROPS if k in post.props},
            remove=[k for k in RETAIN_PROPS if k not in post.props],
            stored=post,
        )

    def _from_cookie(self, actor: User, post_id: str, cookie: str) -> _Target:
        sealed = self.state.action_cookies.get(cookie)
        if sealed is None:
            raise _integration_error("the action cookie cannot be decrypted")
        permissions.require_read(self.state, actor, self.state.channel(sealed.channel_id))
        if sealed.post_id != post_id:
            raise _integration_error("postId doesn't match")
        return _Target(
            post_id=sealed.post_id,
            root_post_id=sealed.root_post_id,
            channel_id=sealed.channel_id,
            action_type=sealed.action_type,
            data_source=sealed.data_source,
            integration=sealed.integration,
            retain=dict(sealed.retain_props),
            remove=list(sealed.remove_props),
            stored=self.state.posts.get(post_id),
        )

    async def _call(self, url: str, request: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            reply = await self.outbound.send("POST", url, headers, data=json.dumps(request).encode())
        except OutboundError as exc:
            raise _integration_error(str(exc)) from None
        if reply.status != 200:
            raise _integration_error(f"status={reply.status}")
        if not reply.body.strip():
            return {}
        try:
            answer = json.loads(reply.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _integration_error(f"invalid JSON: {exc}") from None
        return answer if isinstance(answer, dict) else {}

    def _apply(self, actor: User, target: _Target, answer: dict[str, Any]) -> None:
        update = answer.get("update")
        if isinstance(update, dict):
            if target.stored is None or target.stored.delete_at:
                raise errors.post_not_found(f"post_id={target.post_id}")
            props = update.get("props")
            if isinstance(props, dict):
                props = copy.deepcopy(props)
                props.update(target.retain)
                for key in target.remove:
                    props.pop(key, None)
            else:
                props = target.stored.props
            message = update.get("message")
            post = target.stored
            self.posts.update_post(post, message if isinstance(message, str) else "", props, post.is_pinned)
        text = answer.get("ephemeral_text")
        if isinstance(text, str) and text:
            ephemeral = Post(
                channel_id=target.channel_id, user_id=actor.id, message=text, root_id=target.root_post_id
            )
            ephemeral.props.update(target.retain)
            self.posts.send_ephemeral(actor.id, ephemeral)
