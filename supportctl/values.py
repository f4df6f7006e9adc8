"""Plain values every layer shares: ticket statuses and priorities, the
one clock, ISO times. No I/O, no imports of ours, and cheap to import:
the read commands (`list`, `show`, `search`) load this and nothing of
``models``, whose dataclasses cost them milliseconds at start-up.
"""

from __future__ import annotations

import enum
import os
from datetime import datetime, timedelta, timezone


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}

# The media (email, sms, …) are declared by the channels: see
# ``supportctl.channels.spec`` and ``supportctl.channels.media()``.

DELIVERY_STATES = ("queued", "sent", "delivered", "undelivered", "failed", "unknown")


def utcnow() -> datetime:
    """The one clock (SPEC §10): every time-dependent decision reads it.

    ``SUPPORTCTL_NOW`` (ISO 8601; a time without a zone is UTC) pins it for
    tests and scripts; nothing else changes behaviour with it. An unreadable
    value is ignored rather than failing every command."""
    pinned = os.environ.get("SUPPORTCTL_NOW")
    if pinned:
        try:
            dt = datetime.fromisoformat(pinned.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z`` (SPEC §6)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def shift(value: str, delta: timedelta) -> str:
    """An ISO timestamp moved by ``delta``, as ISO again."""
    dt = parse_iso(value) or utcnow()
    return iso(dt + delta) or ""
