"""Ingest: where every fetched or imported message enters the store.

Contract:
- ``ingest_batch`` stores a batch's items and the channel cursor in ONE
  transaction: a crash before commit stores nothing and moves nothing; the
  next run refetches and stores each message exactly once.
- A message whose ``(channel, external_id)`` is stored is a duplicate and is
  skipped (mail CC'd to two support addresses, seen in two folders, or
  refetched after a crash). Email without a Message-ID is keyed by the
  SHA-256 of its raw bytes (the parser does that). For email the stored
  mail must also say the same (``mail.parse.content_key``): a different
  mail reusing a Message-ID is stored under the SHA-256 of its bytes and
  marked (``reused_message_id``, event ``message.id_reused``), never dropped.
- A message that cannot be parsed at all is kept raw in quarantine with the
  reason, never dropped; quarantine is keyed by the raw bytes' hash.
- Threading follows SPEC §3 (see ``thread_email`` / ``thread_messaging``);
  status changes go through ``triage``; noise and loops follow SPEC §4.
- Mail from our own addresses (plus-addresses included) is ours, never a
  customer's; automatic mail that opens a ticket is filed solved, tagged
  ``auto``, without SLA clocks. A new ticket's acknowledgement is decided
  (and queued in the outbox) in the transaction that creates it: see
  ``autoreply``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from supportctl.errors import ParseError
from supportctl.models import Batch, Inbound
from supportctl.services import contacts, triage
from supportctl.store import messages as stored_messages
from supportctl.store import outbox as stored_outbox
from supportctl.store import quarantine as stored_quarantine
from supportctl.store import tickets as stored_tickets
from supportctl.store import workflows
from supportctl.store.db import FAILURES, Store
from supportctl.values import iso, parse_iso, shift, utcnow

TOKEN = re.compile(r"\[#(\d+)\]")


@dataclass
class IngestSettings:
    account: str
    actor: str
    own_addresses: set[str] = field(default_factory=set)
    reopen_window: timedelta = timedelta(days=7)
    config: Any = None
    #: The channel entry's config (for acknowledgements sent through it),
    #: and whether new tickets may get one (``sync`` yes, import never).
    entry: dict[str, Any] | None = None
    acknowledge: bool = False
    #: The entry's very first sync pass: all it fetches is backlog, whatever
    #: the (whole-second, possibly skewed) times the channel reports.
    backlog: bool = False
    #: Mail that arrived at or before this time (ISO) is history: the
    #: entry's first sync began then. With ``backlog`` or ``history`` all of
    #: it is. History opens tickets tagged ``history`` with no SLA clock,
    #: and rule replies, rule notifications and ``new``/``customer-replied``
    #: notifications skip it (issue 11: years of mail, no noise).
    history_until: str | None = None
    #: Everything ingested with these settings is history (``import``).
    history: bool = False


@dataclass
class IngestResult:
    ticket_id: int | None = None
    message_id: int | None = None
    created: bool = False
    duplicate: bool = False
    quarantined: bool = False
    report: bool = False


@dataclass
class BatchSummary:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    tickets_created: int = 0
    results: list[IngestResult] = field(default_factory=list)


def ingest_batch(store: Store, batch: Batch, settings: IngestSettings) -> BatchSummary:
    """Store ``batch`` and its cursor atomically."""
    summary = BatchSummary()
    now = iso(utcnow()) or ""
    with store.tx():
        store.serialize_ingest()  # one customer, one ticket, on every engine
        # Read once for the batch (the write lock is ours until COMMIT):
        # with no spam sender on record no message needs the lookup.
        # (PostgreSQL: another machine's `spam` may commit mid-batch, so
        # each message asks.)
        spam = not store.sql.one_writer or workflows.any_spam_senders(store)
        # The batch's messages go into the full-text indexes at once at its
        # end (SQLite), not one index segment each.
        deferred = stored_messages.defer_full_text(store)
        for item in batch.items:
            res = _ingest_isolated(store, item, settings, now, spam_senders=spam)
            summary.results.append(res)
            if res.quarantined:
                summary.quarantined += 1
            elif res.duplicate:
                summary.duplicates += 1
            else:
                summary.stored += 1
                summary.tickets_created += int(res.created)
        if deferred is not None:
            stored_messages.index_deferred(store, deferred)
        if batch.cursor is not None:
            store.set_cursor(settings.account, batch.source, batch.cursor, now)
    return summary


def _ingest_isolated(store: Store, item: Inbound, settings: IngestSettings, now: str, *,
                     spam_senders: bool = True) -> IngestResult:
    """One item in its own savepoint: a bug that trips over one message
    quarantines that message (raw, with the reason) instead of failing the
    batch on every run and blocking the mail behind it. Storage errors
    (disk full, a locked store) still abort the batch: nothing is lost,
    the cursor does not move."""
    try:
        with store.tx():
            return ingest_one(store, item, settings, now=now, spam_senders=spam_senders)
    except FAILURES:
        raise
    except Exception as exc:
        quarantine(store, item.raw, f"could not be stored ({item.medium}): "
                   f"{type(exc).__name__}: {exc}", settings.account, item.source_ref,
                   iso(item.received_at), now, medium=item.medium)
        return IngestResult(quarantined=True)


def quarantine(store: Store, raw: bytes, reason: str, account: str, source_ref: str,
               received_at: str | None, now: str, *, medium: str = "email") -> None:
    """Keep ``raw`` with the reason, the account and the medium it came on
    (a retry reads it with that medium's parser)."""
    stored_quarantine.add(store, {
        "account": account, "source_ref": source_ref, "reason": reason[:500], "raw": raw,
        "sha256": hashlib.sha256(raw).hexdigest(), "received_at": received_at, "created_at": now,
        "medium": medium})


def parse_item(item: Inbound) -> Inbound:
    if not item.needs_parse:
        return item
    from supportctl.mail.parse import parse_email

    return parse_email(item.raw, received_at=item.received_at, source_ref=item.source_ref)


def ingest_one(store: Store, item: Inbound, settings: IngestSettings, *, now: str,
               spam_senders: bool = True) -> IngestResult:
    """Store one item (inside the caller's transaction). ``spam_senders``
    False says the caller knows none is on record."""
    try:
        item = parse_item(item)
    except ParseError as exc:
        quarantine(store, item.raw, str(exc) or "unparseable", settings.account,
                   item.source_ref, iso(item.received_at), now, medium=item.medium)
        return IngestResult(quarantined=True)
    except Exception as exc:  # a parser bug must not lose the message
        quarantine(store, item.raw, f"parser crashed: {type(exc).__name__}: {exc}",
                   settings.account, item.source_ref, iso(item.received_at), now,
                   medium=item.medium)
        return IngestResult(quarantined=True)
    if item.medium == "email" and _forms_of(settings):
        # A website's form mail is the person's submission (SPEC §12).
        from supportctl.channels.web import from_email

        item = from_email(item, _forms_of(settings)) or item

    medium = item.medium
    ext = item.external_id or "sha256:" + hashlib.sha256(item.raw).hexdigest()
    dup, ext, reused = _stored_copy(store, item, ext)
    if dup is not None:
        return IngestResult(ticket_id=dup["ticket_id"], message_id=dup["id"], duplicate=True)
    if reused:
        item.meta = {**item.meta, "reused_message_id": reused}

    sent_at = iso(item.sent_at or item.received_at) or now
    sender = item.sender.address if item.sender else ""
    sender_name = item.sender.name if item.sender else ""
    own = medium == "email" and is_ours(sender, settings.own_addresses)
    direction = "out" if own else "in"
    x_loop: list[str] = item.meta.get("x_loop") or []  # type: ignore[assignment]
    if medium == "email" and not own and not item.auto_reason and any(
            is_ours(a, settings.own_addresses) for a in x_loop):
        # Our own mail came back around (a forward, another robot): answering
        # it would start a loop (RFC 3834 §5, SPEC §4).
        item.auto_reason = "x-loop names our own address"
    reply_to: list[dict[str, str]] = item.meta.get("reply_to") or []  # type: ignore[assignment]
    if medium == "email" and reply_to:
        # A reply goes to Reply-To as a mail client's would, never to us.
        item.meta["answer_to"] = [a for a in reply_to
                                  if not is_ours(a.get("address", ""), settings.own_addresses)]

    ticket_id: int | None = None
    linked: int | None = None
    tags: list[str] = []
    history = direction == "in" and is_history(item, settings)
    is_report = bool(item.report_state)
    if is_report:
        ticket_id = _ticket_of_message(store, item.reports_on)
        if ticket_id is None:
            tags.append("bounce")
        else:
            _mark_reported(store, item, now)
    elif medium == "email":
        ticket_id, linked = thread_email(store, item, sender)
    elif medium == "web":
        pass  # each form submission is a new question; answers by mail thread as mail
    else:
        ticket_id, linked = thread_messaging(store, item, sender, settings, now)
    # A customer answering our CSAT question (on any of their channels) is
    # filed on the ticket asked, which stays solved (SPEC §10).
    csat_answer = None
    if direction == "in" and not is_report and sender and settings.config is not None:
        from supportctl.services import csat

        if csat.settings(settings.config) is not None:
            csat_answer = csat.answered_ticket(store, contacts.find(store, medium, sender),
                                               item.text or "", now)
            if csat_answer is not None:
                ticket_id, linked = csat_answer[0], None

    spam_sender = bool(sender) and spam_senders and workflows.is_spam_sender(
        store, contacts.identity_kind(medium), contacts.normalise(medium, sender))
    created = False
    contact_id: int | None = None
    if ticket_id is None:
        if sender and not own and medium == "web":
            from supportctl.services.web import form_contact

            contact_id = form_contact(store, item, now)
        elif sender and not own:
            contact_id = contacts.find_or_create(store, medium, sender, sender_name, now)
        elif own:
            # Our own mail: the customer is the first recipient who is not us;
            # with none, the ticket has no contact, so `reply` cannot answer us.
            customer = next((a for a in [*item.to, *item.cc]
                             if a.address and not is_ours(a.address, settings.own_addresses)), None)
            if customer is not None:
                contact_id = contacts.find_or_create(store, medium, customer.address, customer.name, now)
        subject = item.subject or _subject_from_text(item.text)
        ticket_id = create_ticket(
            store, channel=medium, account=settings.account, contact_id=contact_id,
            subject=subject, created_at=sent_at, actor=settings.actor, now=now,
            config=settings.config, linked_ticket=linked, conversation=item.conversation or None,
            status="new",
        )
        created = True

    # The language goes into the message's row as it is inserted.
    language = _language_of(item, settings) if direction == "in" and not is_report else None
    message_id = insert_message(
        store, ticket_id, item, direction=direction, account=settings.account,
        external_id=ext, sent_at=sent_at, now=now,
        delivery=(item.report_state, item.report_error) if is_report else None,
        language=language,
    )
    bump_ticket(store, ticket_id, sent_at, inbound=direction == "in", now=now)
    automatic = bool(item.auto_reason) and not is_report
    if direction == "in" and not created and not automatic and csat_answer is None:
        # A customer's answer, or a bounce of our reply: someone must look.
        # An out-of-office answer to our reply reopens nothing.
        triage.on_inbound(store, ticket_id, settings.actor, now)
    if item.spam or spam_sender:
        tags.append("spam")
    if created and "spam" not in tags and (automatic or is_report or (own and contact_id is None)):
        tags.append("auto")
    elif created and history and "spam" not in tags:
        tags.append("history")  # no SLA clock (sla.NO_CLOCK_TAGS)
    rules = (direction == "in" and not is_report and csat_answer is None
             and settings.config is not None and bool(getattr(settings.config, "rules", None)))
    # A new ticket's history tag goes in with the tags rules add, in one
    # statement (rules.apply_rules): nothing before them reads its tags.
    unwritten = tags if rules and created and tags == ["history"] else []
    for name in tags:
        if not unwritten:
            stored_tickets.add_tag(store, ticket_id, name)
    if "spam" in tags and created:
        triage._set_status(store, triage.require(store, ticket_id), "closed", settings.actor, now,
                           reason="spam")
    elif "auto" in tags:
        # Automatic mail (auto-replies, bounces, lists, our own mail to
        # ourselves) stays out of the queue: solved, tagged auto, no SLA
        # clock; `list --tag auto --status all` and search still find it.
        stored_tickets.update(store, ticket_id, {"first_response_due": None,
                                                 "resolution_due": None})
        triage._set_status(store, triage.require(store, ticket_id), "solved", settings.actor, now,
                           reason="automatic mail")
    detail: dict[str, Any] = {"message_id": message_id, "account": settings.account,
                              "source": item.source_ref or None,
                              **({"history": True} if history else {})}
    arrived = (settings.actor, "message.in" if direction == "in" else "message.own", detail)
    # The message's own event goes in with the rules' events, where nothing
    # writes another in between: one statement, the same ids in the same order.
    unwritten_event = arrived if rules and not reused and not _is_stop(item) else None
    if unwritten_event is None:
        store.event(arrived[0], arrived[1], now, ticket_id=ticket_id, **arrived[2])
    if reused:
        # Kept, not dropped as a duplicate: say so where an agent looks.
        store.event(settings.actor, "message.id_reused", now, ticket_id=ticket_id,
                    message_id=message_id, message_id_header=reused, stored_as=ext)
    if direction == "in" and not is_report:
        _contact_language(store, ticket_id, contact_id if created else None, language, now)
        _answers_and_opt_outs(store, ticket_id, message_id, item, csat_answer, settings, now)
    if rules:
        from supportctl.services.rules import apply_rules

        # A ticket made for this message: normal priority, its contact and
        # the tags just added, known without reading them back.
        apply_rules(store, ticket_id, item, settings, now, sent_at=sent_at,
                    message_id=message_id, language=language, history=history,
                    facts=("normal", contact_id, set(tags)) if created else None,
                    unwritten_tags=unwritten, unwritten_event=unwritten_event)
    if settings.config is not None:
        from supportctl.services import sla

        # Rules may have changed what the ticket's policy depends on.
        sla.refresh_stale(store, settings.config, limit_to=ticket_id)
    if created and direction == "in" and settings.acknowledge:
        from supportctl.services import autoreply

        autoreply.decide(store, ticket_id, item, settings, now)
    return IngestResult(ticket_id=ticket_id, message_id=message_id, created=created, report=is_report)


def _forms_of(settings: IngestSettings) -> list[dict[str, Any]]:
    """The ``forms`` rules of the entry a batch comes through."""
    entry = settings.entry
    if entry is None:
        entry = next((c for c in getattr(settings.config, "channels", None) or []
                      if isinstance(c, dict) and c.get("name") == settings.account), None)
    return list((entry or {}).get("forms") or [])


def is_history(item: Inbound, settings: IngestSettings) -> bool:
    """Whether ``item`` is history: imported, fetched by the entry's first
    sync pass, or arrived at or before the second that first sync began (a
    resumed first sync, whole-second channel times), as ``autoreply``
    decides for acknowledgements."""
    if settings.history or settings.backlog:
        return True
    arrived = item.received_at or item.sent_at
    until = parse_iso(settings.history_until) if settings.history_until else None
    return until is not None and arrived is not None and arrived <= until


def is_ours(address: str, own_addresses: set[str]) -> bool:
    """Whether ``address`` is one of ours, plus-addresses included
    (``support+orders@shop.example`` is ``support@shop.example``)."""
    from supportctl.mail.loops import is_own_address

    return is_own_address(address, own_addresses)


def _stored_copy(store: Store, item: Inbound, ext: str) -> tuple[Any, str, str]:
    """The stored copy of ``item`` if there is one, the key to store it
    under, and the Message-ID it reuses (or ``""``).

    A channel's id is the message for every medium but email, where anyone
    can write any Message-ID: a stored mail with the same id is the same
    message only when it says the same (``content_key``: author,
    recipients, date, subject, body; trace headers aside), as copies CC'd
    to two of our addresses, filed in two folders or fetched again after a
    crash do. A different mail with that id is stored under the SHA-256 of
    its bytes, as a mail without an id is, and marked ``reused_message_id``."""
    from supportctl.store.messages import mails_reusing_id, message_by_external_id

    dup = message_by_external_id(store, item.medium, ext)
    if dup is None or item.medium != "email" or ext.startswith("sha256:") or not item.raw:
        return dup, ext, ""
    if dup["direction"] == "out":
        # Our own Message-ID (random, our domain): a copy that comes back
        # (Sent folder, a Bcc) may carry a footer our server added.
        return dup, ext, ""
    from supportctl.mail.parse import content_key

    key = content_key(item.raw)
    if _says_the_same(store, dup["id"], key):
        return dup, ext, ""
    own = "sha256:" + hashlib.sha256(item.raw).hexdigest()
    again = message_by_external_id(store, item.medium, own)
    if again is not None:
        return again, own, ""
    for other in mails_reusing_id(store, ext):
        if _says_the_same(store, other["id"], key):
            return other, own, ""
    return None, own, ext


def _says_the_same(store: Store, message_id: int, key: str) -> bool:
    from supportctl.mail.parse import content_key
    from supportctl.store.messages import original_raw

    raw = original_raw(store, message_id)
    # Without its original (imported without --raw) a stored mail cannot be
    # compared: it is taken as the same, as before ids could be reused.
    return raw is None or content_key(raw) == key


def _language_of(item: Inbound, settings: IngestSettings) -> str | None:
    """The message's language (None when unsure): found by a parsing
    worker already, or detected here."""
    from supportctl.services import language as lang

    if item.language_ready:
        return item.language
    return lang.detect(item.text or item.subject or "", lang.languages_of(settings.config))


def _contact_language(store: Store, ticket_id: int, contact: int | None, found: str | None,
                      now: str) -> None:
    """The contact keeps the last confident language (``contact``: the
    ticket's contact when the caller knows it)."""
    if found is None:
        return
    contact = contact or workflows.ticket_contact(store, ticket_id)
    if contact is not None:
        workflows.set_contact_language(store, contact, found, now)


def _answers_and_opt_outs(store: Store, ticket_id: int, message_id: int, item: Inbound,
                          csat_answer: Any, settings: IngestSettings, now: str) -> None:
    """Record a CSAT answer; a STOP opts the contact out of CSAT questions
    (SPEC §10; carriers require it on SMS and WhatsApp)."""
    from supportctl.services import csat

    if csat_answer is not None:
        csat.record_answer(store, ticket_id, csat_answer[1], message_id, settings.actor, now)
    if csat.is_stop(item.text or ""):
        from supportctl.store import workflows

        contact = workflows.ticket_contact(store, ticket_id)
        if contact is not None:
            csat.opt_out(store, contact, settings.actor, now, reason="replied STOP")


def _is_stop(item: Inbound) -> bool:
    """Whether the message opts its contact out (``_answers_and_opt_outs``
    then writes an event)."""
    from supportctl.services import csat

    return csat.is_stop(item.text or "")


def _subject_from_text(text: str) -> str:
    first = " ".join((text or "").split())
    return first[:60] + ("…" if len(first) > 60 else "")


def create_ticket(
    store: Store, *, channel: str, account: str | None, contact_id: int | None, subject: str,
    created_at: str, actor: str, now: str, config: Any = None, status: str = "new",
    priority: str = "normal", linked_ticket: int | None = None, conversation: str | None = None,
) -> int:
    from supportctl.services.sla import due_times

    first_due, res_due = due_times(parse_iso(created_at) or utcnow(), priority, config,
                                   channel=channel, account=account)
    tid = stored_tickets.create(
        store,
        {
            "status": status, "priority": priority, "subject": " ".join(subject.split()),
            "channel": channel, "account": account, "contact_id": contact_id,
            "created_at": created_at, "updated_at": created_at,
            "first_response_due": iso(first_due), "resolution_due": iso(res_due),
            "linked_ticket": linked_ticket, "conversation": conversation,
            # The policy may depend on tags rules add next: sla.refresh
            # settles it (with the policy's name) once they have run.
            "sla_stale": 1,
        },
    )
    store.event(actor, "create", now, ticket_id=tid, channel=channel, account=account,
                linked_ticket=linked_ticket)
    return tid


def insert_message(
    store: Store, ticket_id: int, item: Inbound, *, direction: str, account: str | None,
    external_id: str | None, sent_at: str, now: str, author: str | None = None,
    delivery: tuple[str, str] | None = None, language: str | None = None,
) -> int:
    # A large attachment comes in pieces (``AttachmentData.chunks``) and is
    # streamed to its file, never held whole (SPEC §8: peak memory a few
    # times the largest message).
    digests = [(a, *(store.put_stream(a.chunks()) if a.chunks is not None
                     else (store.put_file(a.data), len(a.data)))) for a in item.attachments]
    mid = stored_messages.insert(
        store,
        {
            "ticket_id": ticket_id, "direction": direction, "channel": item.medium,
            "account": account, "external_id": external_id,
            "from_name": item.sender.name if item.sender else "",
            "from_address": item.sender.address if item.sender else "",
            "to_json": json.dumps([{"name": a.name, "address": a.address} for a in item.to],
                                  ensure_ascii=False),
            "cc_json": json.dumps([{"name": a.name, "address": a.address} for a in item.cc],
                                  ensure_ascii=False),
            "subject": item.subject, "text": item.text, "html": item.html or None,
            "sent_at": sent_at, "created_at": now,
            "in_reply_to": item.in_reply_to or None,
            "refs": " ".join(item.references) or None,
            "conversation": item.conversation or None, "author": author,
            "delivery_state": delivery[0] if delivery else None,
            "delivery_error": (delivery[1] or None) if delivery else None,
            "auto_reason": item.auto_reason or None, "source_ref": item.source_ref or None,
            "meta": json.dumps(item.meta, ensure_ascii=False, sort_keys=True) if item.meta else None,
            **({"language": language} if language is not None else {}),
        },
    )
    if item.raw:
        store.put_original(mid, item.raw)
    for att, digest, size in digests:
        stored_messages.add_attachment(
            store,
            {"message_id": mid, "filename": att.filename, "content_type": att.content_type,
             "size": size, "sha256": digest, "content_id": att.content_id or None,
             "inline": int(att.inline)},
        )
    return mid


def bump_ticket(store: Store, ticket_id: int, sent_at: str, *, inbound: bool, now: str) -> None:
    stored_tickets.count_message(store, ticket_id, sent_at, inbound=inbound)


def _resolve_ticket(store: Store, ticket_id: int) -> int | None:
    """The ticket a message for ``ticket_id`` joins, following merges; each
    row is locked as it is read (``locked_merge``), so on PostgreSQL a
    ``merge`` or ``spam`` of it either committed first (and is seen here)
    or waits for this message. None: the ticket was deleted meanwhile."""
    seen: set[int] = set()
    while ticket_id not in seen:
        seen.add(ticket_id)
        found, nxt = stored_tickets.locked_merge(store, ticket_id)
        if not found:
            return None
        if not nxt:
            break
        ticket_id = nxt
    return ticket_id


def _ticket_of_message(store: Store, ids: Iterable[str], channel: str = "email") -> int | None:
    for ext in ids:
        if not ext:
            continue
        tid = stored_messages.ticket_of(store, channel, ext)
        if tid:
            resolved = _resolve_ticket(store, tid)
            if resolved is not None:
                return resolved
    return None


def _mark_reported(store: Store, item: Inbound, now: str) -> None:
    """A delivery report on one of our messages marks it (and its outbox
    entry) with the reported state."""
    for ext in item.reports_on:
        mid = stored_messages.sent_email(store, ext)
        if mid is None:
            continue
        stored_messages.set_delivery(store, mid, {"delivery_state": item.report_state,
                                                  "delivery_error": item.report_error or None})
        stored_outbox.set_state_of_message(store, mid, item.report_state,
                                           item.report_error or None, now)


def _closed_follow_up(store: Store, ticket_id: int) -> tuple[int | None, int | None]:
    """A message threaded onto a closed ticket opens a new linked one."""
    if stored_tickets.status(store, ticket_id) == "closed":
        return None, ticket_id
    return ticket_id, None


def thread_email(store: Store, item: Inbound, sender: str) -> tuple[int | None, int | None]:
    """SPEC §3: (1) In-Reply-To then References match a stored Message-ID;
    (2) a ``[#123]`` subject token, only when the sender is that ticket's
    contact or a known participant; (3) a new ticket. Never by subject text.
    Returns (ticket to continue, ticket to link a new one to)."""
    refs = [item.in_reply_to, *reversed(item.references)]
    tid = _ticket_of_message(store, refs)
    if tid is None:
        for m in TOKEN.finditer(item.subject or ""):
            cand = int(m.group(1))
            if _is_participant(store, cand, sender):
                tid = _resolve_ticket(store, cand)
                break
    if tid is None:
        return None, None
    return _closed_follow_up(store, tid)


def _is_participant(store: Store, ticket_id: int, sender: str) -> bool:
    found = stored_tickets.get(store, ticket_id) if sender else None
    if found is None:
        return False
    address = contacts.normalise("email", sender)
    contact = found["contact_id"]
    if contact and contacts.find(store, "email", address) == contacts.resolve(store, contact):
        return True
    return stored_messages.has_participant(store, ticket_id, address)


def thread_messaging(
    store: Store, item: Inbound, sender: str, settings: IngestSettings, now: str
) -> tuple[int | None, int | None]:
    """SPEC §3 for SMS, WhatsApp, Telegram and Mastodon: a reply chain
    (Mastodon ``in_reply_to_id``) first; then the same contact's ticket on
    that medium that is not closed, or was solved or closed within
    ``reopen_window``; otherwise a new ticket."""
    if item.in_reply_to:
        tid = _ticket_of_message(store, [item.in_reply_to], item.medium)
        if tid is not None:
            return tid, None
    if not sender:
        return None, None
    contact = contacts.find(store, item.medium, sender)
    if contact is None:
        return None, None
    cutoff = shift(now, -settings.reopen_window)
    tid = stored_tickets.continuing(store, contact, item.medium, cutoff)
    return (None if tid is None else _resolve_ticket(store, tid)), None
