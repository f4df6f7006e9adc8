"""Commands that talk to channels: sync, reply, outbox, quarantine.

Only these build channels (from config entries with their secrets
resolved); services receive the built channels.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from supportctl.cli.app import ID_RANGE, Ctx, app, now_iso, obj, read_id
from supportctl.errors import ChannelError, ConfigError, SupportError, UsageError

if TYPE_CHECKING:
    from supportctl.services.parsing import Ahead


def _entries(cx: Ctx) -> list[dict[str, Any]]:
    cfg = cx.config()
    return list(cfg.channels) if cfg is not None else []


def own_addresses(cx: Ctx) -> set[str]:
    """Every address of ours: each mail entry's ``addresses``, login,
    ``from`` and ``reply_to`` (plus-addresses of them are ours too)."""
    from supportctl.services.outbox import account_addresses

    out: set[str] = set()
    for e in _entries(cx):
        if e.get("type") == "imap":
            out |= account_addresses(e)
    return out


class _SafeFormatter:
    """Log lines as one clean line each: channel messages can quote server
    text, which is untrusted."""

    def format(self, record: Any) -> str:
        from supportctl.safe import one_line

        return "supportctl: " + one_line(record.getMessage())


def setup_logging(cx: Ctx) -> None:
    """Channel warnings (a UIDVALIDITY reset, a reconnect with -v) go to
    stderr; nothing below a warning unless -v, nothing but errors with -q."""
    import logging

    handler = logging.StreamHandler(cx.stderr)
    handler.setFormatter(_SafeFormatter())  # type: ignore[arg-type]
    root = logging.getLogger("supportctl")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.ERROR if cx.quiet else logging.INFO if cx.verbose else logging.WARNING)


def build_channel(entry: dict[str, Any]) -> Any:
    from supportctl.channels import build
    from supportctl.config import resolve_secrets

    return build(resolve_secrets(entry))


def account_for(cx: Ctx, medium: str, name: str | None) -> dict[str, Any]:
    """The configured entry to send ``medium`` through."""
    from supportctl.channels import media_of_type

    entries = _entries(cx)
    if name:
        for e in entries:
            if e["name"] == name:
                if medium not in media_of_type(e["type"]):
                    raise UsageError(f"channel entry {name!r} ({e['type']}) cannot send {medium}")
                return e
        raise ConfigError(
            f"no channel entry named {name!r}: configured are "
            f"{', '.join(e['name'] for e in entries) or 'none'}"
        )
    fit = [e for e in entries if medium in media_of_type(e["type"])]
    if not fit:
        raise ConfigError(
            f"no configured channel can send {medium}: add one to {cx.cfg_path()} "
            "(see config.example.yaml)"
        )
    return fit[0]


def send_now(cx: Ctx, store: Any, outbox_id: int, entry: dict[str, Any]) -> None:
    """Send a queued entry; on failure say where it is and exit 1."""
    from supportctl.services import outbox

    try:
        channel = build_channel(entry)
    except SupportError as exc:
        # The reply is stored and queued already: say so, or it is typed
        # again and both go out with the next sync.
        state = outbox.channel_unavailable(store, outbox_id, str(exc),
                                           max_attempts=cx.config().outbox_max_attempts)
        _report_send(cx, store, outbox_id, state)
        return
    try:
        state = outbox.send_entry(store, outbox_id, channel,
                                  max_attempts=cx.config().outbox_max_attempts)
    finally:
        channel.close()
    _report_send(cx, store, outbox_id, state)


def _report_send(cx: Ctx, store: Any, outbox_id: int, state: str) -> None:
    from supportctl.cli import render

    if state in ("failed", "unknown"):
        from supportctl.store.outbox import error

        what = "may or may not have been sent" if state == "unknown" else "was not sent"
        render.error(
            f"the message {what} ({error(store, outbox_id)}); it is kept as outbox entry {outbox_id}: "
            f"`supportctl outbox retry {outbox_id}` resends it"
        )
        raise typer.Exit(1)
    if not cx.quiet:
        render.info(f"sent ({state}), outbox entry {outbox_id}")


def _editor_text(store: Any, ticket_id: int, initial: str) -> str:
    """Open $VISUAL/$EDITOR on a draft with the thread below a cut line."""
    from supportctl.cli.clock import day_time
    from supportctl.safe import clean
    from supportctl.store.read import messages_json

    cut = "# ------------------------ >8 ------------------------"
    lines = [initial.rstrip("\n"), "", cut,
             "# Everything below this line is ignored. An empty draft aborts.", ""]
    for m in reversed(messages_json(store, ticket_id)[-10:]):
        who = m["from"]["name"] or m["from"]["address"] or m.get("author") or ""
        lines.append(f"# {m['direction']} {day_time(m['sent_at'])} {clean(who)}")
        lines += ["#   " + ln for ln in clean(m["text"]).splitlines()[:60]]
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=".txt", prefix=f"reply-{ticket_id}-",
                                     delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
        path = fh.name
    keep = False
    try:
        rc = subprocess.call(f'{editor} "{path}"', shell=True)
        if rc != 0:
            raise UsageError(f"editor exited with {rc}: reply aborted, nothing sent")
        text = Path(path).read_text(encoding="utf-8")
        if not text.strip():
            raise UsageError("empty draft: reply aborted, nothing sent")  # as the draft says
        body = draft_body(text, cut)
        if body is None:
            keep = True
            raise UsageError(f"the cut line is gone from the draft, so the quoted thread would be "
                             f"sent: nothing sent; your draft is kept in {path}")
    finally:
        if not keep:
            os.unlink(path)
    return body


def draft_body(text: str, cut: str) -> str | None:
    """The reply in an edited draft: everything above the cut line, every
    line kept (``#1042 left the warehouse`` is the customer's order, not a
    comment); the cut line and all below it are ignored. None when the cut
    line was deleted: then nothing tells the reply from the quoted thread."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if line.strip() == cut:
            return "\n".join(lines[:n]).strip()
    return None


@app.command()
def reply(ctx: typer.Context,
    ticket_id: str = typer.Argument(..., metavar="ID"),
    source: str | None = typer.Argument(None, metavar="[-]", help="'-' reads the text from stdin."),
    message: str | None = typer.Option(None, "--message", "-m"),
    file: Path | None = typer.Option(None, "--file"),
    template: str | None = typer.Option(None, "--template", "-t"),
    via: str | None = typer.Option(None, "--via", help="Answer on another medium of the contact."),
    account: str | None = typer.Option(None, "--account"),
    attach: list[Path] = typer.Option([], "--attach"),
    cc: list[str] = typer.Option([], "--cc"),
    status: str | None = typer.Option(None, "--status", help="Status after the reply (e.g. pending)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="With --template on a terminal: send the rendered text at once."),
    no_cc: bool = typer.Option(False, "--no-cc", help="Email: answer only the customer, not the "
                               "others on their last message (reply-all is the default)."),
    force: bool = typer.Option(False, "--force", help="Send even if another agent claimed or "
                               "answered the ticket since you opened it."),
    human_agent: bool = typer.Option(False, "--human-agent", help="Messenger/Instagram: a "
                                     "person's answer after the 24-hour window (HUMAN_AGENT "
                                     "tag, up to 7 days)."),
) -> None:
    """Answer a ticket on its channel (or --via another). If another agent claimed or answered
    it since you opened it, asks first on a terminal, else exits 4 unless --force."""
    cx = obj(ctx)
    send_reply(
        cx, ticket_id=ticket_id, source=source, message=message, file=file, template=template,
        via=via, account=account, attach=attach, cc=cc, status=status, dry_run=dry_run,
        yes=yes, no_cc=no_cc, force=force, human_agent=human_agent,
    )


def send_reply(cx: Ctx, *, ticket_id: str, source: str | None, message: str | None,
               file: Path | None, template: str | None, via: str | None, account: str | None,
               attach: list[Path], cc: list[str], status: str | None, dry_run: bool, yes: bool,
               no_cc: bool, force: bool, human_agent: bool) -> None:
    """``reply``'s work, for ``triage`` too (which has a context, not a
    command line)."""
    from supportctl.channels import log_media, reply_medium
    from supportctl.cli import render
    from supportctl.cli.tickets import _text
    from supportctl.services import outbox, triage

    setup_logging(cx)
    opened = now_iso()  # the draft opens now: others' work from here on is news
    tid = read_id(ticket_id, cx.stdin)
    store = cx.store()
    t = triage.require(store, tid)
    while t["merged_into"]:  # the conversation goes on where it was merged
        render.info(f"ticket {t['id']} was merged into #{t['merged_into']}: replying there")
        t = triage.require(store, t["merged_into"])
    tid = t["id"]
    from supportctl.cli.tickets import one_of

    if via is not None:  # a typo is not "no configured channel can send emial"
        from supportctl.channels import media_names

        one_of("--via", via, media_names())
    if status is not None:  # checked by the send too, but --dry-run must say so
        from supportctl.values import Status

        one_of("--status", status, list(Status))
    medium = reply_medium(via or t["channel"])  # a web form is answered by email
    if medium in log_media():
        raise UsageError(
            f"ticket {tid} was logged ({medium}): answer with --via email|sms|whatsapp|telegram"
        )
    if source not in (None, "-"):
        raise UsageError(f"unexpected argument {source!r}: the text goes in -m or --file")
    outbox.check_files(medium, attach)  # before the editor opens
    if human_agent:
        from supportctl.channels import media

        tagged = [m.name for m in media().values() if m.window and m.window.extended_by]
        if medium not in tagged:
            raise UsageError(f"--human-agent does not apply to {medium}: only to "
                             f"{', '.join(tagged)}")
    text = _text(cx, "-" if source == "-" else message, file, required=False)
    if account:
        entry = account_for(cx, medium, account)
    elif t["account"] and not via:
        entry = _ticket_account(cx, t, medium)
    else:
        entry = account_for(cx, medium, None)
    meta: dict[str, Any] = {"human_agent": True} if human_agent else {}
    subject: str | None = None
    if template:
        from supportctl.services.templates import render_template

        rendered, rendered_meta = render_template(cx.config(), template, store, tid, cx.actor)
        meta = {**meta, **rendered_meta}  # --human-agent holds for a template too
        subject = meta.pop("subject", None)
        if text is None and not yes and not meta.get("content_sid") \
                and cx.stdin.isatty() and render.is_tty():
            # The rendered template is the draft: read it, change it, or empty it to abort.
            text = _editor_text(store, tid, rendered)
        else:
            text = (text + "\n\n" if text else "") + rendered
    if text is None:
        if not (cx.stdin.isatty() and render.is_tty()):
            raise UsageError("no text: pass -m TEXT, --file FILE, '-' for stdin, or --template NAME")
        text = _editor_text(store, tid, "")
    if not text.strip() and not meta.get("content_sid"):
        raise UsageError("empty reply: nothing sent")
    if not meta.get("content_sid"):
        from supportctl.services.signature import sign, signature_for

        text = sign(text, signature_for(cx.config(), cx.actor, entry), medium)
    if not force:
        _check_others(cx, store, tid, opened)
    if dry_run:
        for a in attach:
            if not a.is_file():
                raise UsageError(f"cannot read attachment {a}")
        to, cc_list, _ = outbox.plan_reply(store, tid, medium=medium, account=entry, cc=cc,
                                           keep_cc=not no_cc, meta=meta,
                                           own_addresses=own_addresses(cx))
        cx.stdout.write(render.dumps({"ticket_id": tid, "channel": medium, "account": entry["name"],
                                       "to": to[0].address, "cc": [c.address for c in cc_list],
                                       "subject": outbox.reply_subject(subject, t["subject"], tid)
                                       if medium == "email" else None,
                                       "text": text,
                                       "attachments": [str(a) for a in attach]}) + "\n")
        return
    oid = outbox.queue_reply(store, tid, text=text, medium=medium, account=entry, actor=cx.actor,
                             cc=cc, attachments=attach, status=status, template=template or "",
                             meta=meta, own_addresses=own_addresses(cx), keep_cc=not no_cc,
                             subject=outbox.reply_subject(subject, t["subject"], tid))
    from supportctl.services import team

    team.opened(store, tid, cx.actor, now_iso())
    send_now(cx, store, oid, entry)


def _check_others(cx: Ctx, store: Any, tid: int, opened: str) -> None:
    """SPEC §13: a reply to a ticket another agent claimed or answered since
    this agent opened it asks first (exit 4 off a terminal)."""
    from supportctl.cli import render
    from supportctl.cli.clock import day_time
    from supportctl.errors import ClaimedByOther
    from supportctl.services import team

    found = team.others_work(store, tid, cx.actor, opened, now_iso(), when=day_time)
    if not found:
        return
    what = "; ".join(found)
    if cx.stdin.isatty() and render.is_tty():
        if typer.confirm(f"ticket {tid} was {what}, since you opened it. Send anyway?",
                         default=False, err=True):
            return
        raise ClaimedByOther(f"not sent: ticket {tid} was {what}")
    raise ClaimedByOther(
        f"not sent: ticket {tid} was {what}, since you opened it: read it with "
        f"`supportctl show {tid}`, then reply again, or pass --force"
    )


def _ticket_account(cx: Ctx, t: Any, medium: str) -> dict[str, Any]:
    from supportctl.channels import media_of_type

    for e in _entries(cx):
        if e["name"] == t["account"] and medium in media_of_type(e["type"]):
            return e
    return account_for(cx, medium, None)


def _settings(cx: Ctx, name: str) -> Any:
    from supportctl.services.ingest import IngestSettings

    cfg = cx.config()
    return IngestSettings(account=name, actor=cx.actor, own_addresses=own_addresses(cx),
                          reopen_window=cfg.reopen_window, config=cfg)


def _entry_since(entry: dict[str, Any], since: str | None) -> Any:
    from supportctl.timeparse import parse_since
    from supportctl.values import utcnow

    value = since or entry.get("since")
    if not value:
        return None
    return parse_since(str(value), utcnow())


def run_sync(cx: Ctx, names: list[str], since: str | None, retry_quarantine: bool,
             keep: dict[str, Any] | None = None,
             last_errors: dict[str, str | None] | None = None,
             ahead: Ahead | None = None) -> int:
    """One pass over the entries; returns the exit code. With ``keep``
    (``--watch``), channels stay open between passes, so IMAP's ``wait``
    knows what the last pass saw and returns at once if mail came since.
    With ``last_errors`` (``--watch``: each entry's failure in the previous
    pass, None when it worked; filled in here), an entry seen before gets a
    line only when something changed: a quiet interval prints nothing.
    ``ahead``: a parsing pool already started (``_first_sync_pool``), closed
    here once the entries are synced."""
    from supportctl.cli import render
    from supportctl.services import sync as svc

    cfg = cx.config()
    started = now_iso()
    entries = _entries(cx)
    if names:
        known = {e["name"] for e in entries}
        for n in names:
            if n not in known:
                raise ConfigError(f"no channel entry named {n!r}: configured are "
                                  f"{', '.join(sorted(known)) or 'none'}")
        entries = [e for e in entries if e["name"] in names]
    if not entries:
        raise ConfigError(
            f"no channels configured in {cx.cfg_path()}: add one (see config.example.yaml), "
            "or try `supportctl demo`"
        )
    from supportctl.services import parsing
    from supportctl.services.csat import ask_due_csat
    from supportctl.services.language import languages_of

    results = []
    with render.progress(quiet=cx.quiet) as shown, \
            (ahead or parsing.Ahead(languages_of(cfg))) as ahead:
        store = cx.store()
        if not ahead.started and svc.first_syncs_due(store, entries):
            # A first sync is coming: its parsing workers start while this
            # process logs in and fetches the first batch.
            ahead.prestart()
        ask_due_csat(store, cfg, now_iso())  # sent below, by each entry's sync
        for entry in entries:
            try:
                channel = (keep or {}).get(entry["name"]) or build_channel(entry)
            except SupportError as exc:
                results.append(svc.EntryResult(entry["name"], ok=False, error=str(exc)))
                continue
            try:
                settings = _settings(cx, entry["name"])
                # New tickets may be acknowledged (decided as ingest stores them).
                settings.entry, settings.acknowledge = entry, True
                result = svc.sync_entry(store, channel, settings,
                                        since=_entry_since(entry, since),
                                        max_attempts=cfg.outbox_max_attempts, progress=shown,
                                        ahead=ahead)
                results.append(result)
            finally:
                if keep is not None and results[-1:] and results[-1].ok:
                    keep[entry["name"]] = channel
                else:
                    (keep or {}).pop(entry["name"], None)
                    try:
                        channel.close()
                    except Exception:
                        pass
        ahead.close()
        if retry_quarantine:
            ok, left = svc.retry_quarantine(store, lambda name: _settings(cx, name), progress=shown)
    if retry_quarantine and (not cx.quiet or left):
        render.info(f"quarantine: {ok} recovered, {left} still quarantined")
    failed = [r for r in results if not r.ok]
    for r in results:
        if last_errors is not None and r.name in last_errors:
            before = last_errors[r.name]
            if svc.changed(r, before) and not (cx.quiet and r.ok and not r.quarantined):
                render.info(svc.describe(r) + ("; working again" if r.ok and before else ""))
        elif not cx.quiet or not r.ok or r.quarantined:
            render.info(svc.describe(r))
        if last_errors is not None:
            last_errors[r.name] = None if r.ok else r.error
    housekeeping(cx, store, {r.name: (None if r.ok else r.error) for r in results}, keep, started)
    if cfg.suggest.semantic:
        embed_solved(cx, store, cfg)
    if failed and len(failed) == len(results):
        return 1
    if failed:
        return 5
    return 0


class ChannelPool:
    """Channels for notifications, by entry name: the ones ``--watch``
    keeps open, else built on first use and closed by ``close``."""

    def __init__(self, cx: Ctx, keep: dict[str, Any] | None = None) -> None:
        self.cx = cx
        self.keep = keep or {}
        self.built: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name in self.keep:
            return self.keep[name]
        if name not in self.built:
            self.built[name] = build_channel(self.cx.config().channel(name))
        return self.built[name]

    def close(self) -> None:
        for channel in self.built.values():
            try:
                channel.close()
            except Exception:
                pass
        self.built.clear()


def housekeeping(cx: Ctx, store: Any, synced: dict[str, str | None], keep: dict[str, Any] | None,
                 started: str) -> None:
    """Close, wake, recompute due times, notify (services.housekeeping)."""
    from supportctl.cli import render
    from supportctl.services import housekeeping as hk

    pool = ChannelPool(cx, keep)
    try:
        rep = hk.run(store, cx.config(), now_iso(), actor=cx.actor, channel_for=pool,
                     synced=synced, started=started)
    finally:
        pool.close()
    for problem in rep.problems:
        render.error(problem)
    if cx.quiet:
        return
    if rep.skipped:
        render.info("housekeeping: skipped: another machine is doing it")
        return
    done = [f"{n} {what}" for n, what in ((rep.closed, "closed"), (rep.woken, "woken"),
                                          (rep.notified, "notified")) if n]
    done += [f"{n} {name}" for name, n in rep.counts.items() if n]
    if done:
        render.info("housekeeping: " + ", ".join(done))


def embed_solved(cx: Ctx, store: Any, cfg: Any) -> None:
    """With ``suggest: {semantic: true}``: embed what was solved or
    written since the last pass, so ``suggest`` has nothing to wait for.
    A failure here is reported and never fails the sync."""
    from supportctl.cli import render
    from supportctl.services import kb, semantic

    if not semantic.available():
        render.error(semantic.INSTALL_HINT)
        return
    index = semantic.SemanticIndex(store)
    try:
        with render.progress(quiet=cx.quiet) as shown:
            done = index.update(kb.load(cfg.kb.folder(cfg), strict=False), progress=shown)
    except Exception as exc:  # the model or the store: the sync itself is done
        render.error(f"semantic index not updated: {exc}; `supportctl db embed` retries")
        return
    if (done.tickets or done.articles) and not cx.quiet:
        render.info(f"semantic index: {done.tickets} tickets, {done.articles} articles embedded")


@app.command()
def sync(ctx: typer.Context,
    accounts: list[str] = typer.Argument(None, metavar="[ACCOUNT…]"),
    watch: bool = typer.Option(False, "--watch", help="Keep running (IMAP IDLE, polling others)."),
    since: str | None = typer.Option(None, "--since", help="How far back a first sync reaches (30d, a date)."),
    wait: float = typer.Option(0.0, "--wait", min=0.0,
                               help="Wait up to SECONDS for another sync to finish."),
    retry_quarantine: bool = typer.Option(False, "--retry-quarantine"),
    interval: float = typer.Option(60.0, "--interval", min=0.1, max=86400.0,
                                   help="With --watch: seconds between polls."),
) -> None:
    """Pull every (or the named) configured channel into the store."""
    cx = obj(ctx)
    from supportctl.services.sync import sync_lock

    setup_logging(cx)
    # Config errors before taking the lock; a configured first sync makes the store.
    cfg = cx.config()
    ahead = _first_sync_pool(cx, accounts or [])
    keep: dict[str, Any] | None = {} if watch else None
    changes = None
    try:
        store = cx.store(create=cfg.path is not None)
        with sync_lock(store, wait):
            store.remove_stale_temp_files()  # of a run killed mid-write
            last_errors: dict[str, str | None] = {}
            if watch:
                from supportctl.store.live import watch as watch_store

                # PostgreSQL: another machine's new ticket or reply wakes the loop.
                changes = watch_store(store)
            code = run_sync(cx, accounts or [], since, retry_quarantine, keep, last_errors, ahead)
            while watch:
                _stop_if_interrupted(cx)
                _wait_any(cx, interval, keep or {}, changes)
                _stop_if_interrupted(cx)
                # After the first pass, only what changed (a quiet interval prints nothing).
                code = run_sync(cx, accounts or [], None, False, keep, last_errors)
    finally:
        if ahead is not None:
            ahead.close()
        for channel in (keep or {}).values():
            try:
                channel.close()
            except Exception:
                pass
        if changes is not None:
            changes.close()
    raise typer.Exit(code)


def _first_sync_pool(cx: Ctx, names: list[str]) -> Ahead | None:
    """The parsing pool, started now, when the store does not exist yet and
    an entry to sync may be read ahead: a first sync of everything is
    coming, and the workers start on the core this process leaves idle
    while it creates the store (0.2 s) and logs in. None otherwise
    (``run_sync`` starts one when an existing store has a first sync due)."""
    from supportctl.services.sync import first_syncs_due

    location = cx.db_location()
    entries = [e for e in _entries(cx) if not names or e.get("name") in names]
    if not isinstance(location, Path) or location.exists() or not first_syncs_due(None, entries):
        return None
    from supportctl.services import parsing
    from supportctl.services.language import languages_of

    ahead = parsing.Ahead(languages_of(cx.config()))
    ahead.prestart()
    return ahead


def _stop_if_interrupted(cx: Ctx) -> None:
    """A SIGTERM/SIGHUP whose KeyboardInterrupt was swallowed on its way
    (raised inside a finalizer) still ends the watch between passes."""
    if cx.interrupted:
        raise KeyboardInterrupt


#: With an IMAP entry on a PostgreSQL store, ``--watch`` IDLEs this long at
#: a time and looks at the store's news between (IDLE cannot be woken).
LIVE_IDLE_SLICE = 5.0


def _wait_any(cx: Ctx, interval: float, keep: dict[str, Any], changes: Any = None) -> None:
    """Until an IMAP folder reports news (IDLE), others commit a ticket or
    a message to a PostgreSQL store (``changes``: store/live.py), or
    ``interval`` passes."""
    imap = [keep[e["name"]] for e in _entries(cx) if e["type"] == "imap" and e["name"] in keep]
    live = changes is not None and changes.instant
    if not imap:
        if live:
            changes.wait(interval)
        else:
            time.sleep(interval)
        return
    if not live:
        try:
            imap[0].wait(interval)
        except ChannelError:
            time.sleep(interval)
        return
    deadline = time.monotonic() + interval
    while (left := deadline - time.monotonic()) > 0 and not changes.wait(0):
        step = min(left, LIVE_IDLE_SLICE)
        began = time.monotonic()
        try:
            imap[0].wait(step)
        except ChannelError:
            changes.wait(step)
            continue
        if time.monotonic() - began < step - 0.5:
            return  # IDLE ended early: the folder has news


outbox_app = typer.Typer(help="What is queued, failed or unknown.", invoke_without_command=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.callback()
def outbox_root(ctx: typer.Context,
                all_: bool = typer.Option(False, "--all", help="Include sent entries."),
                fmt: str | None = typer.Option(None, "--format", "-f")) -> None:
    cx = obj(ctx)
    if ctx.invoked_subcommand is None:
        _outbox_list(cx, all_, fmt)


@outbox_app.command("list")
def outbox_list(ctx: typer.Context, all_: bool = typer.Option(False, "--all", help="Include sent entries."),
                fmt: str | None = typer.Option(None, "--format", "-f")) -> None:
    """Outbox entries (default: queued, failed, unknown)."""
    cx = obj(ctx)
    _outbox_list(cx, all_, fmt)


def _outbox_list(cx: Ctx, all_: bool, fmt: str | None) -> None:
    from supportctl.cli import render
    from supportctl.cli.tickets import list_format
    from supportctl.safe import one_line
    from supportctl.services.outbox import outbox_json

    rows = outbox_json(cx.store(), None if all_ else ["queued", "failed", "unknown"])
    if not render.machine(rows, list_format(fmt), ["id", "ticket_id", "channel", "account", "state",
                                            "error", "attempts", "created_at", "text",
                                            "next_attempt_at"]):
        now = now_iso()
        render.plain([r["id"], f"#{r['ticket_id']}", r["channel"], r["state"],
                      _next_retry(r, now), one_line(r["error"] or "", 80),
                      one_line(r["text"], 50)] for r in rows)
        if not rows and render.is_tty():
            render.info("outbox is empty")


def _next_retry(entry: dict[str, Any], now: str) -> str:
    """What happens next to an outbox entry, for a person."""
    from supportctl.cli import render
    from supportctl.cli.clock import relative

    state, due = entry["state"], entry.get("next_attempt_at")
    if state == "failed" and due:
        wait = relative(due, now=now) if due > now else "now"
        if wait == "now":
            return "retry: next sync"
        return f"retry: sync after {render.short_time(due)} ({wait})"
    if state == "failed":
        return f"no retry: `outbox retry {entry['id']}`"
    if state == "unknown":
        return f"may have gone: `outbox retry|cancel {entry['id']}`"
    if state == "queued":
        return "sending"
    return ""


@outbox_app.command("retry")
def outbox_retry(ctx: typer.Context, entry_id: int = typer.Argument(..., metavar="ID", **ID_RANGE)) -> None:
    """Send an entry again (also one whose outcome is unknown: you decide)."""
    cx = obj(ctx)
    from supportctl.services import outbox

    store = cx.store()
    from supportctl.store.outbox import route

    row = route(store, entry_id)
    if row is None:
        from supportctl.errors import NotFound

        raise NotFound(f"no outbox entry {entry_id}: see `supportctl outbox`")
    entry = next((e for e in _entries(cx) if e["name"] == row["account"]), None)
    if entry is None:
        raise ConfigError(f"outbox entry {entry_id} belongs to {row['account']!r}, "
                          "which is not configured any more")
    channel = build_channel(entry)
    try:
        state = outbox.retry_entry(store, entry_id, channel, cx.actor)
    finally:
        channel.close()
    _report_send(cx, store, entry_id, state)


@outbox_app.command("cancel")
def outbox_cancel(ctx: typer.Context, entry_id: int = typer.Argument(..., metavar="ID", **ID_RANGE)) -> None:
    """Give up on an entry (the message stays on the ticket, marked failed)."""
    cx = obj(ctx)
    from supportctl.services import outbox

    outbox.cancel_entry(cx.store(), entry_id, cx.actor)


q_app = typer.Typer(help="Messages that could not be ingested, kept raw.", invoke_without_command=True)
app.add_typer(q_app, name="quarantine")


@q_app.callback()
def q_root(ctx: typer.Context, fmt: str | None = typer.Option(None, "--format", "-f")) -> None:
    cx = obj(ctx)
    if ctx.invoked_subcommand is None:
        _q_list(cx, fmt)


@q_app.command("list")
def q_list(ctx: typer.Context, fmt: str | None = typer.Option(None, "--format", "-f")) -> None:
    """Quarantined messages with their reason."""
    cx = obj(ctx)
    _q_list(cx, fmt)


def _q_rows(cx: Ctx) -> list[dict[str, Any]]:
    from supportctl.store import quarantine

    return [
        {"id": r["id"], "account": r["account"], "source_ref": r["source_ref"], "reason": r["reason"],
         "size": r["size"], "created_at": r["created_at"], "retried_at": r["retried_at"],
         "resolved_at": r["resolved_at"], "channel": r["medium"]}
        for r in quarantine.entries(cx.store())
    ]


def _q_list(cx: Ctx, fmt: str | None) -> None:
    from supportctl.cli import render
    from supportctl.cli.tickets import list_format
    from supportctl.safe import one_line

    rows = _q_rows(cx)
    if not render.machine(rows, list_format(fmt), ["id", "channel", "account", "source_ref", "reason", "size",
                                      "created_at", "resolved_at"]):
        render.plain([r["id"], "recovered" if r["resolved_at"] else "held", r["account"],
                      r["source_ref"], r["size"], one_line(r["reason"], 100)] for r in rows)


def _q_raw(cx: Ctx, entry_id: int) -> bytes:
    from supportctl.store import quarantine

    raw = quarantine.raw(cx.store(), entry_id)
    if raw is None:
        from supportctl.errors import NotFound

        raise NotFound(f"no quarantined message {entry_id}: see `supportctl quarantine list`")
    return raw


@q_app.command("show")
def q_show(ctx: typer.Context, entry_id: int = typer.Argument(..., metavar="ID", **ID_RANGE)) -> None:
    """The raw message, made safe for the terminal."""
    cx = obj(ctx)
    from supportctl.safe import clean

    cx.stdout.write(clean(_q_raw(cx, entry_id).decode("utf-8", "replace")) + "\n")


@q_app.command("export")
def q_export(ctx: typer.Context, entry_id: int = typer.Argument(..., metavar="ID", **ID_RANGE)) -> None:
    """The raw bytes, exactly as fetched, to stdout."""
    cx = obj(ctx)
    out = cx.stdout
    out.flush()
    binary = getattr(out, "buffer", None)  # a text-only stream (a StringIO) has none
    if binary is None:
        raise UsageError("quarantine export writes raw bytes: this stdout takes only text")
    binary.write(_q_raw(cx, entry_id))


@q_app.command("retry")
def q_retry(ctx: typer.Context) -> None:
    """Try to ingest every quarantined message again."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import sync as svc

    with render.progress(quiet=cx.quiet) as shown:
        ok, left = svc.retry_quarantine(cx.store(), lambda name: _settings(cx, name), progress=shown)
    render.info(f"quarantine: {ok} recovered, {left} still quarantined")
