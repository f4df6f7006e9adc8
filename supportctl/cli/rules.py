"""``rules test ID``: what each configured rule would do to a ticket."""

from __future__ import annotations

import typer

from supportctl.cli.app import app, obj, read_ids

rules_app = typer.Typer(help="Rules that act on new messages.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("test")
def rules_test(ctx: typer.Context, ticket_id: str = typer.Argument(..., metavar="ID"),
               fmt: str | None = typer.Option(None, "--format", "-f", help="table or json")) -> None:
    """What each rule would do to the ticket's last inbound message; changes nothing."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import table_or_json
    from supportctl.safe import one_line
    from supportctl.services.rules import dry_run

    fmt = table_or_json(fmt)
    tid = read_ids([ticket_id], cx.stdin)[0]
    outcomes = dry_run(cx.store(), cx.config(), tid)
    if fmt == "json":
        cx.stdout.write(render.dumps(outcomes) + "\n")
        return
    if not outcomes:
        render.info("no rules configured")
    for o in outcomes:
        if o["matched"]:
            did = "; ".join(f"{a['action']} {_value(a['value'])}" for a in o["actions"])
            cx.stdout.write(f"{one_line(o['rule'])}\tmatches\t{one_line(did)}\n")
        else:
            cx.stdout.write(f"{one_line(o['rule'])}\tno\t{one_line(o['reason'] or '')}\n")


def _value(v: object) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if v is True:
        return ""
    return "(nobody in the group)" if v is None else str(v)
