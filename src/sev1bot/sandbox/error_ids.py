"""Every AppError id the sandbox may answer with, and the server file that raises it.

The sandbox must not invent ids: clients (and the bot) branch on them. Each id below is one the real server
raises, with the file in mattermost/mattermost (under ``server/``) where it is raised. The contract checker
flags any error response whose id is not here, and tests/sandbox/test_sandbox_error_ids.py checks that every
id written in the sandbox's source is here. Ids under ``sandbox.`` are the sandbox's own (injected faults,
its admin routes): never sent unless a test asks.

To add an id: put it here with its file, then use it.
"""

from __future__ import annotations

_WS_ROUTER = "channels/app/platform/web_socket_router.go (ServeWebSocket)"

ERROR_IDS: dict[str, str] = {
    # the request itself: web/context.go and the router
    "api.context.session_expired.app_error": "channels/web/context.go (SessionRequired, token checks)",
    "api.context.permissions.app_error": "channels/web/context.go (SetPermissionError)",
    "api.context.invalid_body_param.app_error": "channels/web/context.go (SetInvalidParam)",
    "api.context.invalid_url_param.app_error": "channels/web/context.go (SetInvalidURLParam)",
    "api.context.invalid_param.app_error": "channels/app/command.go (CreateCommandPost: post.type)",
    "api.context.404.app_error": "channels/web/handlers.go (Handle404)",
    "api.config.client.old_format.app_error": "channels/api4/config.go (getClientConfig)",
    "store.sql_command.save.get.app_error": "channels/web/context.go (SetCommandNotFoundError)",
    # users and teams
    "app.user.missing_account.const": "channels/app/constants.go (MissingAccountError)",
    "app.user.get_by_username.app_error": "channels/app/user.go (GetUserByUsername)",
    "app.channel.add_member.deleted_user.app_error": "channels/app/channel.go (AddChannelMember)",
    "app.team.get_by_name.missing.app_error": "channels/app/team.go (GetTeamByName)",
    "app.team.get.find.app_error": "channels/app/team.go (GetTeam)",
    "app.team.get_member.missing.app_error": "channels/app/team.go (GetTeamMember)",
    # channels
    "app.channel.get.existing.app_error": "channels/app/channel.go (GetChannel)",
    "app.channel.get_by_name.missing.app_error": "channels/app/channel.go (GetChannelByName)",
    "app.channel.get_member.missing.app_error": "channels/app/channel.go (GetChannelMember)",
    "api.channel.add_user.to.channel.failed.app_error": "channels/app/channel.go (addUserToChannel)",
    "api.channel.add_user_to_channel.type.app_error": "channels/app/channel.go (addUserToChannel)",
    "api.channel.create_channel.direct_channel.app_error": "channels/app/channel.go (CreateChannelWithUser)",
    "api.channel.create_direct_channel.invalid_user.app_error": (
        "channels/app/channel.go (createDirectChannel)"
    ),
    "store.sql_channel.save_channel.exists.app_error": "channels/store/sqlstore/channel_store.go (Save)",
    "store.sql_channel.update.exists.app_error": "channels/store/sqlstore/channel_store.go (Update)",
    "model.channel.is_valid.display_name.app_error": "public/model/channel.go (Channel.IsValid)",
    "model.channel.is_valid.2_or_more.app_error": "public/model/channel.go (IsValid; later 1_or_more)",
    "model.channel.is_valid.type.app_error": "public/model/channel.go (Channel.IsValid)",
    "model.channel.is_valid.header.app_error": "public/model/channel.go (Channel.IsValid)",
    "model.channel.is_valid.purpose.app_error": "public/model/channel.go (Channel.IsValid)",
    # posts and reactions
    "app.post.get.app_error": "channels/app/post.go (GetSinglePost)",
    "model.post.is_valid.msg.app_error": "public/model/post.go (Post.IsValid)",
    "api.post.create_post.root_id.app_error": "channels/app/post.go (CreatePost)",
    "api.post.create_post.channel_root_id.app_error": "channels/app/post.go (CreatePost)",
    "api.post.update_post.system_message.app_error": "channels/app/post.go (UpdatePost)",
    "model.reaction.is_valid.emoji_name.app_error": "public/model/reaction.go (Reaction.IsValid)",
    "api.reaction.save_reaction.user_id.app_error": "channels/api4/reaction.go (saveReaction)",
    # slash commands and their response_url hooks
    "model.command.is_valid.team_id.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.trigger.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.url.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.url_http.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.method.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.display_name.app_error": "public/model/command.go (Command.IsValid)",
    "model.command.is_valid.description.app_error": "public/model/command.go (Command.IsValid)",
    "api.command.duplicate_trigger.app_error": "channels/app/command.go (CreateCommand)",
    "api.command.team_mismatch.app_error": "channels/api4/command.go (updateCommand)",
    "api.command.execute_command.start.app_error": "channels/app/command.go (ExecuteCommand)",
    "api.command.execute_command.not_found.app_error": "channels/app/command.go (ExecuteCommand)",
    "api.command.execute_command.failed.app_error": "channels/app/command.go (DoCommandRequest)",
    "api.command.execute_command.failed_resp.app_error": "channels/app/command.go (DoCommandRequest)",
    "api.command.execute_command.create_post_failed.app_error": (
        "channels/app/command.go (HandleCommandResponse)"
    ),
    "api.command.command_post.forbidden.app_error": "channels/app/command.go (HandleCommandResponsePost)",
    "app.command_webhook.get.missing": "channels/app/command.go (HandleCommandWebhook)",
    "app.command_webhook.try_use.invalid": "channels/app/command.go (HandleCommandWebhook)",
    "web.command_webhook.parse.app_error": "channels/web/webhook.go (commandWebhook)",
    "web.command_webhook.general.app_error": "channels/web/webhook.go (commandWebhook)",
    # interactive buttons
    "api.post.do_action.action_id.app_error": "channels/app/integration_action.go (DoPostActionWithCookie)",
    "api.post.do_action.action_integration.app_error": "channels/app/integration_action.go (DoActionRequest)",
    # websocket replies
    "api.web_socket_router.no_action.app_error": _WS_ROUTER,
    "api.web_socket_router.bad_seq.app_error": _WS_ROUTER,
    "api.web_socket_router.bad_action.app_error": _WS_ROUTER,
}

#: The sandbox's own ids (never sent by a real server, never sent unless a test asks for them).
SANDBOX_IDS: dict[str, str] = {
    "sandbox.fault_injected.app_error": "faults.py: the default id of an injected failure",
    "sandbox.admin.unauthorized": "admin.py: the /sandbox/admin routes (not API v4)",
    "sandbox.unexpected.app_error": "middleware.py: a bug in the sandbox (the contract checker flags it)",
}
