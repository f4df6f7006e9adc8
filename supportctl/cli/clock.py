"""Times for people: every time a command prints for a person passes here.

The contract (issue 10): a time on a terminal is in the shop's zone (the
config's ``timezone``, else the system's, which honours ``TZ``) and says
which zone it is in wherever it could be mistaken: ``Wed 9 Dec 10:00 CET``,
or it is relative to the one clock (SPEC §10): ``in 40 min``,
``2 h 5 min overdue``. Machine formats (JSON, JSONL, CSV) keep the stored
UTC ISO 8601 of SPEC §6 and never come here.

Cheap on the start-up path of ``list`` and ``show``: the zone is read from
the config by a line scan (no yaml), and ``zoneinfo`` is already loaded by
typer's pydantic, so resolving a zone adds no import.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from supportctl.values import parse_iso, utcnow

if TYPE_CHECKING:
    from supportctl.cli.app import Ctx


def zone() -> tzinfo | None:
    """The zone times are shown in; ``None``: the system's. Resolved once
    per invocation and kept on its context (never at module level: two
    runs in one process may have different configs)."""
    from supportctl.cli.app import current

    cx = current()
    if not cx._zone:
        cx._zone.append(_resolve(cx))
    return cx._zone[0]  # type: ignore[no-any-return]


def use_zone(name: str | None) -> None:
    """Show times in ``name`` (an IANA zone), or the system's with None,
    for the rest of this invocation."""
    from supportctl.cli.app import current

    cx = current()
    cx._zone[:] = [_zone_named(name)]


def _resolve(cx: Ctx) -> tzinfo | None:
    if cx._cfg_loaded and cx._config is not None:
        name = getattr(cx._config, "timezone", None)
    else:
        from supportctl.paths import timezone_fast

        name = timezone_fast(cx.cfg_path())
    return _zone_named(name)


def _zone_named(name: str | None) -> tzinfo | None:
    if not name:
        return None
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        # `config check` names a bad zone; reading the store must not fail
        # over it. Every time shown carries its zone, so none is mistaken.
        return None


def local(value: str | datetime | None) -> datetime | None:
    """``value`` (ISO 8601 or an aware datetime) in the display zone."""
    try:
        when = parse_iso(value) if isinstance(value, str) or value is None else value
    except ValueError:  # a damaged or hand-edited store: show it as it is
        return None
    if when is None:
        return None
    z = zone()
    return when.astimezone(z) if z is not None else when.astimezone()


def _now() -> datetime:
    return local(utcnow()) or utcnow()


def zone_label() -> str:
    """The display zone's abbreviation now (``CET``), for a column header."""
    return _now().tzname() or ""


def day_time(value: str | datetime | None, *, label: bool = True) -> str:
    """``Wed 9 Dec 10:00 CET``; the year when it is not this year's; ``""``
    for no time, the stored text for one that cannot be read."""
    d = local(value)
    if d is None:
        return "" if not value else str(value)
    year = f" {d.year}" if d.year != _now().year else ""
    text = f"{d:%a} {d.day} {d:%b}{year} {d:%H:%M}"
    return f"{text} {d.tzname()}" if label and d.tzname() else text


def brief(value: str | datetime | None) -> str:
    """A time within the coming week as ``Thu 09:00``, else as ``day_time``
    without the zone: for a table whose header names the zone."""
    d = local(value)
    if d is None:
        return ""
    if 0 <= (d.date() - _now().date()).days < 7:
        return f"{d:%a %H:%M}"
    return day_time(value, label=False)


def span(seconds: float) -> str:
    """``40 min``, ``2 h 5 min``, ``3 d 4 h``: a length of time, rounded
    down to the minute."""
    s = int(abs(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d} d {h} h" if h else f"{d} d"
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{m} min"


def relative(value: str | datetime | None, *, late: str = "overdue", now: str | None = None) -> str:
    """How far off ``value`` is: ``in 40 min``, or ``2 h overdue`` (``late``
    names a past time: ``overdue`` for a due time, ``ago`` for an event)."""
    d = local(value)
    if d is None:
        return ""
    base = parse_iso(now) if now else utcnow()
    left = (d - base).total_seconds() if base is not None else 0.0
    if -60 < left < 60:
        return "now"
    return f"in {span(left)}" if left > 0 else f"{span(left)} {late}"


def due(value: str | None, *, now: str | None = None) -> str:
    """``Wed 9 Dec 10:00 CET (in 40 min)`` / ``(2 h overdue)``."""
    if not value:
        return ""
    rel = relative(value, now=now)
    return f"{day_time(value)} ({rel})" if rel else day_time(value)
