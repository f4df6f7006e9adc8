"""Automatic replies (acknowledgements) and the loop rules of SPEC §4.

An automatic reply goes only to a new ticket a human customer opened: never
to mail flagged automatic by the parser (``Auto-Submitted``, bulk or list
``Precedence``, ``List-Id``/``List-Unsubscribe``, auto-reply headers, an
empty Return-Path, MAILER-DAEMON), never to our own addresses, never to
spam or delivery reports, and at most ``max_per_contact`` per contact per
``window``. Ours carry ``Auto-Submitted: auto-replied`` (``Outbound.auto``).
Imports never auto-reply: only ``sync`` calls this.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from supportctl.models import shift
from supportctl.services import outbox
from supportctl.services.ingest import IngestResult
from supportctl.store.db import Store


def candidates(store: Store, results: list[IngestResult], config: Any, now: str) -> Iterator[int]:
    """Tickets (from this batch) that may get an automatic reply. A
    generator: the per-contact limit is checked as each one is queued."""
    ar = getattr(config, "auto_reply", None)
    if ar is None or not getattr(ar, "enabled", False) or not getattr(ar, "template", None):
        return
    for r in results:
        if not r.created or r.report or r.quarantined or r.duplicate or r.message_id is None:
            continue
        m = store.one("SELECT direction, auto_reason, ticket_id FROM messages WHERE id = ?",
                      [r.message_id])
        if m is None or m["direction"] != "in" or m["auto_reason"]:
            continue
        if store.scalar("SELECT 1 FROM tags WHERE ticket_id = ? AND tag IN ('spam', 'bounce')",
                        [m["ticket_id"]]):
            continue
        contact = store.scalar("SELECT contact_id FROM tickets WHERE id = ?", [m["ticket_id"]])
        if contact is None:
            continue
        since = shift(now, -ar.window)
        sent = store.scalar(
            "SELECT count(*) FROM events WHERE contact_id = ? AND action = 'auto_reply' AND at >= ?",
            [contact, since],
        )
        if sent >= ar.max_per_contact:
            continue
        yield int(m["ticket_id"])


def queue(store: Store, ticket_id: int, text: str, medium: str, account: dict[str, Any],
          meta: dict[str, Any] | None = None) -> int:
    return outbox.queue_reply(store, ticket_id, text=text, medium=medium, account=account,
                              actor="auto-reply", auto=True, meta=meta)


def ack_text(store: Store, config: Any, ticket_id: int, medium: str,
             now: str) -> tuple[str, dict[str, Any], str] | None:
    """The acknowledgement for a new ticket: (text, send metadata,
    template name), or None when none may go on ``medium``.

    Inside business hours ``auto_reply.template``, outside them
    ``outside_hours_template`` (whose ``next_business_time`` says when we
    answer), falling back to the other when only one is set; in the
    contact's language (the template's variant). On WhatsApp a plain text
    only inside the 24 hours after the customer's last message, after that
    only a template with a ``content_sid``."""
    from supportctl.models import parse_iso
    from supportctl.services.outbox import WHATSAPP_WINDOW
    from supportctl.services.sla import hours_from_config, next_business_time
    from supportctl.services.templates import render_template

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
    if medium == "whatsapp":
        tpl = (getattr(config, "templates", None) or {}).get(name)
        from supportctl.store.workflows import last_inbound_at

        last_in = parse_iso(last_inbound_at(store, ticket_id, "whatsapp"))
        in_window = last_in is not None and at is not None and at - last_in <= WHATSAPP_WINDOW
        if not in_window and not getattr(tpl, "content_sid", None):
            return None
    text, meta = render_template(config, name, store, ticket_id, "auto-reply")
    return text, meta, name
