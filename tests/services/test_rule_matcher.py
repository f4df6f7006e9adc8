"""The rules' combined matcher (one keyword scan per field for all rules,
only the rules a message can wake looked at) decides exactly what testing
each rule's conditions one by one decides."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.config import Config, Rule
from supportctl.models import Address
from supportctl.services import rules

# Few letters, so that words overlap, share prefixes and sit inside each
# other; characters whose lower case is longer or odd (İ, ẞ, Σ) too.
# Digits (an Arabic-Indic one too) and "!" for patterns that need them;
# K (the Kelvin sign), which regex takes for "k" and str.lower does not.
LETTERS = "abcdkİẞΣσ 1\u0663!\u212a"
WORDS = st.text(alphabet="abcdİẞΣσ", min_size=1, max_size=4)
KEYWORDS = st.lists(WORDS, min_size=1, max_size=4).map("|".join)
PATTERNS = st.sampled_from([r"a+b", r"^ab", r"c.d", r"\bab\b", r"(a|b)c{2}", r"σ{2}", r"d$", r"^$",
                            r"ab\d", r"\d{2}", r"a?\d", r"[!b]{2,}", r"^(ab|kc)\b", r"k+!",
                            r"a.*cd"])
TEXTS = st.text(alphabet=LETTERS, max_size=40)


@given(st.lists(st.lists(WORDS, min_size=1, max_size=5).map(tuple), min_size=1, max_size=8),
       TEXTS)
@settings(max_examples=200, deadline=None)
def test_one_scan_finds_the_lists_a_substring_test_finds(lists: list[tuple[str, ...]],
                                                         text: str) -> None:
    lists = [tuple(w.lower() for w in ws) for ws in lists]
    scanner = rules._Words(dict(enumerate(lists)))
    low = text.lower()
    assert scanner.scan(low) == {i for i, ws in enumerate(lists) if any(w in low for w in ws)}


@st.composite
def a_rule(draw: Any, i: int) -> Rule:
    conditions: dict[str, Any] = {}
    for key, values in (("subject", st.one_of(KEYWORDS, PATTERNS)),
                        ("text", st.one_of(KEYWORDS, PATTERNS)),
                        ("tag", st.sampled_from(["t0", "t1", "t2", ["t0", "t2"]])),
                        ("channel", st.sampled_from(["sms", "email"])),
                        ("language", st.sampled_from(["it", "en"])),
                        ("priority", st.sampled_from(["normal", "high"]))):
        if draw(st.booleans()) if key in ("subject", "text") else draw(st.integers(0, 5)) == 0:
            conditions[key] = draw(values)
    if not conditions:
        conditions["text"] = draw(KEYWORDS)
    return Rule(name=f"r{i}", match=conditions, tag=[draw(st.sampled_from(["t0", "t1", "t2"]))],
                priority=draw(st.sampled_from([None, None, "high"])),
                stop=draw(st.integers(0, 9)) == 0)


@st.composite
def a_config(draw: Any) -> Config:
    n = draw(st.integers(1, 12))
    return Config(rules=[draw(a_rule(i)) for i in range(n)])


def context(config: Config, subject: str, text: str, channel: str, language: str,
            tags: set[str]) -> rules.Context:
    return rules.Context(store=None, ticket_id=1, medium=channel, account="shop",  # type: ignore[arg-type]
                         sender=Address("+393331234567", ""), to=[], subject=subject, text=text,
                         language=language, sent_at="2026-12-09T10:00:00Z", message_id=None,
                         config=config, tags=set(tags), priority="normal")


def one_by_one(config: Config, ctx: rules.Context) -> list[str]:
    """Which rules match, each condition tested on its own (no scan, no plan)."""
    matched = []
    low = rules._Lower(ctx)
    for rule in config.rules:
        conds = [rules._predicate(k, v) for k, v in rules._sorted_conditions(rule)]
        if all(pred(ctx, low) for pred in conds):
            matched.append(rule.name)
            ctx.tags.update(rule.tag)
            ctx.priority = rule.priority or ctx.priority
            if rule.stop:
                break
    return matched


@given(a_config(), TEXTS, TEXTS, st.sampled_from(["sms", "email"]), st.sampled_from(["it", "en"]),
       st.sets(st.sampled_from(["t0", "t1", "t2"])))
@settings(max_examples=200, deadline=None)
def test_the_combined_matcher_decides_as_each_rule_alone(config: Config, subject: str, text: str,
                                                         channel: str, language: str,
                                                         tags: set[str]) -> None:
    expected = one_by_one(config, context(config, subject, text, channel, language, tags))
    fast = rules.evaluate(None, config, context(config, subject, text, channel, language, tags),  # type: ignore[arg-type]
                          explain=False)
    assert [o.rule for o in fast if o.matched] == expected
    explained = rules.evaluate(None, config, context(config, subject, text, channel, language, tags),  # type: ignore[arg-type]
                               explain=True)
    assert [o.rule for o in explained if o.matched] == expected


def test_a_pattern_that_timed_out_is_still_reported_where_its_words_are_missing() -> None:
    """A rule gated on its pattern's words is looked at all the same once
    the pattern has timed out in this process: the ticket says so, as
    before the gate."""
    config = Config(rules=[Rule(name="orders", match={"text": r"order\s*#?\d{4}"}, tag=["t0"])])
    ctx = context(config, "", "no number here", "sms", "en", set())
    assert rules.evaluate(None, config, ctx, explain=False) == []  # type: ignore[arg-type]
    rules._timed_out.add(r"order\s*#?\d{4}")
    try:
        out = rules.evaluate(None, config, ctx, explain=False)  # type: ignore[arg-type]
    finally:
        rules._timed_out.discard(r"order\s*#?\d{4}")
    assert [(o.rule, o.matched, o.timed_out) for o in out] == [("orders", False, ["text"])]


def test_a_text_longer_than_the_words_decide_on_runs_the_pattern() -> None:
    """Past the length where a missing word decides (the pattern's worst
    case there could take longer than the timer allows), the rule is looked
    at and its pattern searched, with the timer."""
    config = Config(rules=[Rule(name="late", match={"text": r"a.*a.*order"}, tag=["t0"])])
    plan = rules._plan(config)
    for text, looked_at in (("x" * 99, False), ("x" * 100, True)):
        ctx = context(config, "", text, "sms", "en", set())
        assert (0 in plan.candidates(ctx, rules._Lower(ctx, plan))) is looked_at
