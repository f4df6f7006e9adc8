"""Output: the only place that knows rich (and only for terminals).

Machine formats (json, jsonl, csv, ids) are plain stdlib writes. Human
formats sanitise every value at this boundary, not per field: a table
cell, a tab-separated cell (``cell``, ``plain``) and a ``show`` line pass
through ``safe.clean``/``one_line`` however they were built, so a status,
tag, content type or file name from data cannot carry a live escape. They
reach rich as ``Text`` objects, never as markup, so ``[bold]``,
``[link=…]`` and ESC sequences print literally or not at all.
When stdout is not a terminal, ``table`` becomes tab-separated text
without colour.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from supportctl.safe import clean, one_line

FORMATS = ("table", "json", "jsonl", "csv", "ids")


def is_tty(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_ok() -> bool:
    return is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(
        stderr=stderr, highlight=False, emoji=False, markup=False,
        no_color=not color_ok(), soft_wrap=False,
    )


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_json(records: list[dict[str, Any]], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(records, ensure_ascii=False, indent=2))
    out.write("\n")


def write_jsonl(records: Iterable[dict[str, Any]], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for r in records:
        out.write(dumps(r))
        out.write("\n")


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return dumps(value)
    return str(value)


def cell(value: Any, limit: int = 0) -> str:
    """Any value as one safe line: what every human format prints."""
    return one_line(_flat(value), limit)


def plain(rows: Iterable[Iterable[Any]], out: IO[str] | None = None) -> None:
    """Tab-separated lines for people and ``cut``; every cell sanitised."""
    out = out or sys.stdout
    for r in rows:
        out.write("\t".join(cell(v) for v in r) + "\n")


def line(text: str, out: IO[str] | None = None) -> None:
    """One line of text for people, indentation kept, sanitised."""
    (out or sys.stdout).write(clean(text).replace("\n", " ") + "\n")


def write_csv(records: list[dict[str, Any]], columns: list[str], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in records:
        w.writerow([_flat(r.get(c)) for c in columns])


def write_ids(records: Iterable[dict[str, Any]], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for r in records:
        out.write(f"{r['id']}\n")


def machine(records: list[dict[str, Any]], fmt: str | None, csv_columns: list[str]) -> bool:
    """Write ``records`` in a machine format; False when ``fmt`` is one for
    people (the caller draws those)."""
    if fmt == "json":
        write_json(records)
    elif fmt == "jsonl":
        write_jsonl(records)
    elif fmt == "ids":
        write_ids(records)
    elif fmt == "csv":
        write_csv(records, csv_columns)
    else:
        return False
    return True


def short_time(value: str | None) -> str:
    if not value:
        return ""
    return value.replace("T", " ")[:16]


def ticket_row(t: dict[str, Any]) -> dict[str, str]:
    contact = t.get("contact") or {}
    who = contact.get("name") or next(
        (i["address"] for i in contact.get("identities", [])), ""
    )
    row = {
        "id": str(t["id"]),
        "status": t["status"],
        "priority": t["priority"],
        "updated": short_time(t["updated_at"]),
        "channel": t["channel"],
        "contact": one_line(who, 28),
        "subject": one_line(t["subject"], 60),
        "tags": one_line(",".join(t["tags"]), 30),
        "assignee": one_line(t.get("assignee") or "", 16),
        "sla": "BREACHED" if t["sla"]["breached"] else "",
        "due": due_left(t),
    }
    return {k: cell(v) for k, v in row.items()}


def due_left(t: dict[str, Any], now: str | None = None) -> str:
    """Time left on the clock that still runs (``3h20m``), ``-1h05m`` when
    overdue, ``paused`` while pending; empty without a clock."""
    from supportctl.models import parse_iso, utcnow

    sla = t.get("sla") or {}
    due = None
    if not t.get("first_response_at") and sla.get("first_response_due"):
        due = sla["first_response_due"]
    elif not t.get("solved_at") and sla.get("resolution_due"):
        if sla.get("paused"):
            return "paused"
        due = sla["resolution_due"]
    try:
        when = parse_iso(due)
    except (TypeError, ValueError):  # a damaged or hand-edited store: show no clock
        return ""
    if when is None:
        return ""
    left = int((when - (parse_iso(now) or utcnow())).total_seconds() // 60)
    sign, left = ("-", -left) if left < 0 else ("", left)
    days, rest = divmod(left, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h"
    return f"{sign}{hours}h{minutes:02d}m" if hours else f"{sign}{minutes}m"


TICKET_COLUMNS = ["id", "status", "priority", "updated", "channel", "contact", "subject", "tags",
                  "assignee", "due"]
CSV_TICKET_COLUMNS = ["id", "status", "priority", "subject", "channel", "account", "contact",
                      "assignee", "tags", "created_at", "updated_at", "first_response_at",
                      "solved_at", "message_count", "last_message_at", "snoozed_until"]

_STATUS_STYLE = {"new": "bold cyan", "open": "green", "pending": "yellow", "solved": "dim",
                 "closed": "dim"}
_PRIO_STYLE = {"urgent": "bold red", "high": "red", "low": "dim"}


def tickets(records: list[dict[str, Any]], fmt: str | None, *, extra: dict[int, str] | None = None) -> None:
    """Print tickets in ``fmt`` (None: table on a terminal, TSV otherwise)."""
    if fmt == "json":
        return write_json(records)
    if fmt == "jsonl":
        return write_jsonl(records)
    if fmt == "ids":
        return write_ids(records)
    if fmt == "csv":
        rows = []
        for t in records:
            r = dict(t)
            r["contact"] = (t.get("contact") or {}).get("name") or ""
            rows.append(r)
        return write_csv(rows, CSV_TICKET_COLUMNS)
    rows = [ticket_row(t) for t in records]
    if extra:
        for t, r in zip(records, rows, strict=True):
            r["snippet"] = cell(extra.get(t["id"], ""), 80)
    if fmt == "table" or (fmt is None and is_tty()):
        _table(rows, extra is not None)
    else:
        cols = TICKET_COLUMNS + (["snippet"] if extra else [])
        plain([r[c] for c in cols] for r in rows)


def _table(rows: list[dict[str, str]], with_snippet: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    con = console()
    if not rows:
        con.print(Text("No tickets.", style="dim"))
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for col in TICKET_COLUMNS:
        table.add_column(col.upper(), overflow="ellipsis", no_wrap=col != "subject",
                         justify="right" if col == "id" else "left")
    for r in rows:
        cells = [Text(r[c]) for c in TICKET_COLUMNS]
        cells[1].stylize(_STATUS_STYLE.get(r["status"], ""))
        cells[2].stylize(_PRIO_STYLE.get(r["priority"], ""))
        if with_snippet and r.get("snippet"):
            cells[6].append("\n" + r["snippet"], style="dim")
        if r["sla"]:
            cells[0].stylize("reverse red")
        due = cells[TICKET_COLUMNS.index("due")]
        soon = r["due"].endswith("m") and "h" not in r["due"] or r["due"][:1] in "0123" and \
            r["due"][1:2] == "h"  # under 4 hours: `list --sla due-soon`
        due.stylize("bold red" if r["due"].startswith("-") else "dim" if r["due"] == "paused"
                    else "yellow" if soon else "green")
        table.add_row(*cells)
    con.print(table)


def show(ticket: dict[str, Any]) -> None:
    """A ticket with its whole thread, for people."""
    lines: list[tuple[str, str]] = []  # (text, style)

    def add(text: str, style: str = "") -> None:
        # The boundary: whatever a line was built from, it leaves clean.
        lines.append((clean(text).replace("\n", " "), style))

    c = ticket.get("contact") or {}
    ids = ", ".join(f"{i['channel']}:{i['address']}" for i in c.get("identities", []))
    add(f"#{ticket['id']}  {one_line(ticket['subject'])}", "bold")
    add(
        f"{ticket['status']} · {ticket['priority']} · {ticket['channel']}"
        + (f" ({ticket['account']})" if ticket.get("account") else "")
        + f" · assignee: {ticket.get('assignee') or '-'}"
        + (f" · tags: {', '.join(ticket['tags'])}" if ticket["tags"] else ""),
        "",
    )
    add(f"contact: {one_line(c.get('name') or '-')} <{one_line(ids)}>" if c else "contact: -", "")
    if ticket.get("answer_to"):
        to = ", ".join(f"{one_line(a['name'])} <{one_line(a['address'])}>" if a["name"]
                       else one_line(a["address"]) for a in ticket["answer_to"])
        add(f"a reply goes to: {to}", "")
    sla = ticket["sla"]
    if sla["first_response_due"] or sla["resolution_due"]:
        add(
            f"sla: first response due {short_time(sla['first_response_due'])}, "
            f"resolution due {short_time(sla['resolution_due'])}"
            + ("  BREACHED" if sla["breached"] else ""),
            "red" if sla["breached"] else "dim",
        )
    if ticket.get("snoozed_until"):
        add(f"snoozed until {short_time(ticket['snoozed_until'])}", "yellow")
    if ticket.get("merged_into"):
        add(f"merged into #{ticket['merged_into']}", "yellow")
    if ticket.get("linked_ticket"):
        add(f"follows up #{ticket['linked_ticket']}", "dim")
    for m in ticket["messages"]:
        add("", "")
        who = m["from"]["name"] or m["from"]["address"] or m.get("author") or ""
        arrow = {"in": "←", "out": "→", "note": "✎ note"}[m["direction"]]
        head = f"{arrow} {short_time(m['sent_at'])}  {one_line(who)}  [{m['channel']}]"
        if m["direction"] == "out" and m.get("author"):
            head += f" by {one_line(m['author'])}"
        if m.get("delivery"):
            d = m["delivery"]
            head += f"  ({d['state']}{': ' + one_line(d['error'], 80) if d.get('error') else ''})"
        style = {"in": "bold cyan", "out": "bold green", "note": "bold yellow"}[m["direction"]]
        add(head, style)
        if m.get("auto_reason"):
            add(f"  (automatic: {one_line(m['auto_reason'])})", "dim")
        for notice in m.get("notices") or []:
            add(f"  (note: {one_line(notice)})", "yellow")
        text = m["text"] or ""
        folded = False
        if m["channel"] == "email" and m["direction"] == "in":
            from supportctl.mail.quotes import fold

            text, folded = fold(text)
        for line in clean(text).rstrip().splitlines() or [""]:
            add("  " + line, "")
        if folded:
            add("  […quoted text hidden; `show --format json` has it all]", "dim")
        for a in m["attachments"]:
            add(f"  📎 {one_line(a['filename'])} ({a['content_type']}, {a['size']} bytes)", "dim")
    if ticket.get("outbox"):
        pending = [o for o in ticket["outbox"] if o["state"] in ("failed", "unknown", "queued")]
        for o in pending:
            add(f"outbox #{o['id']}: {o['state']} {one_line(o.get('error') or '', 100)}"
                f" — `supportctl outbox retry {o['id']}`", "red")
    if ticket.get("contact_tickets"):
        add("", "")
        add("Other tickets of this contact:", "bold")
        for o in ticket["contact_tickets"]:
            add(f"  #{o['id']}  {o['status']:<8} {o['channel']:<9} {short_time(o['updated_at'])}  "
                f"{one_line(o['subject'], 60)}", "")
    if is_tty():
        from rich.text import Text

        con = console()
        for text, style in lines:
            con.print(Text(text, style=style), overflow="fold")
    else:
        out = sys.stdout
        for text, _ in lines:
            out.write(text + "\n")


def error(message: str) -> None:
    sys.stderr.write("error: " + one_line(message) + "\n")


def info(message: str) -> None:
    sys.stderr.write(one_line(message) + "\n")


class _RichProgress:
    """``services.progress.Progress`` drawn by rich on stderr: per job its
    label, a bar, done/total, the rate and the time left. Labels (folder
    names come from servers) pass ``one_line`` and reach rich as plain
    text, never markup."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:,.0f}/s")

        self.tasks: dict[str, Any] = {}
        self.bar = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(),
            MofNCompleteColumn(), Rate(), TimeRemainingColumn(),
            console=console(stderr=True), transient=False, refresh_per_second=8,
        )

    def start(self, key: str, label: str, total: int | None, *, note: str = "") -> None:
        text = one_line(label) + (f" ({one_line(note)})" if note else "")
        self.tasks[key] = self.bar.add_task(text, total=total)

    def advance(self, key: str, n: int = 1) -> None:
        if key in self.tasks:
            self.bar.advance(self.tasks[key], n)

    def finish(self, key: str) -> None:
        task = self.tasks.get(key)
        if task is not None:
            done = self.bar.tasks[task].completed
            self.bar.update(task, total=max(done, self.bar.tasks[task].total or 0), completed=done)


@contextmanager
def progress(*, quiet: bool = False) -> Iterator[Any]:
    """A progress display for long jobs on a terminal (stderr), else the
    silent ``NO_PROGRESS``: nothing extra off a terminal or with ``-q``.
    rich.progress loads only here, never for ``list`` or ``show``."""
    from supportctl.services.progress import NO_PROGRESS

    if quiet or not is_tty(sys.stderr) or os.environ.get("TERM") == "dumb":
        yield NO_PROGRESS
        return
    shown = _RichProgress()
    with shown.bar:
        yield shown
