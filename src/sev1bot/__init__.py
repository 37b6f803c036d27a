"""sev1bot: a chat-ops incident bot for Mattermost that runs Sev 1 playbooks in chat."""

__version__ = "0.1.0"
