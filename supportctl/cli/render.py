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

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from supportctl.safe import clean, one_line

FORMATS = ("table", "json", "jsonl", "csv", "ids")


def _stdout() -> IO[str]:
    """The running invocation's stdout (``app.Ctx``); helpers here take
    ``out`` to write elsewhere."""
    from supportctl.cli.app import current

    return current().stdout


def _stderr() -> IO[str]:
    from supportctl.cli.app import current

    return current().stderr


def is_tty(stream: IO[str] | None = None) -> bool:
    stream = stream or _stdout()
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_ok() -> bool:
    return is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def console(stderr: bool = False, *, out: IO[str] | None = None) -> Any:
    """A rich console on the invocation's stdout (or stderr, or ``out``)."""
    from rich.console import Console

    return Console(
        file=out or (_stderr() if stderr else _stdout()), stderr=stderr, highlight=False, emoji=False, markup=False,
        no_color=not color_ok(), soft_wrap=False,
    )


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_json(records: list[dict[str, Any]], out: IO[str] | None = None) -> None:
    """One JSON array, a record a line (as ``show`` prints its one): the C
    encoder writes each, where ``indent`` would mean the pure-Python one
    (4 ms of `list`'s start-up for 50 tickets)."""
    out = out or _stdout()
    if not records:
        out.write("[]\n")
        return
    out.write("[\n")
    out.write(",\n".join(map(dumps, records)))
    out.write("\n]\n")


def write_jsonl(records: Iterable[dict[str, Any]], out: IO[str] | None = None) -> None:
    out = out or _stdout()
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
    out = out or _stdout()
    for r in rows:
        out.write("\t".join(cell(v) for v in r) + "\n")


def line(text: str, out: IO[str] | None = None) -> None:
    """One line of text for people, indentation kept, sanitised."""
    (out or _stdout()).write(clean(text).replace("\n", " ") + "\n")


def write_csv(records: list[dict[str, Any]], columns: list[str], out: IO[str] | None = None) -> None:
    out = out or _stdout()
    import csv

    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in records:
        w.writerow([_flat(r.get(c)) for c in columns])


def write_ids(records: Iterable[dict[str, Any]], out: IO[str] | None = None) -> None:
    out = out or _stdout()
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
    """A stored UTC time as people read it: ``Wed 9 Dec 10:00 CET`` in the
    shop's zone (``clock.day_time``; the one helper every command uses)."""
    from supportctl.cli.clock import day_time

    return day_time(value)


def snoozed(t: dict[str, Any], now: str | None = None) -> str:
    """``snoozed until Thu 10 Dec 09:00 CET`` while a snooze runs, else ``""``."""
    until = t.get("snoozed_until")
    if not until:
        return ""
    from supportctl.values import iso, utcnow

    if until <= (now or iso(utcnow()) or ""):
        return ""  # its time has come; the next sync clears the mark
    return f"snoozed until {short_time(until)}"


#: Off a terminal (tab-separated text) long values are cut here; a table
#: cuts them to the width it has.
_TSV_LIMITS = {"contact": 28, "subject": 60, "tags": 30, "assignee": 16}


def ticket_row(t: dict[str, Any], tag_names: dict[str, str] | None = None, *,
               cut: bool = False) -> dict[str, str]:
    contact = t.get("contact") or {}
    who = contact.get("name") or next(
        (i["address"] for i in contact.get("identities", [])), ""
    )
    names = tag_names or {}
    subject = one_line(t["subject"], _TSV_LIMITS["subject"] if cut else 0)
    plain_subject, mark = subject, snoozed(t)
    if mark:
        subject = f"({mark}) {subject}"
    if t.get("merged_into"):
        subject = f"(merged into #{t['merged_into']}) {subject}"
    row = {
        "id": str(t["id"]),
        "status": t["status"],
        "priority": t["priority"],
        "updated": short_time(t["updated_at"]),
        "channel": t["channel"],
        "contact": who,
        "subject": subject,
        "tags": ",".join(names.get(g, g) for g in t["tags"]),
        "assignee": t.get("assignee") or "",
        "sla": "BREACHED" if t["sla"]["breached"] else "",
        "due": due_left(t),
        "wake": t.get("snoozed_until") if mark else "",
        "plain_subject": plain_subject,
    }
    return {k: cell(v, _TSV_LIMITS.get(k, 0) if cut and k != "subject" else 0)
            for k, v in row.items()}


def due_left(t: dict[str, Any], now: str | None = None) -> str:
    """Time left on the clock that still runs (``3h20m``), ``-1h05m`` when
    overdue, ``paused`` while pending; empty without a clock."""
    from supportctl.values import parse_iso, utcnow

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


def tickets(records: list[dict[str, Any]], fmt: str | None, *, extra: dict[int, str] | None = None,
            tag_names: dict[str, str] | None = None, more: int = 0) -> None:
    """Print tickets in ``fmt`` (None: table on a terminal, TSV otherwise).
    ``tag_names``: tags as first typed, for people; ``more``: how many
    matching tickets the row limit left out, -1 for some (said on a
    terminal only)."""
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
    drawn = fmt == "table" or (fmt is None and is_tty())
    rows = [ticket_row(t, tag_names, cut=not drawn) for t in records]
    if extra:
        for t, r in zip(records, rows, strict=True):
            r["snippet"] = cell(extra.get(t["id"], ""), 0 if drawn else 80)
    if drawn:
        _table(rows, extra is not None)
    else:
        cols = TICKET_COLUMNS + (["snippet"] if extra else [])
        plain([r[c] for c in cols] for r in rows)
    if more and is_tty() and is_tty(_stderr()):
        # more < 0: some, not counted (a search stops at the page it needs).
        info(f"… {more} more: use --limit or filters" if more > 0
             else "… more match: use --limit or a narrower query")


#: Columns kept when the terminal is narrow, most wanted first (after id,
#: status and subject, which always show); a column with nothing in it
#: is left out.
_KEEP = ("contact", "due", "updated", "priority", "assignee", "tags", "channel")
#: The width a subject and a contact keep before a column is left out;
#: a contact name is cut before the subject is.
_SUBJECT_MIN, _CONTACT_MIN, _TAGS_MAX, _ASSIGNEE_MAX = 20, 10, 24, 16
_GAP = 2


def column_widths(rows: list[dict[str, str]], headers: dict[str, str], width: int) -> dict[str, int]:
    """Which columns fit in ``width`` and how wide each is: id and status
    always, the subject takes what is left (at least ``_SUBJECT_MIN`` while
    other columns can go), a contact is cut to ``_CONTACT_MIN`` before the
    subject gives up anything."""
    from rich.cells import cell_len

    natural = {
        c: max([cell_len(headers[c])] + [cell_len(r[c]) for r in rows]) for c in TICKET_COLUMNS
    }
    natural["tags"] = min(natural["tags"], _TAGS_MAX)
    natural["assignee"] = min(natural["assignee"], _ASSIGNEE_MAX)
    wanted = {c for c in TICKET_COLUMNS if any(r[c] for r in rows)} | {"id", "status", "subject"}
    least = {c: natural[c] for c in TICKET_COLUMNS}
    least["subject"] = min(natural["subject"], max(_SUBJECT_MIN, width // 3))
    least["contact"] = min(natural["contact"], _CONTACT_MIN)
    shown = ["id", "status", "subject"]
    used = sum(least[c] for c in shown) + _GAP * (len(shown) - 1)
    for c in _KEEP:
        if c in wanted and used + _GAP + least[c] <= width:
            shown.append(c)
            used += _GAP + least[c]
    widths = {c: least[c] for c in shown}
    spare = max(0, width - used)
    for c in ("subject", "contact"):  # the subject first: names are cut before subjects
        if c in widths:
            grow = min(spare, natural[c] - widths[c])
            widths[c] += grow
            spare -= grow
    if width < used:  # narrower than id + status + a few letters: the subject shrinks
        widths["subject"] = max(1, widths["subject"] - (used - width))
    return {c: widths[c] for c in TICKET_COLUMNS if c in widths}


def _table(rows: list[dict[str, str]], with_snippet: bool) -> None:
    """One line per ticket, fitted to the terminal (never wrapped)."""
    from rich.text import Text

    con = console()
    if not rows:
        con.print(Text("No tickets.", style="dim"))
        return
    from supportctl.cli.clock import brief, zone_label

    zone = zone_label()
    for r in rows:  # the zone goes in the header; a time in another (DST) keeps its own
        if zone and r["updated"].endswith(" " + zone):
            r["updated"] = r["updated"][: -len(zone) - 1]
        if r.get("wake"):  # short, so that some of the subject shows at 80 columns
            r["subject"] = cell(f"(snoozed until {brief(r['wake'])}) {r['plain_subject']}")
    headers = {c: c.upper() for c in TICKET_COLUMNS}
    if zone:
        headers["updated"] = f"UPDATED {zone}"
    widths = column_widths(rows, headers, con.width)
    gap = " " * _GAP

    def fit(text: Text, col: str, *, last: bool) -> Text:
        w = widths[col]
        if col == "id":
            text.truncate(w, overflow="ellipsis")
            return Text(" " * (w - text.cell_len)) + text  # numbers right-aligned
        text.truncate(w, overflow="ellipsis", pad=not last)
        return text

    cols = list(widths)
    head = Text(style="bold")
    for i, c in enumerate(cols):
        if i:
            head.append(gap)
        head.append_text(fit(Text(headers[c], style="bold"), c, last=i == len(cols) - 1))
    con.print(head, no_wrap=True, overflow="ellipsis", crop=True)
    for r in rows:
        line = Text()
        for i, c in enumerate(cols):
            t = Text(r[c])
            if c == "status":
                t.stylize(_STATUS_STYLE.get(r["status"], ""))
            elif c == "priority":
                t.stylize(_PRIO_STYLE.get(r["priority"], ""))
            elif c == "id" and r["sla"]:
                t.stylize("reverse red")
            elif c == "due":
                soon = r["due"].endswith("m") and "h" not in r["due"] or r["due"][:1] in "0123" \
                    and r["due"][1:2] == "h"  # under 4 hours: `list --sla due-soon`
                t.stylize("bold red" if r["due"].startswith("-") else "dim" if r["due"] == "paused"
                          else "yellow" if soon else "green")
            if i:
                line.append(gap)
            line.append_text(fit(t, c, last=i == len(cols) - 1))
        con.print(line, no_wrap=True, overflow="ellipsis", crop=True)
        if with_snippet and r.get("snippet"):
            indent = sum(widths[c] + _GAP for c in cols[: cols.index("subject")])
            snippet = Text(" " * indent + r["snippet"], style="dim")
            snippet.truncate(con.width, overflow="ellipsis")
            con.print(snippet, no_wrap=True, overflow="ellipsis", crop=True)


def show(ticket: dict[str, Any], *, tag_names: dict[str, str] | None = None,
         out: IO[str] | None = None) -> None:
    """A ticket with its whole thread and its events, for people, on
    ``out`` (the invocation's stdout unless given)."""
    from supportctl.cli.clock import day_time, due

    lines: list[tuple[str, str]] = []  # (text, style)
    names = tag_names or {}

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
        + (f" · tags: {', '.join(names.get(g, g) for g in ticket['tags'])}" if ticket["tags"] else ""),
        "",
    )
    add(f"contact: {one_line(c.get('name') or '-')} <{one_line(ids)}>" if c else "contact: -", "")
    if ticket.get("answer_to"):
        to = ", ".join(f"{one_line(a['name'])} <{one_line(a['address'])}>" if a["name"]
                       else one_line(a["address"]) for a in ticket["answer_to"])
        add(f"a reply goes to: {to}", "")
    sla = ticket["sla"]
    if sla["first_response_due"] or sla["resolution_due"]:
        parts = []
        if sla["first_response_due"]:
            when = day_time(sla["first_response_due"]) if ticket.get("first_response_at") \
                else due(sla["first_response_due"])
            parts.append(f"first response due {when}")
        if sla["resolution_due"]:
            running = not ticket.get("solved_at") and not sla.get("paused")
            when = due(sla["resolution_due"]) if running else day_time(sla["resolution_due"])
            parts.append(f"resolution due {when}" + (" (paused)" if sla.get("paused") else ""))
        add("sla: " + ", ".join(parts) + ("  BREACHED" if sla["breached"] else ""),
            "red" if sla["breached"] else "dim")
    mark = snoozed(ticket)
    if mark:
        add(mark, "yellow")
    if ticket.get("merged_into"):
        add(f"merged into #{ticket['merged_into']}", "yellow")
    if ticket.get("linked_ticket"):
        add(f"follows up #{ticket['linked_ticket']}", "dim")
    # Events between the messages, in time order (SPEC §5); the messages
    # keep their arrival order, whatever a customer's clock said.
    events = [e for e in ticket.get("events") or [] if event_text(e, names)]
    pending_events = sorted(events, key=lambda e: (e["at"] or "", e["id"]))

    def events_until(at: str | None) -> None:
        while pending_events and (at is None or (pending_events[0]["at"] or "") <= at):
            e = pending_events.pop(0)
            add(f"· {day_time(e['at'])}  {one_line(e['actor'] or '', 30)}: "
                f"{event_text(e, names)}", "dim")

    for m in ticket["messages"]:
        if pending_events and (pending_events[0]["at"] or "") <= (m["sent_at"] or ""):
            add("", "")
            events_until(m["sent_at"])
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
    if pending_events:
        add("", "")
        events_until(None)
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
    out = out or _stdout()
    if is_tty(out):
        from rich.text import Text

        con = console(out=out)
        for text, style in lines:
            con.print(Text(text, style=style), overflow="fold")
    else:
        for text, _ in lines:
            out.write(text + "\n")


#: Events the thread already shows as a message (or its delivery state).
_SHOWN_AS_MESSAGES = {"message.in", "message.own", "note", "log", "reply", "sent", "create"}


def _outbox_event(a: str, d: dict[str, Any]) -> str:
    return f"outbox #{d.get('outbox_id')} {'retried' if a == 'outbox_retry' else 'cancelled'}"


def _claim_event(d: dict[str, Any]) -> str:
    took = f" (taken from {d['taken_from']})" if d.get("taken_from") else ""
    via = " by `next`" if d.get("via") == "next" else ""
    return f"claimed{via} until {_day_time(d.get('until'))}{took}"


#: What each event did, in a few words: ``(detail, why, tag name) -> text``
#: (``why``: `` (reason)`` or ""; events shown as messages are not here).
_EVENT_TEXT: dict[str, Callable[[dict[str, Any], str, Callable[[str], str]], str]] = {
    "assign": lambda d, why, tag: f"assigned to {d.get('new') or 'nobody'}"
    + (f" (was {d['old']})" if d.get("old") else ""),
    "priority": lambda d, why, tag: f"priority {d.get('old')} → {d.get('new')}{why}",
    "status": lambda d, why, tag: f"status {d.get('old')} → {d.get('new')}{why}",
    "tag": lambda d, why, tag: f"tagged {tag(str(d.get('tag') or ''))}",
    "untag": lambda d, why, tag: f"untagged {tag(str(d.get('tag') or ''))}",
    "snooze": lambda d, why, tag: f"snoozed until {_day_time(d.get('until'))}",
    "unsnooze": lambda d, why, tag: f"snooze ended{why}",
    "merge": lambda d, why, tag: f"ticket #{d.get('merged')} merged into this one",
    "merged": lambda d, why, tag: f"merged into #{d.get('into')}",
    "claim": lambda d, why, tag: _claim_event(d),
    "unclaim": lambda d, why, tag: "claim given back"
    + (f" (was {d['holder']}'s)" if d.get("holder") else ""),
    "auto_reply_skipped": lambda d, why, tag: f"no automatic acknowledgement{why}",
    "notify": lambda d, why, tag: f"notified {d.get('entry')} ({d.get('event')}, via {d.get('via')})",
    "notify.request": lambda d, why, tag: f"notification requested: {d.get('entry')}",
    "send_failed": lambda d, why, tag: f"outbox #{d.get('outbox_id')} {d.get('state')}: "
    f"{one_line(str(d.get('error') or ''), 100)}",
    "outbox_retry": lambda d, why, tag: _outbox_event("outbox_retry", d),
    "outbox_cancel": lambda d, why, tag: _outbox_event("outbox_cancel", d),
    "unblock": lambda d, why, tag: f"sender {d.get('address')} unblocked",
    "rule.reply_skipped": lambda d, why, tag: f"rule reply skipped{why}",
    "csat.ask": lambda d, why, tag: "satisfaction survey sent",
    "csat.answer": lambda d, why, tag: f"satisfaction answer: {d.get('rating')}",
    "csat.skip": lambda d, why, tag: f"no satisfaction survey{why}",
}


def _day_time(value: Any) -> str:
    from supportctl.cli.clock import day_time

    return day_time(value)


def event_text(e: dict[str, Any], tag_names: dict[str, str] | None = None) -> str:
    """What an event did, in a few words (``""``: the thread shows it
    already); an action not in ``_EVENT_TEXT`` shows its details."""
    a, d = e["action"], e.get("detail") or {}
    if a in _SHOWN_AS_MESSAGES:
        return ""
    names = tag_names or {}
    why = f" ({one_line(str(d['reason']), 100)})" if d.get("reason") else ""
    if a == "auto_reply":
        # Every automatic send logs this action; only auto-reply's is an
        # acknowledgement (csat's is the survey, a rule's its template).
        actor = str(e.get("actor") or "")
        return ("satisfaction survey queued" if actor == "csat"
                else "automatic reply queued" if actor.startswith("rule:")
                else "automatic acknowledgement queued" if actor == "auto-reply"
                else "automatic message queued")
    phrase = _EVENT_TEXT.get(a)
    if phrase is not None:
        return phrase(d, why, lambda t: names.get(t, t))
    rest = ", ".join(f"{k}={one_line(str(v), 60)}" for k, v in d.items() if v is not None)
    return f"{a}" + (f" ({rest})" if rest else "")


def error(message: str, err: IO[str] | None = None) -> None:
    (err or _stderr()).write("error: " + one_line(message) + "\n")


def info(message: str, err: IO[str] | None = None) -> None:
    (err or _stderr()).write(one_line(message) + "\n")


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

    if quiet or not is_tty(_stderr()) or os.environ.get("TERM") == "dumb":
        yield NO_PROGRESS
        return
    shown = _RichProgress()
    with shown.bar:
        yield shown
