"""The reactions on each item post, as the bot last saw them: seeded from the server, kept by the websocket.

Deciding a reaction needs everything the post carries (a removed check mark reopens the item only if it was
the last one). Asking the server for that on every reaction cost a request per reaction, the largest share
of the bot's work under load (docs/performance.md). Mattermost clients do what this does instead: take the
post's reactions once (a GET, or the post lists reconciliation reads anyway), then apply each
``reaction_added``/``reaction_removed`` in the order the websocket delivers them.

Why this converges: a seed is a snapshot taken after the event being handled, and the events after it are
applied on top. Adding or removing one (user, emoji) is idempotent and the last change of each pair wins,
so replaying events the snapshot already shows ends where the server is. Events lost in a websocket gap
that could not be resumed are the one way to drift; reconciliation then reseeds every post it reads, and
``forget_all`` drops what it does not read.

Events can also arrive out of order (a server or proxy that reorders its broadcasts): an add that arrives
after the removal of that same reaction must not bring it back. Each event carries the reaction's times, so
the book remembers, per (post, user, emoji), the latest change it saw and ignores an older one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sev1bot.mattermost.events import Reaction

_Key = tuple[str, str]  # (user id, emoji name)
_Seen = tuple[int, bool]  # the latest change of a (user, emoji) seen: its time (ms), and whether a removal


class ReactionBook:
    def __init__(self, *, ignore_user: str = "", max_posts: int = 50_000) -> None:
        self._posts: dict[str, dict[_Key, Reaction]] = {}
        self._seen: dict[str, dict[_Key, _Seen]] = {}  # post id -> the latest change of each pair
        self._ignore = ignore_user  # whose reactions are never tracked (the bot's own)
        self._max_posts = max_posts

    def __len__(self) -> int:
        return len(self._posts)

    def apply(self, reaction: Reaction, added: bool) -> list[Reaction] | None:
        """Apply a websocket event; the post's reactions after it, or None if the post is not known yet
        (then ``seed`` it from the server)."""
        fresh = self._fresh(reaction, added)
        marks = self._posts.get(reaction.post_id)
        if marks is None:
            return None
        if reaction.user_id == self._ignore or not fresh:
            return list(marks.values())
        key = (reaction.user_id, reaction.emoji_name)
        if added:
            marks.setdefault(key, reaction)
        else:
            marks.pop(key, None)
        return list(marks.values())

    def _fresh(self, reaction: Reaction, added: bool) -> bool:
        """Note the event's time; False if an event already seen for the same (user, emoji) is newer (or is
        the removal of this very reaction). Events without times (older servers) are always fresh."""
        at = reaction.create_at if added else max(reaction.create_at, reaction.update_at, reaction.delete_at)
        if at <= 0:
            return True
        if reaction.post_id not in self._seen and len(self._seen) >= self._max_posts:
            self._seen.clear()  # the same bound as the posts'
        seen = self._seen.setdefault(reaction.post_id, {})
        key = (reaction.user_id, reaction.emoji_name)
        latest = seen.get(key)
        if latest is not None and (at < latest[0] or (at == latest[0] and added and latest[1])):
            return False
        seen[key] = (at, not added)
        return True

    def seed(self, post_id: str, reactions: Iterable[Reaction], *, replace: bool = True) -> list[Reaction]:
        """Take what the server says the post carries (a GET or a post list); the post's reactions now.

        ``replace=False`` keeps what is known already: reconciliation reads its post lists before it
        seeds from them, and a post seeded meanwhile (by a GET, events applied since) is newer.
        """
        known = self._posts.get(post_id)
        if known is not None and not replace:
            return list(known.values())
        if known is None and len(self._posts) >= self._max_posts:
            self._posts.clear()  # a bound, not a policy: anything dropped is seeded again on demand
            self._seen.clear()
        marks = {
            (r.user_id, r.emoji_name): r for r in reactions if not r.delete_at and r.user_id != self._ignore
        }
        self._posts[post_id] = marks
        return list(marks.values())

    def forget_all(self) -> None:
        """Events may have been lost: trust nothing until seeded again."""
        self._posts.clear()
        self._seen.clear()
