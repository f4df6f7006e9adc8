"""Customer satisfaction (SPEC §10): ask once per solved ticket, recognise
the answer wherever the contact writes, honour opt-outs.

Contract:
- ``ask_due_csat`` queues the ``csat.template`` question, on the ticket's
  channel and account, for tickets solved at least ``csat.after`` ago,
  once per ticket (the ``csat`` row's primary key), never to a contact who
  opted out, a ticket tagged spam or bounce, or a ticket whose customer
  messages came from an automated sender (SPEC §4 flags). The caller sends
  the queued entries (``sync`` does, under its lock).
- An inbound message from a contact with an unanswered question asked
  within ``ANSWER_WINDOW`` that reads as an answer (a digit 1-5, a word in
  one of the known languages, 👍/👎, optionally followed by a comment) is
  stored on the asked ticket and recorded; it never reopens the ticket.
- STOP (and the other opt-out keywords carriers require on SMS and
  WhatsApp, in any case, with punctuation or full-width letters) opts the
  contact out; a STOP answering a question stays on its ticket too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from supportctl.store import workflows
from supportctl.store.db import Store
from supportctl.values import shift

#: How long after asking an answer is still taken as one.
ANSWER_WINDOW = timedelta(days=7)

#: Opt-out keywords: Twilio's and the CTIA's for SMS (STOP, STOPALL,
#: UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE) and their usual
#: translations. The whole message must be one of them: "don't stop" is
#: not an opt-out.
STOP_WORDS = frozenset({
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke",
    "arret", "arreter", "desabonner", "basta", "disiscrivimi", "alto", "baja",
    "parar", "stopp", "abmelden", "abbestellen",
})

#: Words that give a rating, per language (after accents are removed).
RATING_WORDS: dict[str, int] = {
    # en
    "terrible": 1, "awful": 1, "bad": 2, "poor": 2, "average": 3, "good": 4,
    "great": 5, "excellent": 5, "perfect": 5,
    # it
    "pessimo": 1, "scarso": 2, "sufficiente": 3, "buono": 4, "ottimo": 5, "perfetto": 5,
    "eccellente": 5,
    # fr
    "nul": 1, "mauvais": 2, "moyen": 3, "bien": 4, "tres bien": 5, "parfait": 5,
    # de
    "schrecklich": 1, "schlecht": 2, "mittel": 3, "gut": 4, "sehr gut": 5,
    "ausgezeichnet": 5, "perfekt": 5,
    # es
    "malo": 2, "regular": 3, "bueno": 4, "muy bien": 5, "excelente": 5, "perfecto": 5,
}
_EMOJI = {"👍": 5, "👎": 1, "😀": 5, "😊": 5, "🙂": 4, "😐": 3, "🙁": 2, "😞": 1, "😡": 1,
          "⭐⭐⭐⭐⭐": 5, "⭐⭐⭐⭐": 4, "⭐⭐⭐": 3, "⭐⭐": 2, "⭐": 1}
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_DIGIT = re.compile(r"([1-5])(?:\s*/\s*5)?(?![\d.,:/-]|\s*/\s*\d)")


def _fold(text: str) -> str:
    """Casefolded, NFKC (full-width letters), accents and invisible
    characters removed, so ``ＳＴＯＰ``, ``S\u200bTOP`` and ``Arrêt`` read plainly."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return text.casefold()


def is_stop(text: str) -> bool:
    """The whole message is an opt-out keyword (one word, or two run
    together: "opt out", "stop all")."""
    if len(text or "") > 40:
        return False
    words = re.sub(r"[\W_]+", " ", _fold(text or "")).split()
    return 1 <= len(words) <= 2 and "".join(words) in STOP_WORDS


@dataclass
class Answer:
    rating: int
    comment: str


def parse_answer(text: str) -> Answer | None:
    """A CSAT answer: the score first (a digit 1-5, optionally "/5", a
    rating word, or an emoji), then an optional comment. A question mark
    in it, or a word answer longer than a few words, is a new question
    from the customer, not a rating: it must reopen, not be filed."""
    raw = (text or "").strip()
    if not raw or len(raw) > 1000 or "?" in raw:
        return None
    for emoji, score in sorted(_EMOJI.items(), key=lambda kv: -len(kv[0])):
        if raw.startswith(emoji):
            return Answer(score, _comment(raw[len(emoji):]))
    folded = _fold(raw)
    m = _DIGIT.match(folded)
    if m:
        return Answer(int(m.group(1)), _comment(raw[m.end():]))
    if len(folded.split()) > 6:
        return None
    for phrase, score in sorted(RATING_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.match(re.escape(phrase) + r"(?!\w)", folded):
            return Answer(score, _comment(raw[len(phrase):]))
    return None


def _comment(rest: str) -> str:
    return rest.strip().lstrip("-–—:,.!;").strip()


def settings(config: Any) -> Any:
    cs = getattr(config, "csat", None)
    if cs is None or not getattr(cs, "enabled", False) or not getattr(cs, "template", None):
        return None
    return cs


def answered_ticket(store: Store, contact_id: int | None, text: str, now: str) -> tuple[int, Answer | None] | None:
    """The ticket an inbound message answers (with its answer; None for a
    STOP), when the contact has an open question and the text reads as an
    answer or a STOP."""
    if contact_id is None:
        return None
    tid = workflows.open_csat_for_contact(store, contact_id, shift(now, -ANSWER_WINDOW))
    if tid is None:
        return None
    if is_stop(text):
        return tid, None
    answer = parse_answer(text)
    return (tid, answer) if answer else None


def record_answer(store: Store, ticket_id: int, answer: Answer | None, message_id: int,
                  actor: str, now: str) -> None:
    if answer is None:
        return
    workflows.record_csat_answer(store, ticket_id, answer.rating, answer.comment, now, message_id)
    store.event(actor, "csat.answer", now, ticket_id=ticket_id, rating=answer.rating,
                message_id=message_id)


def opt_out(store: Store, contact_id: int, actor: str, now: str, *, reason: str) -> bool:
    with store.tx():
        changed = workflows.set_opted_out(store, contact_id, now)
        if changed:
            store.event(actor, "contact.opt_out", now, contact_id=contact_id, reason=reason)
    return changed


def ask_due_csat(store: Store, config: Any, now: str) -> list[int]:
    """Queue the CSAT question on every ticket due one; returns the outbox
    ids (the caller sends them). Tickets that cannot be asked (their
    account is gone, WhatsApp outside its window without a template) get
    an event saying why and are not tried again."""
    cs = settings(config)
    if cs is None:
        return []
    from supportctl.errors import SupportError
    from supportctl.services import outbox
    from supportctl.services.templates import render_template

    queued: list[int] = []
    for tid in workflows.csat_due(store, shift(now, -cs.after)):
        t = workflows.ticket_route(store, tid)
        if t is None:
            continue
        with store.tx():
            if workflows.ticket_has_automated_inbound(store, tid):
                workflows.record_csat_asked(store, tid, t["contact_id"], now, None)
                store.event("csat", "csat.skip", now, ticket_id=tid, reason="automated sender")
                continue
            try:
                entry = config.channel(t["account"]) if t["account"] else None
                if entry is None:
                    raise SupportError(f"ticket {tid} has no account to ask on")
                text, meta = render_template(config, cs.template, store, tid, "csat")
                oid = outbox.queue_reply(store, tid, text=text, medium=t["channel"],
                                         account=entry, actor="csat", auto=True, meta=meta,
                                         template=cs.template)
            except SupportError as exc:
                workflows.record_csat_asked(store, tid, t["contact_id"], now, None)
                store.event("csat", "csat.skip", now, ticket_id=tid, reason=str(exc)[:200])
                continue
            workflows.record_csat_asked(store, tid, t["contact_id"], now, oid)
            store.event("csat", "csat.ask", now, ticket_id=tid, outbox_id=oid)
            queued.append(oid)
    return queued
