"""Rules (SPEC §10): run on each new inbound message, in order, inside the
ingest transaction. A rule matches when every condition does; its actions
are then applied, each an event whose actor is ``rule:NAME``; ``stop``
ends the run.

Conditions: channel, account, language, priority, tag (a value or a list:
any of), from/to (an address, ``@domain`` with its subdomains, or the old
form: a case-insensitive substring of "Name <address>"), subject/text (a
regular expression, case-insensitive, searched), new_contact and
outside_hours (true/false). Later rules see the tags and priority earlier
ones set.

Regular expressions are customer-facing attack surface: a pattern such as
``(x+x+)+y`` backtracks for ever on the right text, and a 1 MB message
makes any pattern slow. Patterns run in the ``regex`` library with a time
limit (``REGEX_TIMEOUT``); a search that hits it counts as no match, is
recorded on the ticket (``rule.timeout``) and the pattern is not run again
in this process, so one bad rule costs ``sync`` at most that once. A
pattern that is only words separated by ``|`` (the common case: "refund|
rimborso") is a substring test, which is several times faster.

The time limit itself costs: ``regex`` arms a timer on every search with
one, about 15 µs, more than most searches of an SMS take. So each pattern
is classified once (``_fast_limit``): one whose worst case is provably
polynomial (no repeat inside a repeat, no alternation inside a repeat, no
backreference, nothing ``re``'s parser does not know) runs without the
timer on a text short enough that its worst case is about a million steps
(a few milliseconds); everything else, and every longer text, runs with
the limit as before.

Most messages need few patterns run at all: a pattern's required words
(``_requirement``: ``order`` in ``order\\s*#?\\d{4}``, ``!!!`` or its
mixes in ``[!?]{3,}``), or a digit it must hold (``_digit_required``), are
looked for in the one scan of the message that finds the rules' keyword
lists, and a rule whose first pattern needs what the message lacks is not
looked at (``_Plan.candidates``), where that absence alone decides: a text
no longer than the pattern's limit, without a character that folds to an
ASCII letter, the pattern not timed out.

``evaluate`` decides (reading the store, never writing) and ``apply_rules``
carries the outcome out, so ``rules test ID`` shows exactly what a sync
would do.
"""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from supportctl.models import Address, Inbound
from supportctl.services import triage
from supportctl.store import workflows
from supportctl.store.db import Store
from supportctl.values import parse_iso, shift

log = logging.getLogger("supportctl.rules")

#: Seconds one regular-expression search may take.
REGEX_TIMEOUT = 0.25
_LITERALS = re.compile(r"[\w ]+(?:\|[\w ]+)*")
_compiled: dict[str, Any] = {}
#: Patterns that hit the time limit in this process: skipped from then on.
_timed_out: set[str] = set()
#: outside_hours per (hours, UTC minute "YYYY-MM-DDTHH:MM"); hours objects
#: are cached for the process (services.sla), so their ids are stable.
_outside_by_minute: dict[tuple[int, str], bool] = {}


@dataclass
class Context:
    """What the rules look at: one inbound message and its ticket."""

    store: Store
    ticket_id: int
    medium: str
    account: str
    sender: Address | None
    to: list[Address]
    subject: str
    text: str
    language: str | None
    sent_at: str
    message_id: int | None
    config: Any
    tags: set[str] = field(default_factory=set)
    priority: str = "normal"

    @cached_property
    def contact_id(self) -> int | None:
        return workflows.ticket_contact(self.store, self.ticket_id)

    @cached_property
    def new_contact(self) -> bool:
        """The contact has written nothing before this message."""
        return workflows.contact_inbound_count(self.store, self.contact_id, self.message_id) == 0

    @cached_property
    def outside_hours(self) -> bool:
        from supportctl.services.sla import hours_from_config

        return _outside(hours_from_config(self.config), self.sent_at)


def _outside(hours: Any, sent_at: str) -> bool:
    """Whether ``sent_at`` (ISO 8601) is outside business ``hours``;
    False without working periods."""
    if hours is None or not hours.periods:
        return False
    # Working periods open and close on whole local minutes, so within
    # one UTC minute (in a zone whose offset is whole minutes) the answer
    # is the same: a sync of many messages asks once per minute.
    key = (id(hours), sent_at[:16])
    found = _outside_by_minute.get(key)
    if found is not None:
        return found
    from supportctl.services.sla import is_business_time

    when = parse_iso(sent_at)
    if when is None:
        return False
    found = not is_business_time(when, hours)
    offset = when.astimezone(hours.tz).utcoffset()
    if len(sent_at) == 20 and offset is not None and not offset.seconds % 60:
        if len(_outside_by_minute) > 10_000:
            _outside_by_minute.clear()
        _outside_by_minute[key] = found
    return found


@dataclass
class Outcome:
    rule: str
    matched: bool
    #: (action, value) in the order they apply
    actions: list[tuple[str, Any]] = field(default_factory=list)
    #: why it did not match, or what went wrong (a timed-out pattern)
    reason: str = ""
    timed_out: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "matched": self.matched, "reason": self.reason or None,
                "actions": [{"action": a, "value": v} for a, v in self.actions]}


def _pattern(pattern: str) -> Any:
    """``("words", words, 0)`` or ``("regex", compiled, fast_limit)``."""
    p = _compiled.get(pattern)
    if p is None:
        if _LITERALS.fullmatch(pattern):
            words = tuple(w.lower() for w in pattern.split("|"))
            p = _compiled[pattern] = ("words", words, 0)
        else:
            import regex

            p = _compiled[pattern] = ("regex", regex.compile(pattern, regex.IGNORECASE | regex.V0),
                                      _fast_limit(pattern))
    return p


#: Worst-case backtracking steps a search may take without the timer: about
#: ten nanoseconds each, so a few milliseconds.
_FAST_STEPS = 1e6
#: Longest text searched without the timer, whatever the pattern.
_FAST_MAX = 100_000
#: regex's fuzzy matching (``(?:foo){e<=1}``) reads as literal braces to
#: ``re``'s parser: never the fast path.
_FUZZY = re.compile(r"\{[^}]*[^\d,}][^}]*\}")


class _Unsafe(Exception):
    pass


def _fast_limit(pattern: str) -> int:
    """The longest text ``pattern`` may search without the timer: 0 for a
    pattern that could backtrack exponentially (or that ``re`` cannot
    parse: regex's own syntax), else what keeps its worst case, about
    n^(k+1) steps for k variable-length repeats in sequence, under
    ``_FAST_STEPS``."""
    import re._parser as sre  # type: ignore[import-not-found]

    if _FUZZY.search(pattern):
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set": regex syntax
            k = _variable_repeats(sre.parse(pattern))
    except (_Unsafe, re.error, RecursionError, OverflowError):
        return 0
    return min(_FAST_MAX, int(_FAST_STEPS ** (1 / (k + 1))))


def _variable_repeats(sub: Any) -> int:
    """How many variable-length repeats follow one another in a parsed
    pattern (alternatives: the worst); raises ``_Unsafe`` where the count
    does not bound the work."""
    import re._constants as c  # type: ignore[import-not-found]

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))
    k = 0
    for op, av in sub:
        if op in repeats:
            lo, hi, body = av
            inner = _variable_repeats(body)
            if hi > 1 and (inner or _branches(body)):
                raise _Unsafe  # (a+)+, (a|aa)*: exponential
            k += inner + (1 if hi > 1 and hi != lo else 0)
        elif op is c.SUBPATTERN:
            k += _variable_repeats(av[3])
        elif op is c.ATOMIC_GROUP:
            k += _variable_repeats(av)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            k += _variable_repeats(av[1])
        elif op is c.BRANCH:
            k += max(_variable_repeats(b) for b in av[1])
        elif op in (c.GROUPREF, c.GROUPREF_EXISTS, c.GROUPREF_IGNORE, c.GROUPREF_UNI_IGNORE,
                    c.GROUPREF_LOC_IGNORE):
            raise _Unsafe
    return k


def _branches(sub: Any) -> bool:
    """Whether a parsed pattern holds an alternation or any repeat."""
    import re._constants as c

    for op, av in sub:
        if op in (c.BRANCH, c.MAX_REPEAT, c.MIN_REPEAT) or op is getattr(c, "POSSESSIVE_REPEAT", None):
            return True
        if op is c.SUBPATTERN and _branches(av[3]):
            return True
        if op is c.ATOMIC_GROUP and _branches(av):
            return True
        if op in (c.ASSERT, c.ASSERT_NOT) and _branches(av[1]):
            return True
    return False


#: Characters that ``regex``'s case-insensitive matching takes for an ASCII
#: letter while ``str.lower`` does not turn them into it (İ ı ſ, and the
#: Kelvin sign): found by trying every code point. A text without them
#: holds a pattern's ASCII literal, in any case, only where its lower-cased
#: form holds the literal in lower case. (Four ``in`` tests: on a text of
#: Latin-1 characters each answers at once, without reading the text.)
_FOLDS_TO_ASCII = "\u0130\u0131\u017f\u212a"


def _required(pattern: str) -> tuple[str, ...]:
    """Words (ASCII, lower case) one of which every match of ``pattern``
    contains, so a text whose lower-cased form holds none of them cannot
    match (``_requirement``)."""
    return _requirement(pattern)[0]


#: What ``_requirement`` found for each pattern.
_requirements: dict[str, tuple[tuple[str, ...], int]] = {}


def _requirement(pattern: str) -> tuple[tuple[str, ...], int]:
    """Words (ASCII, lower case) one of which every match of ``pattern``
    contains, so a text whose lower-cased form holds none of them cannot
    match: a run of literal characters in the pattern's top-level sequence
    (``order`` in ``order\\s*#?\\d{4}``), a top-level group that is only
    literal alternatives (``(refund|rimborso)``), or a top-level repeat, at
    least once, of one ASCII character or a set of them (``[!?]{3,}``: "!"
    or "?"); the longest such requirement. Empty when there is none, or
    ``re`` cannot read the pattern (regex's own syntax): then the pattern
    always runs.

    With the words, the longest text on which their absence decides "no
    match" without the search: ``_fast_limit``'s, where the search could
    take no longer than the timer allows; longer when the requirement
    leads the pattern (only zero-width tests and single characters before
    it, as ``ordine\\s*…``, ``^(hi|hello)\\b``): then a search of a text
    without the words fails at each position within those few steps, so
    it costs a few steps a character whatever comes after."""
    found_before = _requirements.get(pattern)
    if found_before is not None:
        return found_before
    words, leading = _requirement_of(pattern)
    limit = _pattern(pattern)[2] if words else 0
    if words and leading is not None and limit:
        # about (leading items + the longest word) steps a position
        steps = leading + max(len(w) for w in words) + 1
        limit = max(limit, min(_FAST_MAX, int(_FAST_STEPS / steps)))
    found = _requirements[pattern] = (words, limit)
    return found


def _digit_required(pattern: str) -> int:
    """For a pattern every match of which holds a digit (``\\d`` at its top
    level, or repeated there at least once: ``\\+?\\d[\\d ]{8,}\\d``), the
    longest text on which a text without one (``_DIGIT``, the same engine)
    cannot match without the search: ``_fast_limit``'s; else 0."""
    import re._constants as c
    import re._parser as sre  # type: ignore[import-not-found]

    limit = _pattern(pattern)[2]
    if not limit or _FUZZY.search(pattern):
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = sre.parse(pattern)
    except (re.error, RecursionError, OverflowError, Warning):
        return 0
    if parsed.state.flags & (re.VERBOSE | re.LOCALE):
        return 0
    digit = [(c.IN, [(c.CATEGORY, c.CATEGORY_DIGIT)])]
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))
    for op, av in parsed:
        if [(op, av)] == digit or (op in repeats and av[0] >= 1 and list(av[2]) == digit):
            return limit
    return 0


#: A digit, as ``regex`` reads ``\\d`` in a rule's pattern.
_DIGIT: Any = None


def _has_digit(text: str) -> bool:
    global _DIGIT
    if _DIGIT is None:
        import regex

        _DIGIT = regex.compile(r"\d", regex.IGNORECASE | regex.V0)
    return _DIGIT.search(text) is not None


def _requirement_of(pattern: str) -> tuple[tuple[str, ...], int | None]:
    """``_requirement``'s words, and how many single-step items come before
    them in the pattern (None unless only such items do)."""
    import re._constants as c
    import re._parser as sre  # type: ignore[import-not-found]

    if _FUZZY.search(pattern):
        return (), None
    try:
        with warnings.catch_warnings():
            # "possible nested set": ``[[:alpha:]]`` is a class to regex and
            # a class then a literal "]" to re: no requirement from re's reading.
            warnings.simplefilter("error")
            parsed = sre.parse(pattern)
    except (re.error, RecursionError, OverflowError, Warning):
        return (), None
    if parsed.state.flags & (re.VERBOSE | re.LOCALE):
        return (), None

    def literal(items: Any) -> str | None:
        """The text of a sequence of ASCII literals, else None."""
        out = []
        for op, av in items:
            if op is not c.LITERAL or av > 127:
                return None
            out.append(chr(av))
        return "".join(out).lower() if out else None

    def characters(op: Any, av: Any) -> tuple[str, ...] | None:
        """The characters (lower case) one item that matches one ASCII
        character of a few matches: a literal, a set of literals."""
        if op is c.LITERAL and av <= 127:
            return (chr(av).lower(),)
        if op is c.IN and av and all(o is c.LITERAL and a <= 127 for o, a in av):
            return tuple(dict.fromkeys(chr(a).lower() for _, a in av))
        return None

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT))
    # (words, single-step items before them, or None when anything else is)
    found: list[tuple[tuple[str, ...], int | None]] = []
    run: list[str] = []
    run_at: int | None = 0
    before: int | None = 0  # single-step items so far (None: something else came)

    def step(n: int | None) -> None:
        nonlocal before
        before = None if before is None or n is None else before + n

    for op, av in parsed:
        if op is c.LITERAL and av <= 127:
            if not run:
                run_at = before
            run.append(chr(av))
            continue
        if run:
            found.append((("".join(run).lower(),), run_at))
            step(len(run))
            run = []
        if op is c.SUBPATTERN and not av[1] and not av[2]:  # a group that changes no flag
            body = list(av[3])
            if body and body[-1][0] is c.BRANCH:
                # re's parser takes a common first letter out: (refund|rimborso)
                # reads as r(efund|imborso)
                head = literal(body[:-1]) if len(body) > 1 else ""
                words = [literal(alt) for alt in body[-1][1][1]]
                if head is not None and all(words):
                    found.append((tuple(head + w for w in words if w), before))
            else:
                word = literal(body)
                if word:
                    found.append(((word,), before))
            step(None)
        elif op in repeats and av[0] >= 1 and len(av[2]) == 1:
            chars = characters(*av[2][0])
            if chars:
                # at least ``n`` of them in a row: each way to write them
                # (a few: "!!!", "!!?", … for [!?]{3,})
                n = 1
                while n < min(av[0], 8) and len(chars) ** (n + 1) <= 16:
                    n += 1
                found.append((tuple("".join(w) for w in itertools.product(chars, repeat=n)),
                              before))
            step(None)
        elif op is c.AT:
            step(0)
        elif op in (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY):
            step(1)
        else:
            step(None)
    if run:
        found.append((("".join(run).lower(),), run_at))
    if not found:
        return (), None
    best, at = max(found, key=lambda f: min(len(w) for w in f[0]))
    return tuple(dict.fromkeys(best)), at


def search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` occurs in ``text``; None when it timed out."""
    return _searcher(pattern)(text)


_searchers: dict[str, Callable[[str], bool | None]] = {}


def _searcher(pattern: str) -> Callable[[str], bool | None]:
    """``search`` for one pattern, its compiled form bound once."""
    found = _searchers.get(pattern)
    if found is not None:
        return found
    kind, p, fast = _pattern(pattern)
    if kind == "words":

        def words(text: str) -> bool | None:
            if pattern in _timed_out:
                return None
            low = text.lower()
            return any(w in low for w in p)

        found = words
    else:
        empty: list[bool] = []

        def regex(text: str) -> bool | None:
            if pattern in _timed_out:
                return None
            if not text:
                # Nothing to backtrack over (every SMS has an empty subject):
                # the answer is the pattern's own, found once.
                if not empty:
                    empty.append(p.search("") is not None)
                return empty[0]
            if len(text) <= fast:
                # A bounded worst case (see _fast_limit): no timer.
                return p.search(text) is not None
            try:
                return p.search(text, timeout=REGEX_TIMEOUT) is not None
            except TimeoutError:
                _timed_out.add(pattern)
                log.warning("a rule's pattern %r took over %s s and is skipped for the rest of "
                            "this run", pattern[:60], REGEX_TIMEOUT)
                return None

        found = regex
    _searchers[pattern] = found
    return found


def _any_of(want: Any) -> list[str]:
    return [want] if isinstance(want, str) else list(want)


def _address_matcher(want: str) -> Callable[[Address], bool]:
    """``@domain`` (and its subdomains), a whole address, or (the old
    form) a case-insensitive part of "Name <address>"."""
    w = want.strip().lower()
    if w.startswith("@"):
        dom, sub = w[1:], "." + w[1:]

        def in_domain(a: Address) -> bool:
            host = a.address.lower().rpartition("@")[2]
            return host == dom or host.endswith(sub)

        return in_domain
    if re.fullmatch(r"[^@\s]+@[^@\s]+", w):
        return lambda a: a.address.strip().lower() == w
    return lambda a: w in f"{a.name} <{a.address}>".lower()


class _Lower:
    """Lower-cased subject and text, made once per message, and which
    keyword lists of the rules occur in them (one scan per field for all
    rules: ``_Words``)."""

    __slots__ = ("subject", "text", "hits", "_folds")

    def __init__(self, ctx: Context, plan: _Plan | None = None) -> None:
        self.subject = ctx.subject.lower()
        self.text = ctx.text.lower()
        self.hits: set[int] = set()
        #: per field, whether it holds a character ``_FOLDS_TO_ASCII`` finds
        self._folds: dict[bool, bool] = {}
        if plan is not None:
            if plan.subject_words is not None and self.subject:
                self.hits |= plan.subject_words.scan(self.subject)
            if plan.text_words is not None and self.text:
                self.hits |= plan.text_words.scan(self.text)
            if plan.digits[True] and _has_digit(ctx.subject):
                self.hits.add(-1)
            if plan.digits[False] and _has_digit(ctx.text):
                self.hits.add(-2)

    def folds(self, subject: bool, text: str) -> bool:
        """Whether ``text`` (the original subject, or text) holds a
        character regex folds to an ASCII letter that ``str.lower`` does not
        (``_FOLDS_TO_ASCII``): looked for once per message, not once per
        pattern."""
        found = self._folds.get(subject)
        if found is None:
            found = self._folds[subject] = not text.isascii() and any(
                ch in text for ch in _FOLDS_TO_ASCII)
        return found


class _Words:
    """Every keyword list (``refund|rimborso``) of one field of a config's
    rules, searched in one pass over the lower-cased text instead of one
    substring test per word per rule.

    A keyword list matches when one of its words is a substring of the
    lower-cased text. The pass finds, at every position, the longest word
    that starts there (a lookahead over a trie of all the words, so
    overlapping words are all seen); any other word that starts there is a
    prefix of that one, so each word found stands for itself and for the
    words it begins with. The result is exactly the set of lists whose
    words occur (tests/services/test_rule_matcher.py checks it against the
    list-by-list test on random texts and lists)."""

    def __init__(self, lists: dict[int, tuple[str, ...]]) -> None:
        owners: dict[str, set[int]] = {}
        for ident, words in lists.items():
            for w in words:
                owners.setdefault(w, set()).add(ident)
        #: list ids that occur when this word (the longest at a position) occurs
        self.found: dict[str, frozenset[int]] = {
            u: frozenset(i for k in range(1, len(u) + 1) for i in owners.get(u[:k], ()))
            for u in owners}
        self.rx = re.compile(f"(?=({_trie(sorted(owners))}))")

    def scan(self, low: str) -> set[int]:
        hits: set[int] = set()
        found = self.found
        for word in set(self.rx.findall(low)):
            hits |= found[word]
        return hits


def _trie(words: list[str]) -> str:
    """A regular expression matching the longest of ``words`` (plain
    text, non-empty) that starts at a position: their trie, each node an
    alternation of distinct first characters, a word that goes on as a
    longer one made greedy-optional."""
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in node.items() if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    # Depth is the longest word: deeper than recursion allows only for a
    # keyword thousands of characters long, which the config never holds.
    return build(root)


# Cheap conditions first: most rules fail on one of them before any pattern runs.
_ORDER = ("channel", "account", "language", "priority", "tag", "from", "to", "outside_hours",
          "new_contact", "subject", "text")


Predicate = Callable[[Context, "_Lower"], "bool | None"]


def _predicate(key: str, want: Any, plan: _Plan | None = None) -> Predicate:
    """One condition as a function of the message; None means a pattern
    timed out. Built once per rule: the per-message work is the test alone.
    With a ``plan``, a keyword list is a lookup in the message's scan."""
    if key in ("channel", "account"):
        wants = tuple(w.lower() for w in _any_of(want))
        if len(wants) == 1:
            one = wants[0]
            if key == "channel":
                return lambda c, _l: one in c.medium
            return lambda c, _l: one in c.account.lower()
        if key == "channel":
            return lambda c, _l: any(w in c.medium for w in wants)
        return lambda c, _l: any(w in c.account.lower() for w in wants)
    if key in ("language", "priority"):
        allowed = frozenset(_any_of(want))
        if key == "language":
            return lambda c, _l: c.language in allowed
        return lambda c, _l: c.priority in allowed
    if key == "tag":
        tags = frozenset(_any_of(want))
        return lambda c, _l: not tags.isdisjoint(c.tags)
    if key in ("from", "to"):
        match = _address_matcher(want)
        if key == "from":
            return lambda c, _l: c.sender is not None and match(c.sender)
        return lambda c, _l: any(match(a) for a in c.to)
    if key == "new_contact":
        flag = bool(want)
        return lambda c, _l: c.new_contact is flag
    if key == "outside_hours":
        flag = bool(want)
        if plan is not None:
            hours = plan.hours
            return lambda c, _l: _outside(hours, c.sent_at) is flag
        return lambda c, _l: c.outside_hours is flag
    if key in ("subject", "text"):
        kind, p, _fast = _pattern(want)
        if kind == "words":
            if plan is not None:
                ident = plan.words_id(key, p)
                return lambda _c, low: ident in low.hits
            words = p

            def found(text: str) -> bool:
                for w in words:  # noqa: SIM110 - a plain loop: any() and a generator cost 2x here
                    if w in text:
                        return True
                return False

            if key == "subject":
                return lambda _c, low: found(low.subject)
            return lambda _c, low: found(low.text)
        test = _searcher(want)
        need, limit = _requirement(want)
        subject = key == "subject"
        if not need:
            if subject:
                return lambda c, _l: test(c.subject)
            return lambda c, _l: test(c.text)

        def required_first(c: Context, low: _Lower) -> bool | None:
            # A word every match holds, looked for in the lower-cased text
            # made for the keyword scan: most texts lack it, and then the
            # pattern need not run (nor its timer be armed).
            lowered, text = (low.subject, c.subject) if subject else (low.text, c.text)
            if len(text) > limit:
                # Searched with the timer: a pattern may time out there (and
                # say so on the ticket) whatever the answer; that stays so.
                return test(text)
            for w in need:
                if w in lowered:
                    return test(text)
            if low.folds(subject, text):
                return test(text)
            return None if want in _timed_out else False

        return required_first
    return lambda _c, _l: False


def _sorted_conditions(rule: Any) -> list[tuple[str, Any]]:
    return sorted(rule.match.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else 99)


def _is_regex(key: str, want: Any) -> bool:
    return key in ("subject", "text") and _pattern(want)[0] == "regex"


class _Rule:
    """One rule compiled for a plan: its conditions in evaluation order,
    and its ``gate``: the keyword lists it needs that are tested before
    any regular expression of it runs."""

    __slots__ = ("rule", "conditions", "gate", "required", "first", "group", "rest", "tags",
                 "priority", "stop")

    def __init__(self, rule: Any, plan: _Plan) -> None:
        self.rule = rule
        # What a match does, in the order ``evaluate`` lists it: tags and a
        # named assignee, a group's pick (made at match time), the rest.
        self.tags = list(rule.tag) if rule.tag else []
        self.first: list[tuple[str, Any]] = [("tag", self.tags)] if self.tags else []
        if rule.assign:
            self.first.append(("assign", rule.assign))
        self.group = not rule.assign and bool(getattr(rule, "assign_group", None))
        self.priority = rule.priority or None
        self.stop = bool(getattr(rule, "stop", False))
        self.rest: list[tuple[str, Any]] = [
            (action, value) for action, value in (
                ("priority", rule.priority), ("status", rule.status),
                ("note", getattr(rule, "note", None)), ("reply", getattr(rule, "reply", None)),
                ("notify", getattr(rule, "notify", None)), ("stop", self.stop or None))
            if value]
        conds = _sorted_conditions(rule)
        self.conditions = [(k, _predicate(k, v, plan)) for k, v in conds]
        gate: set[int] = set()
        #: (field, words id, longest text, pattern): the words its first
        #: pattern requires (``_requirement``), when no keyword list gates it
        self.required: tuple[str, int, int, str] | None = None
        for k, v in conds:
            if _is_regex(k, v):
                need, limit = _requirement(v)
                if not gate and need:
                    self.required = (k, plan.words_id(k, need), limit, v)
                elif not gate and _digit_required(v):
                    self.required = (k, plan.digit_id(k), _digit_required(v), v)
                break
            if k in ("subject", "text"):
                gate.add(plan.words_id(k, _pattern(v)[1]))
        # A rule whose gate is not all found fails on a pure condition
        # before any pattern of it could time out: skipping it changes
        # nothing (evaluate, explain=False). So does one whose first pattern
        # requires words the field lacks, where that alone decides (its
        # predicate, ``required_first``, then answers False at once):
        # ``_Plan.candidates`` says where.
        self.gate = frozenset(gate)


class _Plan:
    """A loaded config's rules, compiled once (per sync, per ``rules
    test``): predicates, the keyword scans of subject and text, business
    hours, and which rules each keyword list (or a pattern's required
    words, or a digit) can wake."""

    def __init__(self, config: Any, rules: list[Any]) -> None:
        from supportctl.services.sla import hours_from_config

        self.config = config
        self.rules_list = rules
        self.hours = hours_from_config(config)
        self._ids: dict[tuple[str, tuple[str, ...]], int] = {}
        #: per field (subject?): whether a rule is gated on a digit in it
        self.digits = {True: False, False: False}
        self.rules = [_Rule(r, self) for r in rules]
        lists: dict[str, dict[int, tuple[str, ...]]] = {"subject": {}, "text": {}}
        for (key, words), ident in self._ids.items():
            lists[key][ident] = words
        self.subject_words = _Words(lists["subject"]) if lists["subject"] else None
        self.text_words = _Words(lists["text"]) if lists["text"] else None
        #: rules with no gate: looked at for every message
        self.always = [i for i, r in enumerate(self.rules) if not r.gate and r.required is None]
        #: keyword list id -> rules gated on it (each rule under one of its
        #: lists, or the words its first pattern requires)
        self.woken: dict[int, list[int]] = {}
        #: per field (subject?): the rules gated on a pattern's words, with
        #: the longest text on which those words decide, and the pattern
        self.required: dict[bool, list[tuple[int, int, str]]] = {True: [], False: []}
        for i, r in enumerate(self.rules):
            if r.gate:
                self.woken.setdefault(min(r.gate), []).append(i)
            elif r.required is not None:
                key, ident, limit, pattern = r.required
                self.woken.setdefault(ident, []).append(i)
                self.required[key == "subject"].append((i, limit, pattern))
        #: (subject?, those rules, the shortest of their texts) per field that has any
        self.gated = [(k, v, min(lim for _, lim, _ in v)) for k, v in self.required.items() if v]

    def words_id(self, key: str, words: tuple[str, ...]) -> int:
        return self._ids.setdefault((key, words), len(self._ids))

    def digit_id(self, key: str) -> int:
        """The hit a digit in the field makes (``_Lower``)."""
        self.digits[key == "subject"] = True
        return -1 if key == "subject" else -2

    def candidates(self, ctx: Context, low: _Lower) -> list[int]:
        """Rules that may match a message whose scans found ``low.hits``, in
        config order: the ungated ones, those woken by a list found, and
        those gated on a pattern's words where the words do not decide (a
        long text, a character that folds to an ASCII letter, a pattern
        that timed out: ``required_first``)."""
        woken = [i for h in low.hits for i in self.woken.get(h, ())]
        extra: list[int] = []
        for subject, gated, shortest in self.gated:
            text = ctx.subject if subject else ctx.text
            if len(text) > shortest or _timed_out or low.folds(subject, text):
                extra += [i for i, limit, pattern in gated
                          if len(text) > limit or pattern in _timed_out
                          or low.folds(subject, text)]
        if extra:
            return sorted(set(self.always + woken + extra))
        if not woken:
            return self.always
        return sorted(self.always + woken)


_plans: dict[int, _Plan] = {}


def _plan(config: Any) -> _Plan:
    """The compiled rules of a loaded config, built once."""
    rules = getattr(config, "rules", None) or []
    plan = _plans.get(id(config))
    if plan is None or plan.config is not config or plan.rules_list is not rules:
        if len(_plans) > 32:
            _plans.clear()
        plan = _plans[id(config)] = _Plan(config, rules)
    return plan


def _group_members(config: Any, group: str) -> list[str]:
    return [a.name for a in getattr(config, "agents", None) or [] if group in (a.groups or [])]


def choose_agent(store: Store, config: Any, rule: Any) -> str | None:
    """The agent a group assignment picks: round-robin after the rule's
    last pick, or the one with fewest new/open/pending tickets (config
    order breaks ties)."""
    members = _group_members(config, rule.assign_group)
    if not members:
        return None
    if rule.assign_how == "least-open":
        counts = workflows.open_counts(store, members)
        return min(members, key=lambda n: counts[n])
    last = workflows.last_assignee(store, rule.name)
    if last in members:
        return members[(members.index(last) + 1) % len(members)]
    return members[0]


def evaluate(store: Store, config: Any, ctx: Context, *, explain: bool = True) -> list[Outcome]:
    """What each rule would do to this message, in order; reads only.
    Without ``explain``, rules that simply do not match are left out."""
    outcomes: list[Outcome] = []
    plan = _plan(config)
    low = _Lower(ctx, plan)
    # Without explain, only the rules that may match are looked at: the
    # others fail on a keyword list before any pattern of theirs runs.
    order = range(len(plan.rules)) if explain else plan.candidates(ctx, low)
    compiled = plan.rules
    for i in order:
        cr = compiled[i]
        rule = cr.rule
        failed = timed_out = None
        for key, pred in cr.conditions:
            ok = pred(ctx, low)
            if not ok:
                failed = key
                if ok is None:
                    timed_out = key
                break
        if failed is not None:
            if timed_out is not None:
                outcomes.append(Outcome(rule.name, False, timed_out=[timed_out], reason=(
                    f"{timed_out}: the pattern took over {REGEX_TIMEOUT} s and counts as no match")))
            elif explain:
                outcomes.append(Outcome(rule.name, False, reason=f"{failed} does not match"))
            continue
        actions = list(cr.first)
        if cr.group:
            actions.append(("assign", choose_agent(store, config, rule)))
        if cr.rest:
            actions += cr.rest
        outcomes.append(Outcome(rule.name, True, actions))
        if cr.tags:
            ctx.tags.update(cr.tags)
        if cr.priority:
            ctx.priority = cr.priority
        if cr.stop:
            break
    return outcomes


def context_for(store: Store, config: Any, ticket_id: int, item: Inbound, account: str,
                *, sent_at: str, message_id: int | None, language: str | None,
                facts: tuple[str, int | None, set[str]] | None = None) -> Context:
    """``facts`` (priority, contact, tags), when the caller wrote the
    ticket just now and knows them: then they are not read back."""
    if facts is None:
        facts = workflows.rule_facts(store, ticket_id)
    if facts is None:
        triage.require(store, ticket_id)  # raises NotFound, saying what to run
    assert facts is not None
    priority, contact_id, tags = facts
    ctx = Context(
        store=store, ticket_id=ticket_id, medium=item.medium, account=account or "",
        sender=item.sender, to=[*item.to, *item.cc], subject=item.subject or "",
        text=item.text or "", language=language, sent_at=sent_at, message_id=message_id,
        config=config, tags=tags, priority=priority,
    )
    ctx.contact_id = contact_id  # read with the rest: no second query
    return ctx


def stored_context(store: Store, config: Any, ticket_id: int) -> Context | None:
    """The context of the ticket's last inbound message, as stored."""
    import json

    m = workflows.last_inbound(store, ticket_id)
    if m is None:
        return None
    to = [Address(a.get("address", ""), a.get("name", ""))
          for a in [*json.loads(m["to_json"] or "[]"), *json.loads(m["cc_json"] or "[]")]]
    item = Inbound(medium=m["channel"], raw=b"", subject=m["subject"] or "", text=m["text"] or "",
                   sender=Address(m["from_address"] or "", m["from_name"] or "") if m["from_address"] else None,
                   to=to)
    return context_for(store, config, ticket_id, item, m["account"] or "", sent_at=m["sent_at"],
                       message_id=m["id"], language=m["language"])


def dry_run(store: Store, config: Any, ticket_id: int) -> list[dict[str, Any]]:
    """``rules test ID``: what each rule would do to the ticket's last
    inbound message. Changes nothing."""
    triage.require(store, ticket_id)
    ctx = stored_context(store, config, ticket_id)
    if ctx is None:
        from supportctl.errors import UsageError

        raise UsageError(f"ticket {ticket_id} has no inbound message for rules to look at")
    return [o.as_json() for o in evaluate(store, config, ctx)]


def notify(store: Store, ticket_id: int, entry: str, actor: str, now: str) -> None:
    """A rule asks the ``notify`` entry named ``entry`` to tell a person
    about this ticket. Recorded as an event ``notify.request`` that the
    notification sender delivers."""
    store.event(actor, "notify.request", now, ticket_id=ticket_id, entry=entry, on="rule")


def _may_auto_reply(store: Store, ctx: Context, item: Inbound, config: Any, now: str) -> str:
    """Why an automatic rule reply may not go (SPEC §4), or ''."""
    if item.auto_reason:
        return f"automated sender ({item.auto_reason})"
    if ctx.tags & {"spam", "bounce"}:
        return "spam or bounce"
    ar = getattr(config, "auto_reply", None)
    if ctx.contact_id is not None and ar is not None:
        sent = workflows.auto_replies_since(store, ctx.contact_id, shift(now, -ar.window))
        if sent >= ar.max_per_contact:
            return f"already {sent} automatic replies to this contact within {ar.window}"
    return ""


def apply_rules(store: Store, ticket_id: int, item: Inbound, settings: Any, now: str, *,
                sent_at: str | None = None, message_id: int | None = None,
                language: str | None = None, history: bool = False,
                facts: tuple[str, int | None, set[str]] | None = None,
                unwritten_tags: list[str] | None = None,
                unwritten_event: tuple[str, str, dict[str, Any]] | None = None) -> list[Outcome]:
    """Run the rules on a new inbound message. On ``history`` (mail from
    before the entry's first sync, or imported) rules still tag, assign and
    note, but never reply or notify (issue 11: no noise from the past).
    ``facts``: the ticket's priority, contact and tags when the caller
    knows them (a ticket ingest created for this message);
    ``unwritten_tags``: those of its tags the caller has not written yet
    (lower case, without events), and ``unwritten_event`` (actor, action,
    detail): the event the caller has not written yet, written with the
    rules' first batch, before anything of theirs."""
    config = settings.config
    ctx = context_for(store, config, ticket_id, item, settings.account, sent_at=sent_at or now,
                      message_id=message_id, language=language, facts=facts)
    had = set(ctx.tags)  # evaluate adds the tags rules set to ctx.tags
    current_priority = ctx.priority  # and sets ctx.priority
    outcomes = evaluate(store, config, ctx, explain=False)
    # Tags and priority changes are written in one batch with their events
    # (workflows.write_rule_changes: a few statements for the lot): inside
    # ingest's savepoint, on a ticket that exists, whose tags and priority
    # were read just now, so a tag not among them is new and only rules
    # changed the priority since. A batch is written before any other
    # action, so the event log keeps the rules' order.
    changes: list[tuple[str, str, Any]] = []
    unwritten = list(unwritten_tags or ())
    events = [unwritten_event] if unwritten_event is not None else []

    def flush() -> None:
        if changes or unwritten or events:
            workflows.write_rule_changes(store, ticket_id, changes, now, quiet_tags=unwritten,
                                         first_events=events)
            changes.clear()
            unwritten.clear()
            events.clear()

    for out in outcomes:
        actor = f"rule:{out.rule}"
        if out.timed_out:
            flush()
            store.event(actor, "rule.timeout", now, ticket_id=ticket_id, fields=out.timed_out,
                        seconds=REGEX_TIMEOUT)
        for action, value in out.actions:
            if action == "tag":
                for name in value:
                    if name not in had:
                        had.add(name)
                        changes.append((actor, "tag", name))
                continue
            if action == "priority":
                if value != current_priority:
                    changes.append((actor, "priority", (current_priority, value)))
                    current_priority = value
                continue
            flush()
            if action == "assign" and value:
                triage.assign(store, ticket_id, value, actor, now, history=history)
                if any(r.name == out.rule and r.assign_group for r in config.rules):
                    workflows.set_last_assignee(store, out.rule, value)
            elif action == "status":
                triage.set_status(store, ticket_id, value, actor, now)
            elif action == "note":
                from supportctl.services.tickets import add_note

                add_note(store, ticket_id, value, actor, now)
            elif action in ("reply", "notify") and history:
                store.event(actor, f"rule.{action}_skipped", now, ticket_id=ticket_id,
                            reason="history: arrived before the channel's first sync")
            elif action == "reply":
                _reply(store, ctx, item, settings, value, actor, now)
            elif action == "notify":
                notify(store, ticket_id, value, actor, now)
    flush()
    return outcomes


def _reply(store: Store, ctx: Context, item: Inbound, settings: Any, template: str, actor: str,
           now: str) -> None:
    """Queue an automatic reply from ``template``; ``sync`` sends it after
    the batch commits. Loop rules first; a reply that cannot be made (no
    account for the medium, a missing variable) is an event, not a lost
    message: the customer's message is stored either way."""
    from supportctl.errors import SupportError
    from supportctl.services import outbox
    from supportctl.services.templates import render_template

    why = _may_auto_reply(store, ctx, item, settings.config, now)
    if why:
        store.event(actor, "rule.reply_skipped", now, ticket_id=ctx.ticket_id, reason=why)
        return
    try:
        entry = settings.config.channel(settings.account)
        with store.tx():
            text, meta = render_template(settings.config, template, store, ctx.ticket_id, actor)
            outbox.queue_reply(store, ctx.ticket_id, text=text, medium=ctx.medium, account=entry,
                               actor=actor, auto=True, meta=meta, template=template)
    except SupportError as exc:
        store.event(actor, "rule.reply_skipped", now, ticket_id=ctx.ticket_id,
                    reason=str(exc)[:200])
