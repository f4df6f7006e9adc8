"""Ticket status rules and triage actions (SPEC §2), in one place.

Rules:
- A ticket a customer opened, or an agent logged for a customer, starts
  ``new``. The first agent reply makes it ``open`` (or what the reply asks).
- An inbound message on ``pending`` or ``solved`` makes it ``open``; on
  ``closed`` the threading service opens a new linked ticket instead.
- ``close`` → closed, ``solve`` → solved, ``reopen`` → open from either.
- Solved tickets close after ``close_after``.
- A snoozed ticket is hidden from the default list until its time, and
  comes back early on a customer reply.
Every change writes an event with its actor, in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from supportctl.errors import NotFound, UsageError
from supportctl.safe import is_label
from supportctl.store import tickets as repo
from supportctl.store.db import Store
from supportctl.store.workflows import remember_tag_name
from supportctl.values import PRIORITY_RANK, Status, shift

STATUSES = [s.value for s in Status]


def require(store: Store, ticket_id: int) -> dict[str, Any]:
    row = repo.get(store, ticket_id)
    if row is None:
        raise NotFound(f"no ticket {ticket_id}: see `supportctl list --status all`")
    return row


def _set_status(store: Store, t: dict[str, Any], status: str, actor: str, now: str, **why: Any) -> None:
    if t["status"] == status:
        return
    fields: dict[str, object] = {"status": status, "updated_at": now}
    if status == "solved":
        fields["solved_at"] = now
    if status == "closed":
        fields["closed_at"] = now
        if not t["solved_at"]:
            fields["solved_at"] = now
    if status in ("new", "open", "pending"):
        fields["solved_at"] = None
        fields["closed_at"] = None
    # Pending stops the resolution clock (SPEC §10); leaving it marks the
    # ticket stale (trigger m008) so the pause is added to its due time.
    if status == "pending":
        fields["sla_paused_at"] = now
    elif t["status"] == "pending":
        fields["sla_paused_at"] = None
    # A snooze is "show me this again later": a ticket that is done
    # needs no reminder, and a snoozed one is hidden from every list
    # (`list --status solved` too) until its time.
    unsnooze = status in ("solved", "closed") and bool(t.get("snoozed_until"))
    if unsnooze:
        fields["snoozed_until"] = None
    repo.update(store, t["id"], fields)
    if unsnooze:
        store.event(actor, "unsnooze", now, ticket_id=t["id"], reason=status)
    store.event(actor, "status", now, ticket_id=t["id"], old=t["status"], new=status, **why)


def set_status(store: Store, ticket_id: int, status: str, actor: str, now: str) -> None:
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    with store.tx():
        _set_status(store, require(store, ticket_id), status, actor, now)


def solve(store: Store, ticket_id: int, actor: str, now: str) -> None:
    set_status(store, ticket_id, "solved", actor, now)


def close(store: Store, ticket_id: int, actor: str, now: str) -> None:
    set_status(store, ticket_id, "closed", actor, now)


def reopen(store: Store, ticket_id: int, actor: str, now: str) -> None:
    with store.tx():
        t = require(store, ticket_id)
        if t["status"] not in ("solved", "closed"):
            return
        _set_status(store, t, "open", actor, now)


def on_inbound(store: Store, ticket_id: int, actor: str, now: str) -> None:
    """A customer wrote: pending or solved → open; a snooze ends early."""
    t = require(store, ticket_id)
    if t["snoozed_until"]:
        repo.update(store, ticket_id, {"snoozed_until": None})
        store.event(actor, "unsnooze", now, ticket_id=ticket_id, reason="customer replied")
    if t["status"] in ("pending", "solved", "closed"):
        _set_status(store, t, "open", actor, now, reason="customer replied")


def on_agent_reply(store: Store, ticket_id: int, actor: str, now: str, status: str | None) -> None:
    """An agent answered: a new ticket becomes open, or takes the status
    the reply asked for. The first response is stamped only once the reply
    is sent (``on_reply_sent``): a reply stuck in the outbox reached nobody."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    t = require(store, ticket_id)
    target = status or ("open" if t["status"] in ("new", "solved", "closed") else None)
    if target:
        _set_status(store, require(store, ticket_id), target, actor, now, reason="agent replied")


def on_reply_sent(store: Store, ticket_id: int, at: str) -> None:
    """An agent's reply reached the channel (sent or delivered): the first
    one is the ticket's first response (SLA). Never called for an
    automatic acknowledgement."""
    repo.stamp_first_response(store, ticket_id, at)


def assign(store: Store, ticket_id: int, name: str | None, actor: str, now: str, *,
           history: bool = False) -> None:
    """Set the assignee. ``history``: a rule assigned mail from before the
    first sync, which notifies nobody (the event says so)."""
    if name is not None and not is_label(name):
        raise UsageError(f"assignee {name!r} is blank or holds control characters: give a plain name")
    with store.tx():
        t = require(store, ticket_id)
        if t["assignee"] == name:
            return
        repo.update(store, ticket_id, {"assignee": name, "updated_at": now})
        store.event(actor, "assign", now, ticket_id=ticket_id, old=t["assignee"], new=name,
                    **({"history": True} if history else {}))


def priority(store: Store, ticket_id: int, level: str, actor: str, now: str) -> None:
    if level not in PRIORITY_RANK:
        raise UsageError(f"unknown priority {level!r}: use low, normal, high or urgent")
    with store.tx():
        t = require(store, ticket_id)
        if t["priority"] == level:
            return
        repo.update(store, ticket_id, {"priority": level, "updated_at": now})
        store.event(actor, "priority", now, ticket_id=ticket_id, old=t["priority"], new=level)


def tag(store: Store, ticket_id: int, tags: list[str], actor: str, now: str, *, remove: bool = False) -> None:
    bad = [t for t in tags if not is_label(t)]
    if bad and not remove:
        raise UsageError(f"tag {bad[0]!r} is blank or holds control characters: give a plain word")
    with store.tx():
        require(store, ticket_id)
        # Tags are case-insensitive: `Damaged` and `damaged` are one tag,
        # stored lower-case (the read filters lower their argument too).
        typed = {t.strip().lower(): t.strip() for t in reversed(tags) if t.strip()}
        for name in dict.fromkeys(t.strip().lower() for t in tags if t.strip()):
            if not remove:  # shown as first typed (`VIP`), filtered by the key
                remember_tag_name(store, typed[name])
            changed = (repo.remove_tag(store, ticket_id, name) if remove
                       else repo.add_tag(store, ticket_id, name))
            if changed:
                store.event(actor, "untag" if remove else "tag", now, ticket_id=ticket_id, tag=name)
                repo.update(store, ticket_id, {"updated_at": now})


def snooze(store: Store, ticket_id: int, until: str | None, actor: str, now: str) -> None:
    with store.tx():
        require(store, ticket_id)
        repo.update(store, ticket_id, {"snoozed_until": until, "updated_at": now})
        store.event(actor, "snooze" if until else "unsnooze", now, ticket_id=ticket_id, until=until)


def merge(store: Store, from_id: int, into_id: int, actor: str, now: str) -> None:
    """Move every message of FROM into INTO; FROM is closed and points at INTO."""
    if from_id == into_id:
        raise UsageError("cannot merge a ticket into itself")
    with store.tx():
        # Both rows held to the end: a sync adding a message to FROM on
        # another machine waits, then follows merged_into (PostgreSQL).
        repo.lock(store, [from_id, into_id])
        src = require(store, from_id)
        dst = require(store, into_id)
        if src["merged_into"]:
            raise UsageError(f"ticket {from_id} is already merged into {src['merged_into']}")
        repo.move_contents(store, from_id, into_id)
        refresh_counts(store, into_id)
        refresh_counts(store, from_id)
        repo.update(store, from_id, {"merged_into": into_id, "updated_at": now})
        _set_status(store, require(store, from_id), "closed", actor, now, reason="merged")
        if dst["status"] in ("solved", "closed") and src["status"] in ("new", "open", "pending"):
            _set_status(store, require(store, into_id), "open", actor, now, reason="merged")
        repo.update(store, into_id, {"updated_at": now})
        store.event(actor, "merge", now, ticket_id=into_id, merged=from_id)
        store.event(actor, "merged", now, ticket_id=from_id, into=into_id)


def refresh_counts(store: Store, ticket_id: int) -> None:
    repo.refresh_counts(store, ticket_id)


def delete(store: Store, ticket_id: int, actor: str, now: str) -> None:
    with store.tx():
        repo.lock(store, [ticket_id])  # a message being stored on it comes first, and goes too
        require(store, ticket_id)
        digests = repo.delete(store, ticket_id)
        store.event(actor, "delete", now, ticket_id=ticket_id)
    store.drop_unused_files(digests)


def auto_close(store: Store, close_after: timedelta, actor: str, now: str) -> int:
    """Close solved tickets whose solve is older than ``close_after``."""
    cutoff = shift(now, -close_after)
    ids = repo.solved_before(store, cutoff)
    with store.tx():
        for tid in ids:
            _set_status(store, require(store, tid), "closed", actor, now, reason="close_after")
    return len(ids)
