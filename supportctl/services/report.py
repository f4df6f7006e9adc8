"""Reports: volume, first-response and resolution times (median, p90), SLA
attainment and backlog age, overall or grouped (SPEC §5 ``report``)."""

from __future__ import annotations

from typing import Any

from supportctl.errors import UsageError
from supportctl.models import parse_iso
from supportctl.store.db import Store

GROUPS = ("channel", "tag", "assignee", "day", "week")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _hours(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    da, db = parse_iso(a), parse_iso(b)
    assert da is not None and db is not None
    return max((db - da).total_seconds() / 3600, 0.0)


def _key(row: Any, by: str | None, tags: dict[int, list[str]]) -> list[str]:
    if by is None:
        return ["all"]
    if by == "channel":
        return [row["channel"]]
    if by == "assignee":
        return [row["assignee"] or "(unassigned)"]
    if by == "day":
        return [row["created_at"][:10]]
    if by == "week":
        d = parse_iso(row["created_at"])
        assert d is not None
        y, w, _ = d.isocalendar()
        return [f"{y}-W{w:02d}"]
    return tags.get(row["id"]) or ["(untagged)"]


def report(store: Store, since: str, now: str, by: str | None = None) -> list[dict[str, Any]]:
    if by is not None and by not in GROUPS:
        raise UsageError(f"unknown --by {by!r}: use one of {', '.join(GROUPS)}")
    rows = store.execute(
        "SELECT id, status, channel, assignee, created_at, first_response_at, solved_at, "
        "first_response_due, resolution_due FROM tickets WHERE created_at >= ? "
        "AND merged_into IS NULL", [since]
    ).fetchall()
    tags: dict[int, list[str]] = {}
    if by == "tag":
        for r in store.execute(
            "SELECT g.ticket_id, g.tag FROM tags g JOIN tickets t ON t.id = g.ticket_id "
            "WHERE t.created_at >= ?", [since]
        ):
            tags.setdefault(r[0], []).append(r[1])
    groups: dict[str, list[Any]] = {}
    for r in rows:
        for k in _key(r, by, tags):
            groups.setdefault(k, []).append(r)
    out = []
    for name in sorted(groups):
        rs = groups[name]
        frt = [h for r in rs if (h := _hours(r["created_at"], r["first_response_at"])) is not None]
        res = [h for r in rs if (h := _hours(r["created_at"], r["solved_at"])) is not None]
        with_sla = [r for r in rs if r["first_response_due"] or r["resolution_due"]]
        met = [
            r for r in with_sla
            if (not r["first_response_due"] or (r["first_response_at"] or now) <= r["first_response_due"])
            and (not r["resolution_due"] or (r["solved_at"] or now) <= r["resolution_due"])
        ]
        backlog = [r for r in rs if r["status"] in ("new", "open", "pending")]
        ages = [_hours(r["created_at"], now) or 0.0 for r in backlog]
        out.append({
            "group": name,
            "tickets": len(rs),
            "solved": len(res),
            "first_response_hours": {"median": _percentile(frt, 0.5), "p90": _percentile(frt, 0.9)},
            "resolution_hours": {"median": _percentile(res, 0.5), "p90": _percentile(res, 0.9)},
            "sla_attainment": (len(met) / len(with_sla)) if with_sla else None,
            "backlog": len(backlog),
            "backlog_age_hours": {"median": _percentile(ages, 0.5), "max": max(ages) if ages else None},
        })
    return out


