"""``report --html FILE``: one self-contained page an owner can open or
mail (SPEC §11).

Contract: no script, no remote resource of any kind (no links to fetch, no
``url(…)``, no web fonts; inline SVG needs no namespace URL inside HTML),
so it opens offline and nothing can phone home; it reads on a phone (a
viewport, one column, charts that scale with ``viewBox``, wide tables that
scroll sideways). Every name (tags, phrases, groups, agents) is
HTML-escaped. The file is written with mode 0600 (it describes customers)
through a temporary file and a rename, so a reader never sees half a page.
"""

from __future__ import annotations

import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from supportctl.cli.report_term import hours_text, share_text
from supportctl.errors import UsageError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:16px;
color:#1d2330;background:#f6f7f9;max-width:960px;margin:auto}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em}
.sub{color:#5b6475;font-size:.9em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:1.35em}.card span{color:#5b6475;font-size:.85em}
.box{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0001}
svg{width:100%;max-width:720px;height:auto;display:block}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9em;background:#fff}
th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #e6e8ec;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.legend{font-size:.85em;color:#5b6475}.in{color:#c77c02}.out{color:#1f8a4c}
ul{padding-left:1.2em;margin:.3em 0}li{margin:.15em 0}
"""


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _line_chart(days: list[dict[str, Any]]) -> str:
    """Customer messages and our answers per day, two polylines."""
    w, h, pad = 400, 170, 24
    n = len(days)
    top = max([max(d["in"], d["out"]) for d in days] + [1])

    def pts(key: str) -> str:
        out = []
        for i, d in enumerate(days):
            x = pad + (w - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
            y = h - pad - (h - 2 * pad) * d[key] / top
            out.append(f"{_num(x)},{_num(y)}")
        return " ".join(out)

    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="messages per day">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#c9ced6"/>',
             f'<text x="{pad}" y="{pad - 10}" font-size="12" fill="#5b6475">max {top}</text>']
    if n:
        parts.append(f'<polyline points="{pts("in")}" fill="none" stroke="#e59b0c" stroke-width="2.5"/>')
        parts.append(f'<polyline points="{pts("out")}" fill="none" stroke="#1f8a4c" stroke-width="2.5"/>')
        parts.append(f'<text x="{pad}" y="{h - 8}" font-size="12" fill="#5b6475">'
                     f'{escape(days[0]["date"])}</text>')
        parts.append(f'<text x="{w - pad}" y="{h - 8}" font-size="12" fill="#5b6475" '
                     f'text-anchor="end">{escape(days[-1]["date"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars(groups: list[dict[str, Any]]) -> str:
    """Tickets per group, horizontal bars."""
    rows = groups[:30]
    w, bar_h, label_w = 400, 24, 130
    h = bar_h * len(rows) + 8
    top = max([g["tickets"] for g in rows] + [1])
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="tickets per group">']
    for i, g in enumerate(rows):
        y = 4 + i * bar_h
        bw = (w - label_w - 60) * g["tickets"] / top
        name = str(g["group"])
        name = name if len(name) <= 18 else name[:17] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" font-size="13" text-anchor="end" '
                     f'fill="#1d2330">{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{_num(bw)}" height="{bar_h - 6}" '
                     f'rx="3" fill="#3a6fd8"/>')
        parts.append(f'<text x="{_num(label_w + bw + 6)}" y="{y + 15}" font-size="13" '
                     f'fill="#1d2330">{g["tickets"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heat(grid: list[list[int]], rgb: str, label: str) -> str:
    cell, left, top_pad = 15, 32, 16
    w, h = left + 24 * cell + 4, top_pad + 7 * cell + 4
    top = max(max(r) for r in grid) or 1
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}">']
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + hour * cell + 2}" y="13" font-size="11" '
                     f'fill="#5b6475">{hour}</text>')
    for d, row in enumerate(grid):
        y = top_pad + d * cell
        parts.append(f'<text x="0" y="{y + 11}" font-size="11" fill="#5b6475">{_DAYS[d]}</text>')
        for hour, v in enumerate(row):
            op = 0.06 if v == 0 else 0.18 + 0.82 * v / top
            parts.append(f'<rect x="{left + hour * cell}" y="{y}" width="{cell - 2}" '
                         f'height="{cell - 2}" rx="2" fill="{rgb}" fill-opacity="{op:.2f}">'
                         f'<title>{_DAYS[d]} {hour:02d}:00 {v}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _trend_list(items: list[dict[str, Any]]) -> str:
    if not items:
        return "<p class=sub>Nothing grew against the previous period.</p>"
    return "<ul>" + "".join(
        f"<li><b>{escape(str(t['name']))}</b> {t['count']} "
        f"<span class=sub>(was {t['previous']})</span></li>" for t in items) + "</ul>"


def page(result: Any) -> str:
    o = result.overall
    basis = "business hours" if result.business_time else "calendar hours"
    cs = o["csat"]
    cards = [
        ("tickets", str(o["tickets"])),
        ("first response, median", hours_text(o["first_response_hours"]["median"])),
        ("resolution, median", hours_text(o["resolution_hours"]["median"])),
        ("SLA attainment", share_text(o["sla_attainment"])),
        ("CSAT average", "-" if cs["average"] is None else f"{cs['average']:.1f} / 5"),
        ("reopen rate", share_text(o["reopen_rate"])),
        ("repeat contacts", str(o["repeat_contacts"])),
        ("open backlog", str(o["backlog"])),
    ]
    head = ["group", "tickets", "1st response med", "p90", "resolution med", "p90", "SLA",
            "reopen", "repeat", "CSAT", "backlog"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in (
            str(g["group"]), str(g["tickets"]),
            hours_text(g["first_response_hours"]["median"]), hours_text(g["first_response_hours"]["p90"]),
            hours_text(g["resolution_hours"]["median"]), hours_text(g["resolution_hours"]["p90"]),
            share_text(g["sla_attainment"]), share_text(g["reopen_rate"]), str(g["repeat_contacts"]),
            "-" if g["csat"]["average"] is None else f"{g['csat']['average']:.1f}",
            str(g["backlog"]))) + "</tr>"
        for g in result.groups)
    policies = o["sla"]["policies"]
    pol = "".join(
        f"<tr><td>{escape(str(p['name']))}</td><td>{p['tickets']}</td>"
        f"<td>{share_text(p['first_response_attainment'])}</td>"
        f"<td>{share_text(p['resolution_attainment'])}</td><td>{share_text(p['attainment'])}</td></tr>"
        for p in policies)
    csat_note = ("<p class=sub>CSAT is not recorded in this store yet.</p>"
                 if not result.csat_recorded else
                 "<p class=sub>No customer of this period was asked how it went.</p>"
                 if not result.overall["csat"]["asked"] else "")
    # Times a person reads are in the shop's zone (README), as on the terminal.
    from supportctl.cli.clock import day_time, local

    first, last = local(result.since), local(result.until)
    dates = (f"{first:%Y-%m-%d} – {last:%Y-%m-%d}" if first and last
             else f"{result.since[:10]} – {result.until[:10]}")
    since, until = day_time(result.since), day_time(result.until)
    by = f" by {escape(result.by)}" if result.by else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Support report {escape(dates)}</title>
<style>{_CSS}</style></head><body>
<h1>Support report</h1>
<p class=sub>Tickets created {escape(since)} – {escape(until)}{by} · times in {basis} ·
hour of week in {escape(result.timezone)}</p>
<div class=cards>{"".join(f"<div class=card><b>{escape(v)}</b><span>{escape(k)}</span></div>" for k, v in cards)}</div>
{csat_note}
<h2>Per day</h2>
<p class=legend><span class=in>■ customers wrote</span> · <span class=out>■ we answered</span></p>
<div class=box>{_line_chart(result.days)}</div>
<h2>When customers write, and when we answer</h2>
<div class=box><p class=legend><span class=in>customers wrote</span> ({o["messages"]["in"]} messages)</p>
{_heat(o["hour_of_week"]["in"], "#e59b0c", "customer messages by hour of week")}
<p class=legend><span class=out>we answered</span> ({o["messages"]["out"]} messages)</p>
{_heat(o["hour_of_week"]["out"], "#1f8a4c", "our answers by hour of week")}</div>
<h2>Tickets per {escape(result.by or "period")}</h2>
<div class=box>{_bars(result.groups)}</div>
<div class=scroll><table><tr>{"".join(f"<th>{escape(c)}</th>" for c in head)}</tr>{rows}</table></div>
{"<h2>SLA by policy</h2><div class=scroll><table><tr><th>policy</th><th>tickets</th><th>first response</th><th>resolution</th><th>both</th></tr>" + pol + "</table></div>" if policies else ""}
<h2>Trending tags</h2>{_trend_list(o["trending_tags"])}
<h2>Trending phrases</h2>{_trend_list(o["trending_phrases"])}
</body></html>
"""


def write_page(path: str, result: Any) -> None:
    target = Path(path).expanduser()
    text = page(result)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}; pick a folder that exists") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
