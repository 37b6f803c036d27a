"""ReactionBook: the reactions on each item post as the bot last saw them (service/reactionbook.py)."""

from __future__ import annotations

from sev1bot.mattermost.events import Reaction
from sev1bot.service.reactionbook import ReactionBook

CHECK, SKIP = "white_check_mark", "fast_forward"


def r(user: str, emoji: str = CHECK, post: str = "p1", at: int = 1, deleted: int = 0) -> Reaction:
    return Reaction(user_id=user, post_id=post, emoji_name=emoji, create_at=at, delete_at=deleted)


def pairs(reactions: list[Reaction] | None) -> set[tuple[str, str]]:
    assert reactions is not None
    return {(x.user_id, x.emoji_name) for x in reactions}


def test_an_unknown_post_is_not_guessed() -> None:
    book = ReactionBook()
    assert book.apply(r("u1"), True) is None
    assert book.apply(r("u1"), False) is None
    assert len(book) == 0, "applying to an unknown post does not start tracking it"
    assert book.apply(r("u1"), True) is None


def test_seed_then_events_on_top() -> None:
    book = ReactionBook()
    assert pairs(book.seed("p1", [r("u1"), r("u2", SKIP)])) == {("u1", CHECK), ("u2", SKIP)}
    assert len(book) == 1
    assert pairs(book.apply(r("u3"), True)) == {("u1", CHECK), ("u2", SKIP), ("u3", CHECK)}
    assert pairs(book.apply(r("u1"), False)) == {("u2", SKIP), ("u3", CHECK)}
    assert pairs(book.apply(r("u2", SKIP), False)) == {("u3", CHECK)}
    assert pairs(book.apply(r("u3"), False)) == set()
    assert book.apply(r("u3"), True) is not None, "a post with no reactions left is still known"


def test_posts_are_kept_apart() -> None:
    book = ReactionBook()
    book.seed("p1", [r("u1")])
    book.seed("p2", [])
    assert pairs(book.apply(r("u2", post="p2"), True)) == {("u2", CHECK)}
    assert pairs(book.apply(r("u3", post="p1"), True)) == {("u1", CHECK), ("u3", CHECK)}
    assert book.apply(r("u2", post="p3"), True) is None


def test_a_person_may_react_with_several_emoji_and_remove_one() -> None:
    book = ReactionBook()
    book.seed("p1", [])
    book.apply(r("u1", CHECK), True)
    book.apply(r("u1", SKIP), True)
    book.apply(r("u1", "heavy_check_mark"), True)
    assert pairs(book.apply(r("u1", CHECK), False)) == {("u1", SKIP), ("u1", "heavy_check_mark")}


def test_duplicate_events_change_nothing() -> None:
    book = ReactionBook()
    book.seed("p1", [r("u1", at=5)])
    first = book.apply(r("u1", at=5), True)
    again = book.apply(r("u1", at=9), True)  # a replayed add, or one the seed already showed
    assert first is not None and again is not None
    assert [x.create_at for x in again] == [5], "the reaction first seen is kept, not duplicated"
    assert (
        pairs(book.apply(r("u2"), True)) == pairs(book.apply(r("u2"), True)) == {("u1", CHECK), ("u2", CHECK)}
    )
    assert pairs(book.apply(r("u2"), False)) == {("u1", CHECK)}
    assert pairs(book.apply(r("u2"), False)) == {("u1", CHECK)}, "removing what is gone is no error"


def test_events_the_seed_already_shows_converge_on_the_server() -> None:
    """A seed taken after events, then those events applied on top: the last change of each pair wins."""
    book = ReactionBook()
    # The server has: u1 check (added, removed, added again), u2 skip removed.
    book.seed("p1", [r("u1", at=3)])
    book.apply(r("u1", at=1), True)
    book.apply(r("u1", at=1, deleted=2), False)
    book.apply(r("u2", SKIP, at=2), True)
    book.apply(r("u1", at=3), True)  # a new reaction: the server gives it a new time
    after = book.apply(r("u2", SKIP, at=2, deleted=4), False)
    assert pairs(after) == {("u1", CHECK)}


def test_seed_replaces_what_is_known() -> None:
    book = ReactionBook()
    book.seed("p1", [r("u1"), r("u2")])
    assert pairs(book.seed("p1", [r("u3")])) == {("u3", CHECK)}
    assert pairs(book.apply(r("u4"), True)) == {("u3", CHECK), ("u4", CHECK)}


def test_seed_without_replace_keeps_a_known_post() -> None:
    book = ReactionBook()
    book.seed("p1", [r("u1")])
    book.apply(r("u2"), True)  # seen since the (older) post list was read
    kept = book.seed("p1", [r("u1"), r("u9")], replace=False)
    assert pairs(kept) == {("u1", CHECK), ("u2", CHECK)}
    assert pairs(book.apply(r("u3"), True)) == {("u1", CHECK), ("u2", CHECK), ("u3", CHECK)}
    # An unknown post is seeded as if replace were True.
    assert pairs(book.seed("p2", [r("u5", post="p2")], replace=False)) == {("u5", CHECK)}
    assert len(book) == 2


def test_deleted_reactions_are_not_seeded() -> None:
    book = ReactionBook()
    seeded = book.seed("p1", [r("u1", deleted=123), r("u2"), r("u3", SKIP, deleted=1)])
    assert pairs(seeded) == {("u2", CHECK)}
    # The deleted one can be added again later.
    assert pairs(book.apply(r("u1"), True)) == {("u1", CHECK), ("u2", CHECK)}


def test_the_same_pair_twice_in_a_seed_is_one_reaction() -> None:
    book = ReactionBook()
    assert len(book.seed("p1", [r("u1", at=1), r("u1", at=2)])) == 1


def test_the_returned_list_is_a_copy() -> None:
    book = ReactionBook()
    seeded = book.seed("p1", [r("u1")])
    seeded.clear()
    applied = book.apply(r("u2"), True)
    assert applied is not None
    applied.clear()
    assert pairs(book.apply(r("u3"), True)) == {("u1", CHECK), ("u2", CHECK), ("u3", CHECK)}


def test_forget_all_trusts_nothing_until_seeded_again() -> None:
    book = ReactionBook()
    book.seed("p1", [r("u1")])
    book.seed("p2", [r("u1", post="p2")])
    book.forget_all()
    assert len(book) == 0
    assert book.apply(r("u2"), True) is None
    assert book.apply(r("u1", post="p2"), False) is None
    assert pairs(book.seed("p1", [r("u2")], replace=False)) == {("u2", CHECK)}, "nothing old is kept"


def test_max_posts_bounds_memory() -> None:
    book = ReactionBook(max_posts=3)
    for n in range(3):
        book.seed(f"p{n}", [r("u1", post=f"p{n}")])
    assert len(book) == 3
    # Reseeding a known post is not growth.
    book.seed("p1", [r("u2", post="p1")])
    assert len(book) == 3
    assert book.apply(r("u3", post="p0"), True) is not None
    # A fourth post: the bound drops what it knew, and the new post is tracked.
    assert pairs(book.seed("p3", [r("u1", post="p3")])) == {("u1", CHECK)}
    assert len(book) <= 3
    assert book.apply(r("u4", post="p3"), True) is not None
    dropped = [p for p in ("p0", "p1", "p2") if book.apply(r("u5", post=p), True) is None]
    assert dropped, "something was dropped to stay within the bound"
    for post in dropped:  # anything dropped is seeded again on demand
        assert pairs(book.seed(post, [r("u6", post=post)])) == {("u6", CHECK)}
    assert len(book) <= 3


def test_many_posts_within_the_bound_are_all_kept() -> None:
    book = ReactionBook(max_posts=100)
    for n in range(100):
        book.seed(f"p{n}", [])
    assert len(book) == 100
    assert all(book.apply(r("u1", post=f"p{n}"), True) is not None for n in range(100))


def test_an_add_that_arrives_after_the_removal_of_the_same_reaction_does_not_bring_it_back() -> None:
    """Events delivered out of order: the removal first, then (late) the add it removed."""
    book = ReactionBook()
    assert book.apply(r("u1", at=10), False) is None  # unknown post: the caller seeds it
    assert pairs(book.seed("p1", [])) == set()  # the server has nothing now
    assert pairs(book.apply(r("u1", at=10), True)) == set(), "the late add of the removed reaction"
    assert pairs(book.apply(r("u1", at=12), True)) == {("u1", CHECK)}, "a new reaction, made later"


def test_a_removal_older_than_the_reaction_there_now_does_not_take_it_away() -> None:
    book = ReactionBook()
    book.seed("p1", [])
    assert pairs(book.apply(r("u1", at=10), True)) == {("u1", CHECK)}
    assert pairs(book.apply(r("u1", at=20), True)) == {("u1", CHECK)}  # re-added (its removal is late)
    assert pairs(book.apply(r("u1", at=10, deleted=15), False)) == {("u1", CHECK)}, "the late removal"
    assert pairs(book.apply(r("u1", at=20, deleted=25), False)) == set()


def test_repeated_events_and_events_without_times_are_applied_as_before() -> None:
    book = ReactionBook()
    book.seed("p1", [])
    for _ in range(2):  # duplicates change nothing
        assert pairs(book.apply(r("u1", at=10), True)) == {("u1", CHECK)}
    for _ in range(2):
        assert pairs(book.apply(r("u1", at=10), False)) == set()
    assert pairs(book.apply(r("u2", at=0), True)) == {("u2", CHECK)}  # no times: in arrival order
    assert pairs(book.apply(r("u2", at=0), False)) == set()
    assert pairs(book.apply(r("u2", at=0), True)) == {("u2", CHECK)}
