"""Automatic replies (acknowledgements) and the loop rules of SPEC §4.

Contract:
- WHETHER a new ticket gets an acknowledgement is decided by ``decide``,
  called by ingest inside the transaction that creates the ticket; a yes
  is written to the outbox there (``Outbound.auto``, ``Auto-Submitted:
  auto-replied``). A crash therefore can neither lose a decided
  acknowledgement nor decide it twice: ``sync`` sends queued ones through
  the normal outbox path, at once and again after a kill.
- An acknowledgement goes only to a new ticket a human customer opened
  through ``sync`` (never import): never to mail flagged automatic by the
  parser or by ingest (``Auto-Submitted``, bulk or list ``Precedence``,
  ``List-Id``/``List-Unsubscribe``, auto-reply headers, an empty
  Return-Path, MAILER-DAEMON, no-reply senders, ``X-Loop`` naming us),
  never to our own addresses, never to spam or delivery reports, never to
  a message fetched by the channel entry's first sync pass, or that
  arrived before (or in the second) it began, or longer than ``max_age``
  ago (a first sync's backlog), and at most
  ``max_per_contact`` per contact per ``window``.
- WHAT it says is chosen by ``acknowledgement_text`` alone.
- An acknowledgement is never a first response (SLA): see ``outbox``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supportctl.channels import medium as channel_medium
from supportctl.errors import SupportError
from supportctl.models import Inbound
from supportctl.store import sends
from supportctl.store.db import FAILURES, Store
from supportctl.values import parse_iso, shift

if TYPE_CHECKING:
    from supportctl.services.ingest import IngestSettings


def acknowledgement_text(config: Any, store: Store, ticket_id: int, now: str,
                         medium: str = "") -> tuple[str, dict[str, Any]]:
    """The text of the acknowledgement for ``ticket_id`` and its send
    metadata. The one place that chooses what an acknowledgement says."""
    from supportctl.services.kb import auto_reply_articles
    from supportctl.services.templates import render_template

    ack = ack_text(store, config, ticket_id, medium, now)
    if ack is None:
        window = channel_medium(medium).window
        if window is not None:
            raise SupportError(f"{window.provider} takes plain text only within "
                               f"{int(window.free.total_seconds() // 3600)} hours of the "
                               "customer's last message"
                               + (f", and the template has no {window.exempt_by}"
                                  if window.exempt_by else ""))
        text, meta = render_template(config, config.auto_reply.template, store, ticket_id, "auto-reply")
    else:
        text, meta = ack[0], ack[1]
    articles = auto_reply_articles(store, config, ticket_id)  # SPEC §11: kb.auto_reply
    return (f"{text.rstrip()}\n\n{articles}" if articles else text), meta


def enabled(config: Any) -> bool:
    ar = getattr(config, "auto_reply", None)
    return bool(ar is not None and getattr(ar, "enabled", False) and getattr(ar, "template", None))


def why_not(store: Store, ticket_id: int, item: Inbound, settings: IngestSettings,
            now: str) -> str:
    """Why the new ticket ``ticket_id`` (opened by ``item``) gets no
    acknowledgement, or ``""`` when it gets one."""
    ar = settings.config.auto_reply
    if item.auto_reason:
        return f"automatic mail ({item.auto_reason})"
    if item.report_state:
        return "delivery report"
    if item.spam or sends.ticket_tagged(store, ticket_id, ("spam", "bounce", "auto")):
        return "spam or automatic"
    status, contact_id = sends.ticket_status_and_contact(store, ticket_id) or ("", None)
    if contact_id is None:
        return "no contact to answer"
    if status in ("solved", "closed"):
        return f"ticket already {status}"
    # A channel that gives no time hands over what just arrived.
    arrived = item.received_at or item.sent_at or parse_iso(now)
    first = sends.first_synced_at(store, settings.account)
    # All the first pass fetches is backlog; after it, channels report whole
    # seconds, so the second the first sync began is backlog too.
    if settings.backlog or (first is not None and arrived <= parse_iso(first)):  # type: ignore[operator]
        return "arrived before this channel entry first synced"
    if arrived < parse_iso(shift(now, -ar.max_age)):  # type: ignore[operator]
        return "older than auto_reply.max_age"
    if sends.acknowledgements_since(store, contact_id, shift(now, -ar.window)) >= ar.max_per_contact:
        return "auto_reply.max_per_contact reached"
    return ""


def decide(store: Store, ticket_id: int, item: Inbound, settings: IngestSettings, now: str) -> int | None:
    """Queue the acknowledgement of a new ticket, inside the caller's
    transaction; returns the outbox id, or None (with an event saying why
    when a rule, not the setup, held it back)."""
    if not settings.acknowledge or settings.entry is None or not enabled(settings.config):
        return None
    reason = why_not(store, ticket_id, item, settings, now)
    if not reason:
        from supportctl.services import outbox

        try:
            with store.tx():
                text, meta = acknowledgement_text(settings.config, store, ticket_id, now,
                                                  medium=item.medium)
                return outbox.queue_reply(store, ticket_id, text=text, medium=item.medium,
                                          account=settings.entry, actor="auto-reply", auto=True,
                                          meta=meta, own_addresses=settings.own_addresses)
        except FAILURES:
            raise  # the store failed: the batch rolls back, nothing is lost
        except SupportError as exc:  # a broken template must not cost the message
            from supportctl.safe import one_line

            reason = f"could not be written: {one_line(str(exc), 200)}"
        except Exception as exc:  # nor a bug in rendering it
            reason = f"could not be written: unexpected {type(exc).__name__}"
    store.event("auto-reply", "auto_reply_skipped", now, ticket_id=ticket_id, reason=reason)
    return None


def ack_text(store: Store, config: Any, ticket_id: int, medium: str,
             now: str) -> tuple[str, dict[str, Any], str] | None:
    """The acknowledgement for a new ticket: (text, send metadata,
    template name), or None when none may go on ``medium``.

    Inside business hours ``auto_reply.template``, outside them
    ``outside_hours_template`` (whose ``next_business_time`` says when we
    answer), falling back to the other when only one is set; in the
    contact's language (the template's variant). On a medium with a reply
    window (its declaration's ``window``: WhatsApp, Messenger, Instagram) a
    plain text only inside it, after that only a template that lifts it
    (WhatsApp's ``content_sid``), else nothing."""
    from supportctl.services.sla import hours_from_config, next_business_time
    from supportctl.services.templates import render_template
    from supportctl.values import parse_iso

    ar = getattr(config, "auto_reply", None)
    if ar is None:
        return None
    at = parse_iso(now)
    hours = hours_from_config(config)
    outside = at is not None and hours is not None and next_business_time(at, hours) > at
    name = ((getattr(ar, "outside_hours_template", None) or ar.template) if outside
            else (ar.template or getattr(ar, "outside_hours_template", None)))
    if not name:
        return None
    window = channel_medium(medium).window
    if window is not None:
        tpl = (getattr(config, "templates", None) or {}).get(name)
        from supportctl.store.workflows import last_inbound_at

        last_in = parse_iso(last_inbound_at(store, ticket_id, medium))
        in_window = last_in is not None and at is not None and at - last_in <= window.free
        if not in_window and not (window.exempt_by and getattr(tpl, window.exempt_by, None)):
            return None
    text, meta = render_template(config, name, store, ticket_id, "auto-reply")
    return text, meta, name
