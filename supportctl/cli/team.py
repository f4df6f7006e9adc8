"""Commands for a team sharing one queue (SPEC §13): claim, unclaim, next."""

from __future__ import annotations

from typing import Any

import typer

from supportctl.cli.app import app, for_each, now_iso, obj, read_ids
from supportctl.cli.clock import day_time
from supportctl.errors import NotFound, UsageError

LEASE_HELP = "How long the claim lasts: 30m, 2h, … (default 30m)."


def lease_until(text: str) -> str:
    """The end of a lease given as a duration from now."""
    import re

    from supportctl.timeparse import duration
    from supportctl.values import iso, utcnow

    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read --for {text!r}: use a duration such as 30m, 2h or 1d")
    span = duration(m.group(1), m.group(2), text)
    if not span:
        raise UsageError("--for must be longer than zero")
    return iso(utcnow() + span) or ""


@app.command()
def claim(ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="ID…"),
    for_: str = typer.Option("30m", "--for", help=LEASE_HELP),
    force: bool = typer.Option(False, "--force", help="Take over another agent's live claim."),
) -> None:
    """Take tickets for a while, so nobody else answers them meanwhile (exit 4 if another agent
    holds one)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.errors import ClaimedByOther
    from supportctl.services import team

    store, now, until, me = cx.store(), now_iso(), lease_until(for_), cx.me()
    held: list[str] = []

    def one(tid: int) -> None:
        try:
            team.claim(store, tid, me, now, until, force=force, when=day_time)
        except ClaimedByOther as exc:  # the others are still claimed
            held.append(str(exc))

    missing = 0
    try:
        for_each(read_ids(ids, cx.stdin), one)
    except typer.Exit as exc:  # unknown ids were reported
        missing = exc.exit_code
    for line in held[:-1]:
        render.error(line)
    if held:
        raise ClaimedByOther(held[-1])
    if missing:
        raise typer.Exit(missing)
    if not cx.quiet:
        render.info(f"claimed until {day_time(until)}")


@app.command()
def unclaim(ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="ID…"),
    force: bool = typer.Option(False, "--force", help="Release another agent's claim."),
) -> None:
    """Give claimed tickets back to the queue."""
    cx = obj(ctx)
    from supportctl.services import team

    store, now, me = cx.store(), now_iso(), cx.me()
    for_each(read_ids(ids, cx.stdin), lambda t: team.release(store, t, me, now, force=force))


@app.command("next")
def next_cmd(ctx: typer.Context,
    channel: str | None = typer.Option(None, "--channel", help="Only this medium."),
    for_: str = typer.Option("30m", "--for", help=LEASE_HELP),
    fmt: str | None = typer.Option(None, "--format", "-f", help="table|json|jsonl|csv|ids"),
) -> None:
    """Claim and show the most urgent ticket waiting on the team: the nearest SLA deadline, then
    priority, then the longest wait; never one claimed by, or assigned to, someone else. Exit 3
    when nothing waits."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import list_format, one_of
    from supportctl.services import team
    from supportctl.store.read import show_json

    fmt_ = list_format(fmt)
    if channel:
        from supportctl.channels import media_names

        channel = one_of("--channel", channel, media_names())
    store, now, until, me = cx.store(), now_iso(), lease_until(for_), cx.me()
    tid = team.hand_out(store, me, now, until, channel)
    if tid is None:
        raise NotFound("nothing waits: no open ticket is unclaimed and unassigned (or yours)")
    ticket: dict[str, Any] | None = show_json(store, tid, now)
    assert ticket is not None
    if fmt_ == "json":
        cx.stdout.write(render.dumps(ticket) + "\n")
    elif fmt_ == "jsonl":
        render.write_jsonl([ticket])
    elif fmt_ == "ids":
        render.write_ids([ticket])
    else:
        if not cx.quiet:
                render.info(f"#{tid} is yours until {day_time(until)}")
        render.show(ticket)
