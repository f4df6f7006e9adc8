"""Commands on tickets: list, show, search, new, note, reply, triage verbs."""


from pathlib import Path
from typing import Any

import typer

from supportctl.cli.app import (
    COUNT_RANGE,
    ID_RANGE,
    Ctx,
    app,
    for_each,
    now_iso,
    obj,
    read_id,
    read_ids,
)
from supportctl.errors import NotFound, UsageError

FormatOpt = typer.Option(None, "--format", "-f", help="table|json|jsonl|csv|ids")


def list_format(value: str | None) -> str | None:
    """``--format`` of a command that lists records (`FormatOpt`): one of
    render.FORMATS, else a usage error."""
    from supportctl.cli.render import FORMATS

    if value is not None and value not in FORMATS:
        raise UsageError(f"unknown --format {value!r}: use one of {', '.join(FORMATS)}")
    return value


def check_query(text: str) -> None:
    """A query's ``channel:`` values are media (the store cannot tell)."""
    from supportctl.store.search import channel_values, known

    values = channel_values(text)
    if values:
        from supportctl.channels import media_names

        for value in values:
            known("channel", value, media_names())


def table_or_json(value: str | None) -> str | None:
    """``--format`` of a command that prints people's text or JSON only:
    another value is a usage error, not the text view in its place."""
    if value not in (None, "table", "json"):
        raise UsageError(f"unknown --format {value!r}: use table or json")
    return value


def _limit(limit: int | None) -> int:
    """SPEC §5: 50 on a terminal; no limit into a pipe unless asked."""
    if limit is not None:
        return max(limit, 0)
    from supportctl.cli.render import is_tty

    return 50 if is_tty() else 0


def _time_arg(value: str | None, *, past: bool = True) -> str | None:
    if not value:
        return None
    from supportctl.timeparse import parse_since, parse_when
    from supportctl.values import iso, utcnow

    return iso((parse_since if past else parse_when)(value, utcnow()))


def _period(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``--since`` and ``--until`` as times, refused when the second is not
    after the first (a period the other way round holds nothing: a typo,
    not an answer)."""
    start, end = _time_arg(since), _time_arg(until)
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--until ({until}) must be after --since ({since})")
    return start, end


@app.command("list")
def list_cmd(ctx: typer.Context,
    status: str = typer.Option("new,open,pending", "--status", "-s",
                               help="Comma-separated statuses, or 'all'."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="Has this tag (repeatable)."),
    assignee: str | None = typer.Option(None, "--assignee", "-a", help="me, none or a NAME."),
    channel: str | None = typer.Option(None, "--channel", help="Medium: email, sms, whatsapp, …"),
    account: str | None = typer.Option(None, "--account", help="Configured channel entry name."),
    priority: str | None = typer.Option(None, "--priority", "-p", help="Comma-separated priorities."),
    contact: int | None = typer.Option(None, "--contact", help="Contact id.", **ID_RANGE),
    sla: str | None = typer.Option(None, "--sla", help="breached or due-soon."),
    since: str | None = typer.Option(None, "--since", help="Updated since (7d, 2026-11-01)."),
    until: str | None = typer.Option(None, "--until", help="Updated before."),
    query: str | None = typer.Option(None, "--query", help="Full-text query, as `search`."),
    sort: str = typer.Option("updated", "--sort", help="updated|created|priority|due"),
    limit: int | None = typer.Option(None, "--limit", "-n", help="At most N (0: all).", **COUNT_RANGE),
    offset: int = typer.Option(0, "--offset", **COUNT_RANGE),
    snoozed: bool = typer.Option(False, "--snoozed", help="Only snoozed tickets (with their wake time)."),
    fmt: str = FormatOpt,
) -> None:
    """List tickets (default: new, open and pending; snoozed ones hidden).

    --status all shows every ticket, snoozed (with their wake time) and
    merged ones too. Times are in the config's timezone (else the system's).

    Automatic mail (auto-replies, bounces, lists, no-reply senders, our own
    mail) is filed solved and tagged auto: see it with --tag auto --status all.
    """
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.read import TicketFilter, ticket_ids, tickets_json
    from supportctl.values import Priority

    one_of("--sort", sort, ("updated", "created", "priority", "due"))
    if sla not in (None, "breached", "due-soon"):
        raise UsageError(f"unknown --sla {sla!r}: use breached or due-soon")
    statuses = None if status == "all" else [s.strip() for s in status.split(",") if s.strip()]
    _check_statuses(statuses)
    if channel is not None:
        from supportctl.channels import media_names

        one_of("--channel", channel, media_names())
    for p in (priority or "").split(","):
        if p.strip():
            one_of("--priority", p.strip(), list(Priority))
    start, end = _period(since, until)
    store = cx.store()
    now = now_iso()
    if contact is not None:  # a merged contact's tickets are the one it became
        from supportctl.store.contacts import final

        contact = final(store, contact)
    f = TicketFilter(
        statuses=statuses, tags=tag, channel=channel, account=account,
        assignee=cx.me() if assignee == "me" else assignee,
        priority=[p.strip() for p in priority.split(",")] if priority else [],
        contact=contact, sla=sla, since=start, until=end,
        sort=sort, limit=_limit(limit), offset=offset,
        include_snoozed=status == "all", include_merged=status == "all", only_snoozed=snoozed,
    )
    if query:
        from supportctl.store.search import condition

        check_query(query)
        f.where, f.params = condition(query, now, store.sql)
    ids = ticket_ids(store, f, now)
    fmt_ = list_format(fmt)
    if fmt_ == "ids":  # `list --sla breached --format ids | …`: no objects to build
        cx.stdout.write("".join(f"{i}\n" for i in ids))
        return
    records = tickets_json(store, ids, now)
    if fmt_ not in (None, "table"):
        return render.tickets(records, fmt_)
    more = 0
    if limit is None and f.limit and len(ids) == f.limit and render.is_tty():
        # The default 50 rows on a terminal cut the list: say what is left.
        from supportctl.store.read import count_tickets

        more = count_tickets(store, f, now) - f.offset - len(ids)
    render.tickets(records, fmt_, tag_names=tag_names(store, records), more=more)


def tag_names(store: Any, records: list[dict[str, Any]]) -> dict[str, str]:
    """Tags as first typed (``VIP``), for people; JSON keeps the stored key."""
    from supportctl.store.read import tag_display_names

    return tag_display_names(store, {g for r in records for g in r.get("tags") or []})


def _check_statuses(statuses: list[str] | None) -> None:
    from supportctl.values import Status

    for s in statuses or []:
        one_of("--status", s, [*Status, "all"])


def one_of(option: str, value: str, valid: Any) -> str:
    """``value`` if it is one of ``valid``, else a usage error (exit 2) that
    lists the valid values and, when one is close, asks if it was meant."""
    choices = [str(v) for v in valid]
    if value in choices:
        return value
    import difflib

    from supportctl.safe import one_line

    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(
        f"unknown {option} {one_line(value, 40)!r}{hint}: use one of {', '.join(choices)}"
    )


@app.command()
def show(ctx: typer.Context,
    ticket_id: str = typer.Argument(..., metavar="ID"),
    fmt: str = FormatOpt,
    raw: bool = typer.Option(False, "--raw", help="With --format json: include original payloads."),
) -> None:
    """A ticket with every message, note and event, and the contact's other tickets."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.read import messages_json, show_json

    tid = read_id(ticket_id, cx.stdin)
    store = cx.store()
    ticket = show_json(store, tid, now_iso())
    if ticket is None:
        raise NotFound(f"no ticket {tid}: see `supportctl list --status all`")
    fmt_ = list_format(fmt)
    from supportctl.services.team import opened

    opened(store, tid, cx.actor, now_iso())  # what others do from now on, reply will tell
    if raw:
        ticket["messages"] = messages_json(store, tid, raw=True)
    if fmt_ == "jsonl":
        render.write_jsonl([ticket])
    elif fmt_ == "json":
        cx.stdout.write(render.dumps(ticket) + "\n")
    elif fmt_ == "ids":
        render.write_ids([ticket])
    elif fmt_ == "csv":  # the ticket's row, as `list --format csv` has it
        render.tickets([ticket], "csv")
    else:
        render.show(ticket, tag_names=tag_names(store, [ticket]))


@app.command()
def search(ctx: typer.Context,
    query: list[str] = typer.Argument(..., help="Words, \"phrases\", field:value, -negation."),
    limit: int | None = typer.Option(None, "--limit", "-n", **COUNT_RANGE),
    offset: int = typer.Option(0, "--offset", **COUNT_RANGE),
    fmt: str = FormatOpt,
) -> None:
    """Full-text search over every status, newest activity first.

    Words and "phrases" match subject and text; fields: from: to: subject:
    tag: status: channel: assignee: priority: before: after: (YYYY-MM-DD or
    7d), is:unassigned|assigned|snoozed|breached, has:attachment; a leading
    - negates a term. Chinese, Japanese, Korean and Thai terms match any part
    of the text (注文 finds 注文番号).
    """
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.read import tickets_json
    from supportctl.store.search import search as run

    store = cx.store()
    now = now_iso()
    text = " ".join(_search_arg(q) for q in query)
    check_query(text)
    page = _limit(limit)
    # The terminal's default page: one more tells whether it cut the answer
    # (counting every match would walk them all).
    probe = page + 1 if limit is None and page else page
    hits = run(store, text, now, limit=probe, offset=offset)
    more = -1 if len(hits) > page and probe > page else 0
    hits = hits[:page] if page else hits
    records = tickets_json(store, [tid for tid, _ in hits], now)
    snippets = dict(hits)
    fmt_ = list_format(fmt)
    if fmt_ in ("json", "jsonl"):
        for r in records:
            r["snippet"] = snippets.get(r["id"], "")
    human = fmt_ in (None, "table")
    render.tickets(records, fmt_, extra=snippets if human else None,
                   tag_names=tag_names(store, records) if human else None, more=more)


def _search_arg(arg: str) -> str:
    """One argument of ``search`` as query text. The shell already removed
    its quotes, so one with spaces is a phrase (``search "wrong size"``),
    unless it is a whole query quoted at once, as notmuch's are (``search
    'parcel status:new'``, ``'refund -tag:spam'``): that is read as typed."""
    from supportctl.store.search import FIELDS

    if " " not in arg or '"' in arg:
        return arg
    for word in arg.split():
        name, sep, value = word.lstrip("-").partition(":")
        if (sep and value and name.lower() in FIELDS) or (word.startswith("-") and len(word) > 1):
            return arg
    return f'"{arg}"'


def _text(cx: Ctx, message: str | None, file: Path | None, *, required: bool = True) -> str | None:
    if message is not None and file is not None:
        raise UsageError("give the text with -m or --file, not both")
    if file is not None:
        if str(file) == "-":
            return cx.stdin.read()
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{file} is not UTF-8 text") from None
    if message == "-":
        return cx.stdin.read()
    if message is None and required:
        raise UsageError("no text: pass -m TEXT or --file FILE")
    return message


@app.command()
def new(ctx: typer.Context,
    channel: str = typer.Option(..., "--channel", "-c",
                                help="email, sms, whatsapp, telegram (sent) or phone, in-person, post (logged)."),
    to: str = typer.Option(..., "--to", help="Address, number, user id, or for logs just a name."),
    subject: str = typer.Option("", "--subject", "-s"),
    message: str | None = typer.Option(None, "--message", "-m", help="Text ('-' reads stdin)."),
    file: Path | None = typer.Option(None, "--file", help="Read the text from a file ('-': stdin)."),
    account: str | None = typer.Option(None, "--account", help="Channel entry to send from."),
    name: str = typer.Option("", "--name", help="The customer's name."),
    attach: list[Path] = typer.Option([], "--attach"),
    fmt: str = FormatOpt,
) -> None:
    """Start a ticket: log a call or visit, or write to a customer first."""
    cx = obj(ctx)
    from supportctl.channels import log_media, media_names
    from supportctl.services import tickets as svc

    one_of("--channel", channel, media_names())
    text = _text(cx, message, file) or ""
    store = cx.store()
    if channel in log_media():
        if attach:
            raise UsageError("--attach applies to sent channels; log files with a note instead")
        tid = svc.log_ticket(store, medium=channel, who=to, name=name, subject=subject,
                             text=text, actor=cx.actor, now=now_iso(), config=cx.config())
    else:
        from supportctl.cli.channels import account_for, send_now
        from supportctl.services.signature import sign, signature_for

        entry = account_for(cx, channel, account)
        # The same signature rule as reply (services/signature.py).
        text = sign(text, signature_for(cx.config(), cx.actor, entry), channel)
        tid, outbox_id = svc.start_ticket(store, medium=channel, who=to, name=name,
                                          subject=subject, text=text, account=entry,
                                          actor=cx.actor, now=now_iso(), attachments=attach,
                                          config=cx.config())
        send_now(cx, store, outbox_id, entry)
    _print_ticket(cx, store, tid, fmt)


def _print_ticket(cx: Ctx, store: Any, tid: int, fmt: str | None) -> None:
    from supportctl.cli import render
    from supportctl.store.read import tickets_json

    fmt = list_format(fmt)
    records = tickets_json(store, [tid], now_iso())
    if fmt in ("json",):
        cx.stdout.write(render.dumps(records[0]) + "\n")
    elif fmt == "jsonl":
        render.write_jsonl(records)
    elif fmt == "ids" or not render.is_tty():
        render.write_ids(records)
    else:
        render.info(f"ticket #{tid} created")


@app.command()
def note(ctx: typer.Context,
    ticket_id: str = typer.Argument(..., metavar="ID"),
    message: str | None = typer.Option(None, "--message", "-m"),
    file: Path | None = typer.Option(None, "--file"),
) -> None:
    """Add an internal note (never sent)."""
    cx = obj(ctx)
    from supportctl.services import tickets as svc

    tid = read_id(ticket_id, cx.stdin)
    svc.add_note(cx.store(), tid, _text(cx, message, file) or "", cx.actor, now_iso())


@app.command()
def tag(ctx: typer.Context, tag_name: str = typer.Argument(..., metavar="TAG"),
        ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Tag tickets (several tags: comma-separated)."""
    cx = obj(ctx)
    from supportctl.services import triage

    store, now = cx.store(), now_iso()
    tags = [t.strip() for t in tag_name.split(",") if t.strip()]
    for_each(read_ids(ids, cx.stdin), lambda t: triage.tag(store, t, tags, cx.actor, now))


@app.command()
def untag(ctx: typer.Context, tag_name: str = typer.Argument(..., metavar="TAG"),
          ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Remove a tag from tickets (untag spam: as `unspam`)."""
    cx = obj(ctx)
    from supportctl.services import tickets as svc
    from supportctl.services import triage

    store, now = cx.store(), now_iso()
    tags = [t.strip() for t in tag_name.split(",") if t.strip()]

    def one(t: int) -> None:
        if "spam" in (x.lower() for x in tags):
            svc.unmark_spam(store, t, cx.actor, now)
        triage.tag(store, t, tags, cx.actor, now, remove=True)

    for_each(read_ids(ids, cx.stdin), one)


@app.command()
def assign(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME|none|me"),
           ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Assign tickets to an agent (none: unassign)."""
    cx = obj(ctx)
    from supportctl.services import triage

    store, now = cx.store(), now_iso()
    who: str | None = None if name == "none" else (cx.me() if name == "me" else name)
    if who is not None:
        cfg = cx.config()
        names = cfg.agent_names() if cfg is not None else []
        if names and who not in names:
            raise UsageError(f"unknown agent {who!r}: agents are {', '.join(names)}")
    for_each(read_ids(ids, cx.stdin), lambda t: triage.assign(store, t, who, cx.actor, now))


@app.command()
def priority(ctx: typer.Context, level: str = typer.Argument(..., metavar="low|normal|high|urgent"),
             ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Set tickets' priority."""
    cx = obj(ctx)
    from supportctl.services import triage

    store, now = cx.store(), now_iso()
    from supportctl.values import Priority

    one_of("priority", level, list(Priority))
    for_each(read_ids(ids, cx.stdin), lambda t: triage.priority(store, t, level, cx.actor, now))


def _status_cmd(name: str, helptext: str) -> None:
    def cmd(ctx: typer.Context, ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
        from supportctl.services import triage

        cx = obj(ctx)
        store, now = cx.store(), now_iso()
        fn = getattr(triage, name)
        for_each(read_ids(ids, cx.stdin), lambda t: fn(store, t, cx.actor, now))

    cmd.__doc__ = helptext
    app.command(name)(cmd)


_status_cmd("solve", "Mark tickets solved (they close after close_after).")
_status_cmd("close", "Close tickets.")
_status_cmd("reopen", "Reopen solved or closed tickets.")


@app.command()
def snooze(ctx: typer.Context, when: str = typer.Argument(..., metavar="WHEN", help="2h, 3d, 'tomorrow 9:00', ISO 8601, or 'off'"),
           ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Hide tickets until WHEN; a customer reply brings them back early."""
    cx = obj(ctx)
    from supportctl.services import triage
    from supportctl.timeparse import parse_when
    from supportctl.values import iso, utcnow

    until = None if when in ("off", "none") else iso(parse_when(when, utcnow(), _tz(cx)))
    store, now = cx.store(), now_iso()
    if until is not None and until <= now:
        # It would hide nothing (the next sync wakes it), yet look done.
        from supportctl.cli.clock import day_time

        raise UsageError(f"{when!r} is {day_time(until)}, already past: give a time to come "
                         "(2h, 'tomorrow 9:00', monday), or 'off'")
    for_each(read_ids(ids, cx.stdin), lambda t: triage.snooze(store, t, until, cx.actor, now))


def _tz(cx: Ctx) -> Any:
    try:
        cfg = cx.config()
    except Exception:
        return None
    if cfg is not None and getattr(cfg, "timezone", None):
        from zoneinfo import ZoneInfo

        return ZoneInfo(cfg.timezone)
    return None


@app.command()
def spam(ctx: typer.Context, ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Tag tickets spam, close them, and file the sender's later mail as spam."""
    cx = obj(ctx)
    from supportctl.services import tickets as svc

    store, now = cx.store(), now_iso()
    for_each(read_ids(ids, cx.stdin), lambda t: svc.mark_spam(store, t, cx.actor, now))


@app.command()
def unspam(ctx: typer.Context, ids: list[str] = typer.Argument(..., metavar="ID…")) -> None:
    """Undo spam: reopen tickets, drop the spam tag and lift the sender block."""
    cx = obj(ctx)
    from supportctl.services import tickets as svc

    store, now = cx.store(), now_iso()
    for_each(read_ids(ids, cx.stdin), lambda t: svc.unmark_spam(store, t, cx.actor, now))


def _confirm(cx: Ctx, what: str, yes: bool) -> None:
    from supportctl.cli.render import is_tty

    if yes:
        return
    if not (cx.stdin.isatty() and is_tty()):
        raise UsageError(f"{what}: pass --yes to confirm")
    if not typer.confirm(what + "?"):
        raise typer.Exit(1)


@app.command()
def merge(ctx: typer.Context, from_id: str = typer.Argument(..., metavar="FROM_ID"),
          into_id: str = typer.Argument(..., metavar="INTO_ID"),
          yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Move FROM's messages into INTO; FROM is closed and marked merged."""
    cx = obj(ctx)
    from supportctl.services import triage

    a, b = read_id(from_id, cx.stdin), read_id(into_id, cx.stdin)
    store = cx.store()
    triage.require(store, a)
    triage.require(store, b)
    _confirm(cx, f"merge ticket {a} into {b}", yes)
    triage.merge(store, a, b, cx.actor, now_iso())


@app.command()
def delete(ctx: typer.Context, ids: list[str] = typer.Argument(..., metavar="ID…"),
           yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Delete tickets and their messages for good (an event remains)."""
    cx = obj(ctx)
    from supportctl.services import triage

    if not yes:
        raise UsageError("delete removes tickets for good: pass --yes to confirm")
    store, now = cx.store(), now_iso()
    for_each(read_ids(ids, cx.stdin), lambda t: triage.delete(store, t, cx.actor, now))


@app.command()
def attachments(ctx: typer.Context,
    ticket_id: str = typer.Argument(..., metavar="ID"),
    save: Path | None = typer.Option(None, "--save", help="Write them into this directory."),
    fmt: str = FormatOpt,
) -> None:
    """List a ticket's attachments, or save them with safe file names."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import tickets as svc

    fmt_ = list_format(fmt)
    if fmt_ == "ids":
        raise UsageError("attachments have no ids of their own: use --format json, jsonl or csv "
                         "(each names its message_id)")
    tid = read_id(ticket_id, cx.stdin)
    store = cx.store()
    items = svc.attachments(store, tid)
    if save is not None:
        saved = svc.save_attachments(store, items, save)
        if not cx.quiet:
            render.plain([path] for path in saved)
        return
    if not render.machine(items, fmt_, ["message_id", "filename", "content_type", "size",
                                        "sha256"]):
        render.plain([a["message_id"], a["filename"], a["content_type"], a["size"]] for a in items)
