"""What counts as a CSAT answer and as an opt-out (SPEC §10), including
the spellings carriers use for STOP and hostile look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.services.csat import is_stop, parse_answer


@pytest.mark.parametrize(("text", "rating", "comment"), [
    ("5 great", 5, "great"), ("5", 5, ""), ("4/5 quick answer", 4, "quick answer"),
    ("👍", 5, ""), ("👎 too slow", 1, "too slow"), ("ottimo", 5, ""), ("Sehr gut!", 5, "!"[1:]),
    ("1 - never again", 1, "never again"),
])
def test_answers(text: str, rating: int, comment: str) -> None:
    got = parse_answer(text)
    assert got is not None and (got.rating, got.comment) == (rating, comment)


@pytest.mark.parametrize("text", ["1042", "10", "0", "6", "3.5", "good morning, one more question?",
                                  "Where is my parcel? Order 5", "", "thanks"])
def test_not_answers(text: str) -> None:
    assert parse_answer(text) is None


@given(st.integers(1, 5), st.text(alphabet=st.characters(blacklist_characters="?0123456789"),
                                  max_size=80))
def test_a_score_then_any_comment(score: int, comment: str) -> None:
    got = parse_answer(f"{score} {comment}")
    assert got is not None and got.rating == score
    assert got.comment == got.comment.strip()


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", " STOP ", "ＳＴＯＰ", "S\u200bTOP", "st\u00adop",
                                  "STOPALL", "Stop all", "UNSUBSCRIBE", "cancel", "END", "QUIT",
                                  "opt-out", "OPTOUT", "Arrêt", "basta!", "STOP 🛑"])
def test_stop_spellings(text: str) -> None:
    assert is_stop(text)


@pytest.mark.parametrize("text", ["Don't stop", "stop by tomorrow", "it stopped working",
                                  "STOP sending me the wrong size", "non-stop", "stops", "S T O P X"])
def test_not_stop(text: str) -> None:
    assert not is_stop(text)
