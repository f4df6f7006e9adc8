"""``notify test NAME``: check that a notification entry reaches its person."""

from __future__ import annotations

import typer

from supportctl.cli.app import app, now_iso, obj

notify_app = typer.Typer(help="Notifications to agents and the owner (SPEC §10).",
                         no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Send a test message through the notify entry NAME."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.channels import ChannelPool, setup_logging
    from supportctl.config import NOTIFY_ASSIGNEE
    from supportctl.services import notify

    setup_logging(cx)
    pool = ChannelPool(cx)
    try:
        entry = notify.send_test(cx.config(required=True), name, pool, now_iso())
    finally:
        pool.close()
    if not cx.quiet:
        if entry.to == NOTIFY_ASSIGNEE:
            to = ", ".join(notify.agent_emails(cx.config(required=True)).values())
            render.info(f"sent a test notification to every agent with an email ({to})"
                        f" via {entry.via}")
        else:
            render.info(f"sent a test notification to {entry.to} via {entry.via}")
