"""Housekeeping: what every ``sync`` pass does after pulling the channels
(and ``sync --watch`` on every pass), so the store acts without anyone at
the terminal (SPEC §2, §10).

In order, each step on its own (one failing does not stop the others):
1. close solved tickets older than ``close_after``;
2. wake snoozed tickets whose time has come (an ``unsnooze`` event);
3. recompute SLA due times that are stale or whose config changed;
4. further steps that act on tickets (CSAT questions go here: see
   ``STEPS``);
5. send the notifications that are due, last, so they see the state the
   steps above left.

One process at a time (``Store.housekeeping_lock``): on PostgreSQL every
machine syncs, and one that finds another doing housekeeping skips it
(``Report.skipped``), so nothing is closed, asked or notified twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supportctl.errors import SupportError
from supportctl.services import notify, sla, triage
from supportctl.store import sla as db
from supportctl.store.db import Store


@dataclass
class Context:
    """What a step gets: the store, the config, the time, who acts, and a
    way to get a built channel by entry name (services never build them)."""

    store: Store
    config: Any
    now: str
    actor: str
    channel_for: notify.ChannelFor


@dataclass
class Report:
    closed: int = 0
    woken: int = 0
    sla_recomputed: int = 0
    notified: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # further steps, by name
    problems: list[str] = field(default_factory=list)
    #: Another machine was doing it (PostgreSQL): nothing was done here.
    skipped: bool = False


#: Further steps, run after the SLA refresh and before notifications, each
#: returning how many things it did. The CSAT service (branch ``rules``)
#: registers its "ask the questions that are due" here:
#: ``STEPS.append(("csat", csat.ask_due))`` with ``ask_due(ctx) -> int``.
STEPS: list[tuple[str, Callable[[Context], int]]] = []


def wake_snoozed(store: Store, actor: str, now: str) -> int:
    """Snoozes whose time has come end, with an event, so the ticket is
    back in the queue and the record says why."""
    ids = db.snoozes_due(store, now)
    with store.tx():
        for tid in ids:
            db.end_snooze(store, tid)
            store.event(actor, "unsnooze", now, ticket_id=tid, reason="time")
    return len(ids)


def run(store: Store, config: Any, now: str, *, actor: str, channel_for: notify.ChannelFor,
        synced: dict[str, str | None] | None = None, started: str | None = None) -> Report:
    """One housekeeping pass; ``synced`` and ``started`` describe the sync
    pass before it (see ``notify.run``)."""
    with store.housekeeping_lock() as mine:
        if not mine:
            return Report(skipped=True)
        return _run(store, config, now, actor=actor, channel_for=channel_for, synced=synced,
                    started=started)


def _run(store: Store, config: Any, now: str, *, actor: str, channel_for: notify.ChannelFor,
         synced: dict[str, str | None] | None, started: str | None) -> Report:
    report = Report()
    ctx = Context(store, config, now, actor, channel_for)

    def step(name: str, fn: Callable[[], int]) -> int:
        try:
            return fn()
        except SupportError as exc:
            report.problems.append(f"{name}: {exc}")
            return 0

    report.closed = step("close_after", lambda: triage.auto_close(store, config.close_after, actor, now))
    report.woken = step("snooze", lambda: wake_snoozed(store, actor, now))
    report.sla_recomputed = step("sla", lambda: sla.refresh(store, config, now))
    for name, fn in STEPS:
        report.counts[name] = step(name, lambda fn=fn: fn(ctx))  # type: ignore[misc]

    def send() -> int:
        result = notify.run(store, config, now, channel_for, synced=synced, started=started)
        report.problems += result.failed
        return result.sent

    report.notified = step("notify", send)
    return report
