"""Notifications to people (SPEC §10): a short message to an agent or the
owner when something needs them, through a configured channel entry.

Contract:
- A notification goes to the entry's ``to`` only (an address, a number, a
  Telegram chat id from the config; or ``assignee``: the ticket's
  assignee at their ``agents[].email``, the one assigned for ``assigned``,
  nobody while the ticket has no assignee with an email), through the
  channel's own ``send``.
  It never touches the outbox or the messages of a ticket, so it can never
  reach a customer, never counts as a reply and never moves an SLA clock.
- Each (ticket, event, entry) notifies once: a row in ``notifications``
  (its primary key) and an event ``notify`` on the ticket, written after
  the send succeeded. A failed send is tried again on the next run.
  Events that happen more than once on a ticket are keyed per occurrence
  (``customer-replied`` per message, ``assigned`` per assignment).
- Quiet while nothing changes: ticket events are read from the event log
  after a stored position; the first run starts with the sync pass it ends
  (``started``), and only clocks that run out after that are reported, so
  configuring ``notify`` on an old store sends no backlog.
- A digest goes once per local day, at or after its ``at`` time.
- ``sync-failed`` notifies once per failure streak of a channel entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from supportctl.channels.base import Channel
from supportctl.config import NOTIFY_ASSIGNEE
from supportctl.errors import ChannelError, ConfigError
from supportctl.models import Address, Outbound
from supportctl.services import sla
from supportctl.store import notify as db
from supportctl.store.db import Store
from supportctl.store.read import due_soon_params
from supportctl.store.sla import set_state, state
from supportctl.values import iso, parse_iso

CURSOR_KEY = "notify.cursor"
SINCE_KEY = "notify.since"
#: Customer text in a notification: a first line, this long at most.
FIRST_LINE = 60
DIGEST_LINES = 10

ChannelFor = Callable[[str], Channel]


@dataclass
class Pending:
    entry: Any
    ticket_id: int  # 0: about no ticket
    key: str  # what makes it once-only on (ticket, key, entry)
    event: str  # the SPEC name: new, due-soon, breached, ...
    text: str
    subject: str
    event_id: int | None = None  # the event-log row it came from
    assignee: str | None = None  # ``assigned``: who was assigned


@dataclass
class Report:
    sent: int = 0
    failed: list[str] = field(default_factory=list)


def outbound_for(entry: Any, channel: Channel, text: str, subject: str,
                 to: str | None = None) -> Outbound:
    """The message for ``to`` (default ``entry.to``) on the entry's channel."""
    kind = getattr(channel, "type", "")
    to = entry.to if to is None else to
    if kind == "imap" or (kind == "memory" and "@" in to):
        medium = "email"
    elif kind == "telegram" or (kind == "memory" and not to.lstrip("+").startswith(tuple("0123456789"))
                                and not to.startswith("whatsapp:")):
        medium = "telegram"
    elif to.startswith("whatsapp:"):
        medium = "whatsapp"
    else:
        medium = "sms"
    out = Outbound(medium=medium, to=[Address(to.removeprefix("whatsapp:"))], text=text,
                   subject=subject if medium == "email" else "", auto=True)
    if medium == "telegram":
        out.conversation = to
    return out


def deliver(entry: Any, channel_for: ChannelFor, text: str, subject: str,
            to: str | None = None) -> None:
    """Send one notification (to ``to``, default ``entry.to``);
    ChannelError when it did not go."""
    channel = channel_for(entry.via)
    channel.send(outbound_for(entry, channel, text, subject, to))


def agent_emails(config: Any) -> dict[str, str]:
    """Agent name -> email, for the agents that have one."""
    return {a.name: a.email for a in getattr(config, "agents", None) or [] if a.email}


def _address(store: Store, config: Any, p: Pending) -> str | None:
    """Where ``p`` goes: the entry's ``to``, or for ``to: assignee`` the
    assignee's email (None: nobody to tell)."""
    if p.entry.to != NOTIFY_ASSIGNEE:
        return str(p.entry.to)
    name = p.assignee
    if name is None and p.ticket_id:
        row = db.ticket_summary(store, p.ticket_id)
        name = row["assignee"] if row is not None else None
    return agent_emails(config).get(name) if name else None


# -- what to say ----------------------------------------------------------------


def _tz(config: Any) -> Any:
    return sla._tz(config)


def local_time(value: str | None, config: Any) -> str:
    when = parse_iso(value)
    if when is None:
        return ""
    return when.astimezone(_tz(config)).strftime("%a %d %b %H:%M")


def ticket_line(store: Store, ticket_id: int, config: Any, *, event: str,
                message_id: int | None = None, due: str | None = None,
                assignee: str | None = None) -> tuple[str, str]:
    """(text, email subject): id, customer, channel, first line, due time
    (``assigned``: to ``assignee``, the one assigned then, else the
    ticket's assignee now)."""
    from supportctl.safe import one_line

    t = db.ticket_summary(store, ticket_id)
    if t is None:
        return f"#{ticket_id} {event}", f"#{ticket_id} {event}"
    if message_id is None:
        message_id = db.last_inbound_id(store, ticket_id)
    text = db.message_text(store, message_id) or t["subject"]
    first = next((ln for ln in str(text).splitlines() if ln.strip()), "")
    who = one_line(t["contact_name"] or t["address"] or "unknown", 30)
    due = due or (t["first_response_due"] if not t["first_response_at"] and t["first_response_due"]
                  else t["resolution_due"] if not t["solved_at"] else None)
    assignee = assignee or t["assignee"]
    what = event + (f" to {one_line(assignee, 20)}" if event == "assigned" and assignee else "")
    parts = [f"#{t['id']} {what}", who, t["channel"], one_line(first, FIRST_LINE)]
    if due:
        parts.append(f"due {local_time(due, config)}")
    return " · ".join(p for p in parts if p), f"[supportctl] #{t['id']} {what}: {who}"


# -- conditions -------------------------------------------------------------------


def applies(store: Store, entry: Any, ticket_id: int, at: datetime, config: Any) -> bool:
    """The entry's optional conditions: priority, channel (medium or
    account), tag, outside_hours (at the moment of the event)."""
    if entry.priority or entry.channel:
        row = db.ticket_routing(store, ticket_id)
        if row is None:
            return False
        if entry.priority and row["priority"] not in entry.priority:
            return False
        if entry.channel and row["channel"] not in entry.channel and row["account"] not in entry.channel:
            return False
    if entry.tag and not db.has_any_tag(store, ticket_id, list(entry.tag)):
        return False
    return outside_ok(entry, at, config)


def outside_ok(entry: Any, at: datetime, config: Any) -> bool:
    if entry.outside_hours is None:
        return True
    hours = sla.hours_from_config(config)
    return (not sla.is_business_time(at, hours)) == entry.outside_hours if hours else not entry.outside_hours


# -- finding what is due -----------------------------------------------------------------


def _entries(config: Any, event: str) -> list[Any]:
    return [e for e in getattr(config, "notify", None) or [] if event in e.on]


def _from_log(store: Store, config: Any, cursor: int) -> Iterator[Pending]:
    wanted = {ev for e in getattr(config, "notify", None) or [] for ev in e.on}
    if not wanted & {"new", "assigned", "customer-replied"}:
        return
    rows = db.ticket_events_after(store, cursor)
    for eid, tid, action, detail, at in rows:
        if tid is None:
            continue
        try:
            d = json.loads(detail)
        except ValueError:
            d = {}
        when = parse_iso(at)
        assert when is not None
        if action == "assign":
            if not d.get("new") or d.get("history"):
                continue  # unassigned, or a rule sorting history
            event, key, mid = "assigned", f"assigned:{eid}", None
            assignee = str(d["new"])
        else:
            assignee = None
            mid = d.get("message_id")
            if d.get("history") or _noise(store, tid, mid):
                # History (before the first sync, or imported) wakes nobody.
                continue
            first = db.first_message_id(store, tid)
            if mid is not None and mid == first:
                event, key = "new", "new"
            else:
                event, key = "customer-replied", f"customer-replied:{mid}"
        for entry in _entries(config, event):
            if applies(store, entry, tid, when, config):
                text, subject = ticket_line(store, tid, config, event=event, message_id=mid,
                                            assignee=assignee)
                yield Pending(entry, tid, key, event, text, subject, event_id=eid,
                              assignee=assignee)


def _noise(store: Store, ticket_id: int, message_id: Any) -> bool:
    """Spam, bounces, closed tickets and automatic mail (an out-of-office,
    a list) wake nobody."""
    if db.has_any_tag(store, ticket_id, ["spam", "bounce"]):
        return True
    if db.ticket_status(store, ticket_id) in ("closed", None):
        return True
    return db.message_is_automated(store, message_id)


def _clocks(store: Store, config: Any, now: str, since: str) -> Iterator[Pending]:
    """Tickets whose clock runs out soon, or ran out (after ``since``)."""
    at = parse_iso(now)
    assert at is not None
    soon = due_soon_params(now)[1]

    def running_out(due: str, stopped: str | None, event: str) -> bool:
        if event == "breached":
            return due <= (stopped or now)
        return stopped is None and now < due <= soon

    for event in ("due-soon", "breached"):
        entries = _entries(config, event)
        if not entries:
            continue
        rows = db.running_clocks(store, event, now)
        for tid, fr_at, fr_due, solved, paused, res_due in rows:
            clocks = []
            if fr_due and not fr_at and running_out(fr_due, None, event):
                clocks.append(("first_response", fr_due))
            if res_due and not solved and running_out(res_due, paused, event):
                clocks.append(("resolution", res_due))
            for clock, due in clocks:
                if event == "breached" and due < since:
                    continue  # ran out before anyone asked to be told
                for entry in entries:
                    if applies(store, entry, tid, at, config):
                        text, subject = ticket_line(store, tid, config, event=event, due=due)
                        label = clock.replace("_", " ")
                        text = text.replace(f"#{tid} {event}", f"#{tid} {event} ({label})", 1)
                        yield Pending(entry, tid, f"{event}:{clock}", event, text, subject)


def digest_text(store: Store, config: Any, entry: Any, now: str) -> tuple[str, str]:
    """Breached tickets and those due within a day, a line each."""
    from supportctl.safe import one_line

    at = parse_iso(now)
    assert at is not None
    rows = db.due_by(store, iso(at + timedelta(days=1)) or now)
    breached: list[str] = []
    due: list[str] = []
    for tid, channel, subject, name, fr_at, fr_due, solved, paused, res_due in rows:
        if not applies(store, entry, tid, at, config):
            continue
        nxt = fr_due if not fr_at and fr_due else res_due
        late = bool((not fr_at and fr_due and fr_due <= now)
                    or (not solved and res_due and res_due <= (paused or now)))
        line = f"#{tid} {one_line(name or '', 24)} · {channel} · {one_line(subject, 40)}"
        (breached if late else due).append(line + ("" if late else f" · due {local_time(nxt, config)}"))
    text = [f"Digest {local_time(now, config)}: {len(breached)} breached, {len(due)} due within a day"]
    for title, lines in (("Breached", breached), ("Due", due)):
        if lines:
            text.append(f"{title}:")
            text += lines[:DIGEST_LINES]
            if len(lines) > DIGEST_LINES:
                text.append(f"… and {len(lines) - DIGEST_LINES} more: supportctl list --sort due")
    return "\n".join(text), f"[supportctl] digest: {len(breached)} breached, {len(due)} due"


def _digests(store: Store, config: Any, now: str) -> Iterator[Pending]:
    at = parse_iso(now)
    assert at is not None
    local = at.astimezone(_tz(config))
    for entry in _entries(config, "digest"):
        if entry.at is None or local.time() < entry.at:
            continue
        text, subject = digest_text(store, config, entry, now)
        yield Pending(entry, 0, f"digest:{local.date().isoformat()}", "digest", text, subject)


def _sync_failures(config: Any, now: str, failures: dict[str, str]) -> Iterator[Pending]:
    from supportctl.safe import one_line

    at = parse_iso(now)
    assert at is not None
    for account, error in failures.items():
        for entry in _entries(config, "sync-failed"):
            if outside_ok(entry, at, config):
                text = f"sync of {account} failed: {one_line(error, 100)}"
                yield Pending(entry, 0, f"sync-failed:{account}", "sync-failed", text,
                              f"[supportctl] sync of {account} failed")


# -- the run -------------------------------------------------------------------------


def run(store: Store, config: Any, now: str, channel_for: ChannelFor, *,
        synced: dict[str, str | None] | None = None, started: str | None = None) -> Report:
    """Send every notification that is due now. ``synced`` maps each
    channel entry this sync ran to its error (None: it worked); ``started``
    is when this sync pass began (the first run reports from there)."""
    report = Report()
    if not getattr(config, "notify", None):
        return report
    last = db.last_event_id(store)
    with store.tx():
        cursor_text = state(store, CURSOR_KEY)
        since = state(store, SINCE_KEY)
        if cursor_text is None or since is None:
            # First run: from the start of this pass, no backlog.
            since = started or now
            cursor_text = str(db.last_event_before(store, since))
            set_state(store, CURSOR_KEY, cursor_text, now)
            set_state(store, SINCE_KEY, since, now)
        for account, error in (synced or {}).items():
            if error is None:  # the streak ended: a new failure notifies again
                db.forget_notification(store, 0, f"sync-failed:{account}")
    cursor = int(cursor_text)
    failures = {a: e for a, e in (synced or {}).items() if e is not None}
    todo = [*_from_log(store, config, cursor), *_clocks(store, config, now, since),
            *_digests(store, config, now), *_sync_failures(config, now, failures)]
    oldest_failed: int | None = None
    for p in todo:
        if db.notified(store, p.ticket_id, p.key, p.entry.name):
            continue
        to = _address(store, config, p)
        if to is None:
            continue  # to: assignee, and nobody with an email holds the ticket
        try:
            deliver(p.entry, channel_for, p.text, p.subject, to)
        except (ChannelError, ConfigError) as exc:
            report.failed.append(f"notify {p.entry.name}: {exc}")
            if p.event_id is not None:
                oldest_failed = min(oldest_failed or p.event_id, p.event_id)
            continue
        with store.tx():
            db.record_notification(store, p.ticket_id, p.key, p.entry.name, now)
            store.event(f"notify:{p.entry.name}", "notify", now, ticket_id=p.ticket_id or None,
                        event=p.event, entry=p.entry.name, via=p.entry.via)
        report.sent += 1
    with store.tx():
        # A failed send is retried next time: the position stays before it.
        if last is None:  # not settled: from the same place next time
            last = cursor
        set_state(store, CURSOR_KEY, str(last if oldest_failed is None else oldest_failed - 1), now)
    return report


def send_test(config: Any, name: str, channel_for: ChannelFor, now: str) -> Any:
    """``notify test NAME``: one test message through the entry."""
    entry = next((e for e in getattr(config, "notify", None) or [] if e.name == name), None)
    if entry is None:
        names = ", ".join(e.name for e in getattr(config, "notify", None) or []) or "none"
        raise ConfigError(f"no notify entry named {name!r}: configured are {names}")
    text = (f"supportctl test notification for {entry.name} ({local_time(now, config)}):"
            " notifications reach you here.")
    if entry.to == NOTIFY_ASSIGNEE:
        # every agent it may reach is told (and so checked)
        for address in agent_emails(config).values():
            deliver(entry, channel_for, text, "[supportctl] test notification", address)
    else:
        deliver(entry, channel_for, text, "[supportctl] test notification")
    return entry
