"""``report`` on a terminal: a table per group with volume bars, a daily
line of customer messages and our answers, an hour-of-week heat map, and
the trending tags and phrases. Drawn with rich's own renderables (block and
shade characters, colour only where colour is allowed); every name passes
``safe.one_line`` and reaches rich as ``Text``, never as markup."""

from __future__ import annotations

from typing import Any

from supportctl.cli import render
from supportctl.safe import one_line

_SPARK = " ▁▂▃▄▅▆▇█"
_SHADE = " ░▒▓█"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hours_text(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 60:.0f}m"
    return f"{v:.1f}h" if v < 48 else f"{v / 24:.1f}d"


def share_text(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def spark(values: list[int], width: int) -> str:
    """One character per value (values folded into ``width`` columns)."""
    if not values:
        return ""
    if len(values) > width:
        step = -(-len(values) // width)
        values = [sum(values[i:i + step]) for i in range(0, len(values), step)]
    top = max(values) or 1
    return "".join(_SPARK[0 if v == 0 else max(1, round(8 * v / top))] for v in values)


def draw(result: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    con = render.console()
    color = render.color_ok()
    width = max(40, min(con.width, 160))
    basis = "business hours" if result.business_time else "calendar hours"
    con.print(Text(f"Tickets created {render.short_time(result.since)} – "
                   f"{render.short_time(result.until)} · times in {basis} · "
                   f"zone {result.timezone}", style="bold" if color else ""))

    table = Table(box=None, header_style="bold", pad_edge=False)
    cols = ["group", "tickets", "1st resp med", "p90", "resolve med", "p90", "SLA", "reopen",
            "repeat", "CSAT", "backlog"]
    rows = []
    for g in result.groups:
        cs = g["csat"]
        rows.append([
            one_line(g["group"], 24), str(g["tickets"]),
            hours_text(g["first_response_hours"]["median"]), hours_text(g["first_response_hours"]["p90"]),
            hours_text(g["resolution_hours"]["median"]), hours_text(g["resolution_hours"]["p90"]),
            share_text(g["sla_attainment"]), share_text(g["reopen_rate"]), str(g["repeat_contacts"]),
            "-" if cs["average"] is None else f"{cs['average']:.1f}", str(g["backlog"]),
        ])
    for c in cols:
        table.add_column(c, justify="left" if c == "group" else "right")
    # The bars get the width the numbers leave (at most 20): a bar cut
    # short by the terminal's edge would show 4 tickets as long as 3.
    natural = sum(max(len(c), *(len(r[i]) for r in rows)) + 2 for i, c in enumerate(cols))
    bar = min(20, width - natural)
    if bar >= 3:
        table.add_column("volume", no_wrap=True)
    top = max((g["tickets"] for g in result.groups), default=0) or 1
    for g, r in zip(result.groups, rows, strict=True):
        cells: list[Any] = [Text(r[0]), *r[1:]]
        if bar >= 3:
            cells.append(Text("█" * max(1 if g["tickets"] else 0, round(bar * g["tickets"] / top)),
                              style="cyan" if color else ""))
        table.add_row(*cells)
    con.print(table)

    policies = result.overall["sla"]["policies"]
    if policies:
        con.print(Text("SLA by policy: " + ", ".join(
            f"{one_line(p['name'], 20)} {share_text(p['attainment'])} of {p['tickets']}"
            for p in policies)))
    if not result.csat_recorded:
        con.print(Text("CSAT: not recorded in this store yet", style="dim" if color else ""))
    elif not result.overall["csat"]["asked"]:
        con.print(Text("CSAT: no customer of this period was asked how it went"
                       " (`csat:` in the config asks when a ticket is solved)",
                       style="dim" if color else ""))

    days = result.days
    if days:
        w = max(10, width - 16)
        con.print()
        con.print(Text(f"Per day, {days[0]['date']} → {days[-1]['date']}"
                       + (" (columns fold several days)" if len(days) > w else ""),
                       style="bold" if color else ""))
        for label, key, style in (("new tickets", "tickets", "cyan"),
                                  ("customers", "in", "yellow"), ("we answered", "out", "green")):
            values = [d[key] for d in days]
            line = Text(f"{label:>12}  ")
            line.append(spark(values, w), style=style if color else "")
            line.append(f"  max {max(values)}")
            con.print(line)

    how = result.overall["hour_of_week"]
    con.print()
    con.print(Text("Hour of week (local time): customers write ░▒▓█, we answer ░▒▓█ below",
                   style="bold" if color else ""))
    header = Text("     " + "".join(f"{h:<6}" for h in range(0, 24, 3)))
    for label, grid, style in (("in", how["in"], "yellow"), ("out", how["out"], "green")):
        con.print(Text(f"{label}:"))
        con.print(header)
        top_cell = max(max(r) for r in grid) or 1
        for d, row in enumerate(grid):
            line = Text(f"{_DAYS[d]}  ")
            for v in row:
                ch = _SHADE[0 if v == 0 else max(1, round(4 * v / top_cell))]
                line.append(ch * 2, style=style if color else "")
            line.append(f"  {sum(row)}")
            con.print(line)

    for title, key in (("Trending tags", "trending_tags"), ("Trending phrases", "trending_phrases")):
        items = result.overall[key]
        con.print()
        con.print(Text(f"{title} (vs the previous period)", style="bold" if color else ""))
        if not items:
            con.print(Text("  nothing grew"))
        for t in items:
            line = Text(f"  ▲ {one_line(t['name'], 40)}  ")
            line.append(f"{t['count']} (was {t['previous']})", style="bold" if color else "")
            con.print(line)
