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
