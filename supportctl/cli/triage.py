"""``triage``: walk the queue one ticket at a time with one-key actions."""

from __future__ import annotations

import sys

import typer

from supportctl.cli.app import STATE, app, now_iso
from supportctl.errors import UsageError

KEYS = ("[r]eply [n]ote [s]olve [c]lose [p]ending [m]ine [t]ag [z]snooze 1d [u]rgent "
        "[enter] next [q]uit")


def _getkey() -> str:
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        ch = sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    if ch in ("\x03", "\x04"):
        raise KeyboardInterrupt
    return ch


@app.command()
def triage(
    status: str = typer.Option("new,open", "--status", "-s"),
    assignee: str | None = typer.Option(None, "--assignee", "-a"),
) -> None:
    """Walk the queue (most urgent first) with one-key actions."""
    from supportctl.cli import render
    from supportctl.services import triage as svc
    from supportctl.store.read import TicketFilter, show_json, ticket_ids

    if not (sys.stdin.isatty() and render.is_tty()):
        raise UsageError("triage needs a terminal; scripts use list/tag/close instead")
    store = STATE.store()
    f = TicketFilter(statuses=status.split(","), sort="priority",
                     assignee=STATE.actor if assignee == "me" else assignee)
    ids = ticket_ids(store, f, now_iso())
    if not ids:
        render.info("nothing to triage")
        return
    for n, tid in enumerate(ids, 1):
        ticket = show_json(store, tid, now_iso())
        if ticket is None:
            continue
        render.console().clear()
        render.show(ticket)
        render.info(f"\n({n}/{len(ids)}) {KEYS}")
        key = _getkey().lower()
        now = now_iso()
        if key == "q":
            return
        if key == "r":
            from supportctl.cli.channels import reply

            try:
                reply(str(tid), None, None, None, None, None, None, [], [], None, False)
            except (typer.Exit, UsageError) as exc:
                render.info(f"reply not sent: {exc}")
        elif key == "n":
            text = typer.prompt("note")
            from supportctl.services.tickets import add_note

            add_note(store, tid, text, STATE.actor, now)
        elif key == "s":
            svc.solve(store, tid, STATE.actor, now)
        elif key == "c":
            svc.close(store, tid, STATE.actor, now)
        elif key == "p":
            svc.set_status(store, tid, "pending", STATE.actor, now)
        elif key == "m":
            svc.assign(store, tid, STATE.actor, STATE.actor, now)
        elif key == "u":
            svc.priority(store, tid, "urgent", STATE.actor, now)
        elif key == "t":
            tags = [t.strip() for t in typer.prompt("tags (comma-separated)").split(",") if t.strip()]
            svc.tag(store, tid, tags, STATE.actor, now)
        elif key == "z":
            from datetime import timedelta

            from supportctl.models import shift

            svc.snooze(store, tid, shift(now, timedelta(days=1)), STATE.actor, now)
