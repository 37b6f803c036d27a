"""Button clicks on the bot's posts: a verified click in, the text shown to the person who clicked out.

No post carries a button yet, so every click is answered as not in use.
"""

from __future__ import annotations

from sev1bot.mattermost.inbound import Click

NOT_IN_USE = "This button is not in use."


class ActionFront:
    async def handle(self, click: Click) -> str | None:
        """The text to show the person who clicked, or None to show nothing."""
        return NOT_IN_USE
