"""``rules test ID``: what each configured rule would do to a ticket."""

from __future__ import annotations

import sys

import typer

from supportctl.cli.app import STATE, app, read_ids

rules_app = typer.Typer(help="Rules that act on new messages.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("test")
def rules_test(ticket_id: str = typer.Argument(..., metavar="ID"),
               fmt: str | None = typer.Option(None, "--format", "-f", help="table or json")) -> None:
    """What each rule would do to the ticket's last inbound message; changes nothing."""
    from supportctl.cli import render
    from supportctl.safe import one_line
    from supportctl.services.rules import dry_run

    tid = read_ids([ticket_id])[0]
    outcomes = dry_run(STATE.store(), STATE.config(), tid)
    if fmt == "json":
        sys.stdout.write(render.dumps(outcomes) + "\n")
        return
    if not outcomes:
        render.info("no rules configured")
    for o in outcomes:
        if o["matched"]:
            did = "; ".join(f"{a['action']} {_value(a['value'])}" for a in o["actions"])
            sys.stdout.write(f"{one_line(o['rule'])}\tmatches\t{one_line(did)}\n")
        else:
            sys.stdout.write(f"{one_line(o['rule'])}\tno\t{one_line(o['reason'] or '')}\n")


def _value(v: object) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if v is True:
        return ""
    return "(nobody in the group)" if v is None else str(v)
