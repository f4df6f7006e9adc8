"""Rule patterns: which may search without regex's timer (a worst case
provably bounded on a short text), and that both ways find the same."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.services import rules


@pytest.mark.parametrize("pattern", [
    r"(x+x+)+y", r"(a|aa)*b", r"(a?){20}a{20}", r"(\d{2}){3}", r"(a)\1", r"(?:foo){e<=1}",
    r"\p{L}+", r"(?<a>x)(?(a)y|z)",
])
def test_patterns_that_could_backtrack_for_ever_always_run_with_the_timer(pattern: str) -> None:
    assert rules._fast_limit(pattern) == 0


@pytest.mark.parametrize(("pattern", "limit"), [
    (r"^(hi|hello|ciao)\b", 100_000), (r"order\s*#?\d{4}", 1000), (r"a.*a.*b", 99),
    (r"ordine\s*(n\.?|nr\.?)?\s*\d{3,}", 31),
])
def test_a_bounded_pattern_skips_the_timer_only_on_short_texts(pattern: str, limit: int) -> None:
    assert rules._fast_limit(pattern) == limit


def test_a_catastrophic_pattern_on_a_long_text_times_out_once() -> None:
    evil = r"(x+x+)+y"
    rules._timed_out.discard(evil)
    assert rules.search(evil, "x" * 5000) is None
    assert evil in rules._timed_out
    rules._timed_out.discard(evil)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([r"order\s*#?\d{4}", r"\b\d{4}\b.*\b(refund|rimborso)\b", r"https?://\S+",
                        r"\+?\d[\d ]{8,}\d", r"(?i)\bcan(no|')?t\b", r"[!?]{3,}"]),
       st.text(alphabet="orderfunimbsz 0123456789#!?+:/htpsCANOT'", max_size=300))
def test_the_fast_path_finds_what_the_timed_search_finds(pattern: str, text: str) -> None:
    timed = regex.compile(pattern, regex.IGNORECASE | regex.V0).search(text, timeout=5) is not None
    assert rules.search(pattern, text) is timed


REQUIRING = [r"order\s*#?\d{4}", r"ordine\s*(n\.?|nr\.?)?\s*\d{3,}",
             r"\b\d{4}\b.*\b(refund|rimborso)\b", r"^(hi|hello|ciao)\b", r"https?://\S+",
             r"\b(iban|IBAN)\s*[A-Z]{2}\d{2}", r"(?i)\bcan(no|')?t\b", r"Kis(?-i:S)",
             r"[!?]{3,}", r"\bk{2,}s", r"a.*[hk]+!"]


def test_a_pattern_names_the_words_every_match_holds() -> None:
    assert rules._required(r"order\s*#?\d{4}") == ("order",)
    assert rules._required(r"\b\d{4}\b.*\b(refund|rimborso)\b") == ("refund", "rimborso")
    # regex's own syntax, read otherwise by re: no requirement, the pattern runs
    assert rules._required(r"[[:alpha:]]x") == ()
    assert rules._required(r"(?x) a b") == ()
    # a character, or one of a few, repeated: each way to write the run
    assert rules._required(r"[!?]{3,}") == ("!!!", "!!?", "!?!", "!??", "?!!", "?!?", "??!", "???")
    assert rules._required(r"x{20}") == ("xxxxxxxx",)
    assert rules._required(r"[abcde]{2}") == ("a", "b", "c", "d", "e")


def test_required_words_that_lead_the_pattern_decide_on_long_texts_too() -> None:
    """Without its leading words a search fails at each position within a
    few steps, so their absence decides on a text of any length the timer
    would allow, however many repeats follow; words after a repeat decide
    only where the pattern's own worst case is bounded (``_fast_limit``)."""
    assert rules._requirement(r"ordine\s*(n\.?|nr\.?)?\s*\d{3,}") == (("ordine",), 100_000)
    assert rules._requirement(r"^(hi|hello)\b") == (("hi", "hello"), 100_000)
    assert rules._requirement(r"a.*a.*order") == (("order",), 99)
    # a pattern that could backtrack for ever always runs with the timer
    assert rules._requirement(r"\border(x+x+)+y") == (("order",), 0)


def test_a_pattern_that_needs_a_digit_is_known() -> None:
    assert rules._digit_required(r"\+?\d[\d ]{8,}\d") == 1000
    assert rules._digit_required(r"\b[A-Z]{2}\d{9}[A-Z]{2}\b") == 100_000
    for pattern in (r"\d?x", r"(\d)x", r"(?x)\d", r"\D", r"(x+x+)+\d"):
        assert rules._digit_required(pattern) == 0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REQUIRING),
       st.text(alphabet="orderfunimbszhiacIBANTK!? 0123456789#:/'\u0130\u0131\u017f\u212a",
               max_size=60))
def test_a_text_without_the_required_words_is_no_match_as_the_search_says(pattern: str,
                                                                           text: str) -> None:
    """The look for a required word first (cased letters that fold to ASCII
    included) decides as the pattern itself."""
    from supportctl.config import Config
    from supportctl.models import Address

    ctx = rules.Context(store=None, ticket_id=1, medium="sms", account="shop",  # type: ignore[arg-type]
                        sender=Address("+1555", ""), to=[], subject=text, text=text,
                        language=None, sent_at="2026-12-09T10:00:00Z", message_id=None,
                        config=Config())
    low = rules._Lower(ctx)
    timed = regex.compile(pattern, regex.IGNORECASE | regex.V0).search(text, timeout=5) is not None
    assert rules._predicate("text", pattern)(ctx, low) is timed
    assert rules._predicate("subject", pattern)(ctx, low) is timed
