"""``contact list|show|link|merge|export|forget``."""

from __future__ import annotations

import typer

from supportctl.cli.app import ID_RANGE, Ctx, app, now_iso, obj
from supportctl.errors import NotFound, UsageError

contact_app = typer.Typer(help="Contacts and their identities.", no_args_is_help=True)
app.add_typer(contact_app, name="contact")


def _contacts(cx: Ctx, query: str | None = None) -> list[dict[str, object]]:
    from supportctl.store.contacts import listed
    from supportctl.store.read import contact_json

    store = cx.store()
    ids = listed(store, query)
    return [c for c in (contact_json(store, i) for i in ids) if c]


@contact_app.command("list")
def contact_list(ctx: typer.Context,
    query: str | None = typer.Argument(None, help="Part of a name or address."),
    fmt: str | None = typer.Option(None, "--format", "-f"),
) -> None:
    """Contacts with their identities and ticket counts."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import list_format
    from supportctl.safe import one_line

    fmt = list_format(fmt)
    rows = _contacts(cx, query)
    if not render.machine(rows, fmt, ["id", "name", "ticket_count"]):  # type: ignore[arg-type]
        for c in rows:
            ids = ", ".join(f"{i['channel']}:{i['address']}" for i in c["identities"])  # type: ignore[attr-defined]
            render.plain([[c["id"], one_line(str(c["name"]), 30), one_line(ids, 80),
                           f"{c['ticket_count']} tickets"]])


@contact_app.command("show")
def contact_show(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID", **ID_RANGE),
                 fmt: str | None = typer.Option(None, "--format", "-f", help="table or json")) -> None:
    """A contact, its identities and every ticket across channels."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import table_or_json
    from supportctl.services.contacts import resolve
    from supportctl.store.read import TicketFilter, contact_json, ticket_ids, tickets_json

    fmt = table_or_json(fmt)
    store = cx.store()
    c = contact_json(store, resolve(store, contact_id))
    if c is None:
        raise NotFound(f"no contact {contact_id}: see `supportctl contact list`")
    now = now_iso()
    ts = tickets_json(store, ticket_ids(store, TicketFilter(statuses=None, contact=c["id"],
                                                           include_snoozed=True), now), now)
    if fmt == "json":
        c["tickets"] = ts
        cx.stdout.write(render.dumps(c) + "\n")
        return
    from supportctl.safe import one_line

    render.line(f"contact {c['id']}: {one_line(c['name']) or '-'}")
    for i in c["identities"]:
        render.line(f"  {one_line(i['channel'])}: {one_line(i['address'])}")
    if c.get("opted_out_at"):
        render.line(f"  asks for no satisfaction surveys since "
                    f"{render.short_time(str(c['opted_out_at']))}")
    if c.get("blocked_since"):
        render.line(f"  blocked as spam since {render.short_time(str(c['blocked_since']))}: "
                    "`supportctl unspam ID` on one of their tickets lifts it")
    from supportctl.cli.tickets import tag_names

    render.tickets(ts, "table" if render.is_tty() else None, tag_names=tag_names(store, ts))


@contact_app.command("link")
def contact_link(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID", **ID_RANGE),
                 address: str = typer.Argument(..., metavar="ADDRESS"),
                 channel: str | None = typer.Option(None, "--channel", help="Medium (guessed if omitted).")) -> None:
    """Give a contact another identity (merging with its owner if it has one)."""
    cx = obj(ctx)
    from supportctl.channels import media_names
    from supportctl.cli.tickets import one_of
    from supportctl.services import contacts

    if channel is not None:
        one_of("--channel", channel, media_names())
    # anything that is not an address, a number or a handle is Telegram's
    medium = channel or contacts.guess_medium(address, "telegram")
    try:
        contacts.valid_address(medium, address, "ADDRESS")
    except UsageError as exc:
        if channel:
            raise
        raise UsageError(f"{exc} (or name its medium with --channel)") from None
    store = cx.store()
    merged = contacts.link(store, contact_id, medium, address, cx.actor, now_iso())
    if merged is not None and not cx.quiet:
        # A merge is undone by nobody: say it happened (`contact merge`
        # asks first; link merges when the address was someone else's).
        from supportctl.cli import render
        from supportctl.safe import one_line
        from supportctl.store.read import contact_json

        into = contact_json(store, contact_id) or {}
        render.info(f"{one_line(address, 60)} belonged to contact {merged}: merged contact "
                    f"{merged} into {contact_id} ({one_line(str(into.get('name') or '-'), 40)})")


@contact_app.command("unlink")
def contact_unlink(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID", **ID_RANGE),
                   address: str = typer.Argument(..., metavar="ADDRESS"),
                   channel: str | None = typer.Option(
                       None, "--channel", help="The identity's medium, as `contact show` lists it.")
                   ) -> None:
    """Take an identity off a contact (linked by mistake); its tickets stay."""
    cx = obj(ctx)
    from supportctl.services import contacts

    medium, stored = contacts.unlink(cx.store(), contact_id, address, channel, cx.actor,
                                     now_iso())
    if not cx.quiet:
        from supportctl.cli import render

        render.info(f"removed {medium} {stored} from contact {contact_id}")


@contact_app.command("merge")
def contact_merge(ctx: typer.Context, from_id: int = typer.Argument(..., metavar="FROM_ID", **ID_RANGE),
                  into_id: int = typer.Argument(..., metavar="INTO_ID", **ID_RANGE),
                  yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Make two contacts one person: identities and tickets move to INTO."""
    cx = obj(ctx)
    from supportctl.cli.tickets import _confirm
    from supportctl.services import contacts

    store = cx.store()
    contacts.require(store, from_id)
    contacts.require(store, into_id)
    _confirm(cx, f"merge contact {from_id} into {into_id}", yes)
    contacts.merge(store, from_id, into_id, cx.actor, now_iso())


@contact_app.command("export")
def contact_export(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID", **ID_RANGE)) -> None:
    """Everything stored about a person, as JSON (a subject access request)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.read import (
        TicketFilter,
        contact_json,
        messages_json,
        ticket_ids,
        tickets_json,
    )

    store = cx.store()
    c = contact_json(store, contact_id)
    if c is None:
        raise NotFound(f"no contact {contact_id}: see `supportctl contact list`")
    now = now_iso()
    ts = tickets_json(store, ticket_ids(store, TicketFilter(statuses=None, contact=contact_id,
                                                           include_snoozed=True, include_merged=True,
                                                           sort="id"), now), now)
    for t in ts:
        t["messages"] = messages_json(store, t["id"])
    c["tickets"] = ts
    cx.stdout.write(render.dumps(c) + "\n")


@contact_app.command("forget")
def contact_forget(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID", **ID_RANGE),
                   yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Erase a person's data for good (GDPR), keeping anonymous counts."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import _confirm
    from supportctl.services import contacts

    store = cx.store()
    contacts.require(store, contact_id)
    _confirm(cx, f"erase everything about contact {contact_id} for good", yes)
    n = contacts.forget(store, contact_id, cx.actor, now_iso())
    render.info(f"forgot contact {contact_id}: {n['messages']} messages in {n['tickets']} tickets erased")


@contact_app.command("opt-out")
def contact_opt_out(ctx: typer.Context, contact_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Never ask this contact for satisfaction ratings (as replying STOP does)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.services import contacts, csat

    store = cx.store()
    cid = contacts.resolve(store, contacts.require(store, contact_id))
    changed = csat.opt_out(store, cid, cx.actor, now_iso(), reason="contact opt-out")
    if not cx.quiet:
        render.info(f"contact {cid} opted out" if changed else f"contact {cid} had already opted out")
