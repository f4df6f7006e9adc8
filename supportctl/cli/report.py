"""``report``: the numbers of a period (SPEC §5, §11), as JSON, CSV, plain
tab-separated rows off a terminal, charts on one, or a self-contained HTML
page (``--html FILE``)."""

from __future__ import annotations

from typing import Any

import typer

from supportctl.cli.app import Ctx, app, now_iso, obj
from supportctl.errors import UsageError

#: The flat columns of ``--format csv`` and of plain output: numbers, hours.
COLUMNS = [
    "group", "tickets", "solved", "first_response_median_hours", "first_response_p90_hours",
    "resolution_median_hours", "resolution_p90_hours", "sla_attainment",
    "first_response_attainment", "resolution_attainment", "backlog", "backlog_max_age_hours",
    "reopen_rate", "repeat_contacts", "csat_average", "csat_responses", "csat_asked",
    "csat_satisfied_share", "messages_in", "messages_out", "trending_tags", "trending_phrases",
]


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _trend(items: list[dict[str, Any]]) -> str:
    return "; ".join(f"{t['name']} {t['count']} (was {t['previous']})" for t in items)


def flat(g: dict[str, Any]) -> dict[str, str]:
    sla = g["sla"]
    return {
        "group": g["group"], "tickets": str(g["tickets"]), "solved": str(g["solved"]),
        "first_response_median_hours": _num(g["first_response_hours"]["median"]),
        "first_response_p90_hours": _num(g["first_response_hours"]["p90"]),
        "resolution_median_hours": _num(g["resolution_hours"]["median"]),
        "resolution_p90_hours": _num(g["resolution_hours"]["p90"]),
        "sla_attainment": _num(g["sla_attainment"]),
        "first_response_attainment": _num(sla["first_response"]["attainment"]),
        "resolution_attainment": _num(sla["resolution"]["attainment"]),
        "backlog": str(g["backlog"]),
        "backlog_max_age_hours": _num(g["backlog_age_hours"]["max"]),
        "reopen_rate": _num(g["reopen_rate"]), "repeat_contacts": str(g["repeat_contacts"]),
        "csat_average": _num(g["csat"]["average"]), "csat_responses": str(g["csat"]["responses"]),
        "csat_asked": str(g["csat"]["asked"]),
        "csat_satisfied_share": _num(g["csat"]["satisfied_share"]),
        "messages_in": str(g["messages"]["in"]), "messages_out": str(g["messages"]["out"]),
        "trending_tags": _trend(g["trending_tags"]),
        "trending_phrases": _trend(g["trending_phrases"]),
    }


def _tags_as_typed(cx: Ctx, result: Any, by: str | None) -> None:
    from supportctl.store.read import tag_display_names

    groups = [result.overall, *result.groups]
    keys = {t["name"] for g in groups for t in g.get("trending_tags") or []}
    if by == "tag":
        keys |= {g["group"] for g in result.groups}
    names = tag_display_names(cx.store(), keys)
    for g in groups:
        for t in g.get("trending_tags") or []:
            t["name"] = names.get(t["name"], t["name"])
    if by == "tag":
        for g in result.groups:
            g["group"] = names.get(g["group"], g["group"])


@app.command()
def report(ctx: typer.Context,
    since: str = typer.Option("30d", "--since", help="Tickets created since (30d, a date)."),
    until: str | None = typer.Option(None, "--until", help="…and before (default: now)."),
    by: str | None = typer.Option(None, "--by", help="channel|tag|assignee|day|week"),
    fmt: str | None = typer.Option(None, "--format", "-f", help="table|json|jsonl|csv"),
    html: str | None = typer.Option(None, "--html", metavar="FILE",
                                    help="Write a self-contained HTML page (mode 600)."),
) -> None:
    """Volume, response and resolution times, SLA, CSAT, reopens, repeat
    contacts, hour of week, trending tags and phrases.

    Customer volume only: tickets tagged spam, auto (automatic mail) or
    bounce (delivery reports), and automatic answers or delivery reports on
    a customer's ticket, are not counted. --format csv gives plain numbers:
    hours as hours, rates and shares as fractions 0-1."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import _time_arg
    from supportctl.services.report import report as run

    if fmt not in (None, "table", "json", "jsonl", "csv"):
        raise UsageError(f"unknown report --format {fmt!r}: use table, json, jsonl or csv")
    now = now_iso()
    config = cx.config()
    result = run(cx.store(), _time_arg(since) or "", _time_arg(until) or now, now, by, config)
    if html or fmt in (None, "table"):  # for people: tags as first typed (JSON, CSV: the key)
        _tags_as_typed(cx, result, by)
    if html:
        from supportctl.cli.report_html import write_page

        write_page(html, result)
        if not cx.quiet:
            render.info(f"wrote {html}")
        return
    rows = result.groups
    if fmt == "json":
        render.write_json(rows)
    elif fmt == "jsonl":
        render.write_jsonl(rows)
    elif fmt == "csv":
        render.write_csv([flat(g) for g in rows], COLUMNS)  # type: ignore[misc]
    elif render.is_tty() and fmt in (None, "table"):
        from supportctl.cli.report_term import draw

        draw(result)
    else:  # plain text for people and cut: through the one sanitising boundary
        render.plain([COLUMNS, *([flat(g)[c] for c in COLUMNS] for g in rows)])
