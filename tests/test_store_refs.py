"""Post refs as text: every ref survives the round trip, and bad text says what was expected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sev1bot.core.effects import ItemPost, PostRef, StageRoot, StatusBoard
from sev1bot.store.refs import ref_from_str, ref_to_str

positive = st.integers(min_value=1, max_value=10_000)
refs = st.one_of(
    st.just(StatusBoard()),
    positive.map(StageRoot),
    st.tuples(positive, positive).map(lambda pair: ItemPost(f"{pair[0]}.{pair[1]}")),
)


@given(refs)
def test_round_trip(ref: PostRef) -> None:
    assert ref_from_str(ref_to_str(ref)) == ref


def test_examples() -> None:
    assert [ref_to_str(r) for r in (StatusBoard(), StageRoot(2), ItemPost("2.3"))] == [
        "board",
        "stage:2",
        "item:2.3",
    ]


@pytest.mark.parametrize(
    "text", ["", "Board", "stage:0", "stage:x", "stage:-1", "item:2", "item:2.3.4", "item:a.b"]
)
def test_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected 'board', 'stage:<n>' or 'item:<stage>\.<item>'"):
        ref_from_str(text)


@pytest.mark.parametrize("ref", [StageRoot(0), StageRoot(True), ItemPost("2"), ItemPost("x.y"), "board"])
def test_bad_refs(ref: PostRef) -> None:
    with pytest.raises(ValueError, match="not a storable post ref"):
        ref_to_str(ref)
