"""Data commands: export, import, db upkeep, demo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import typer

from supportctl.cli.app import app, now_iso, obj
from supportctl.errors import UsageError


@app.command()
def export(ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl|json|csv"),
    messages: bool = typer.Option(False, "--messages", help="Include messages, notes and events."),
    raw: bool = typer.Option(False, "--raw", help="Include original payloads (base64)."),
    files: bool = typer.Option(False, "--attachments",
                               help="Include attachment files (base64); needs --messages."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write to this new file (mode 600) instead of stdout."),
    status: str = typer.Option("all", "--status", "-s"),
    tag: list[str] = typer.Option([], "--tag", "-t"),
    channel: str | None = typer.Option(None, "--channel"),
    since: str | None = typer.Option(None, "--since"),
) -> None:
    """Stream tickets of every status (snoozed and merged too), constant memory."""
    cx = obj(ctx)
    from supportctl.cli.tickets import _check_statuses, _time_arg
    from supportctl.services.transfer import export as run
    from supportctl.store.read import TicketFilter

    if fmt not in ("jsonl", "json", "csv"):
        raise UsageError(f"unknown export --format {fmt!r}: use jsonl, json or csv")
    statuses = None if status == "all" else status.split(",")
    _check_statuses(statuses)
    if channel is not None:
        from supportctl.channels import media_names
        from supportctl.cli.tickets import one_of

        one_of("--channel", channel, media_names())
    f = TicketFilter(statuses=statuses, tags=tag, channel=channel, since=_time_arg(since),
                     include_snoozed=True, include_merged=True, sort="id")
    if files and not messages:
        raise UsageError("--attachments needs --messages: attachments belong to messages")
    if raw and not messages:
        raise UsageError("--raw needs --messages: original payloads belong to messages")
    if messages and fmt == "csv":
        raise UsageError("--format csv has one row per ticket, without messages: "
                         "use --format jsonl (or json) with --messages")
    records = run(cx.store(), f, now_iso(), messages=messages, raw=raw, files=files)
    if output is None:
        _export_to(cx.stdout, fmt, records)
        return
    import os

    from supportctl.store.files import create_private, private_dir

    try:
        private_dir(output.parent)
        fd = create_private(output)
    except FileExistsError:
        raise UsageError(f"{output} exists: choose a new file") from None
    except OSError as exc:
        raise UsageError(f"cannot create {output}: {exc.strerror}") from None
    from supportctl.cli import render
    from supportctl.services.progress import counted

    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh, render.progress(quiet=cx.quiet) as shown:
            shown.start("export", f"export {output.name}", None)
            _export_to(fh, fmt, counted(records, shown, "export"))
            shown.finish("export")
    except BaseException:
        output.unlink(missing_ok=True)  # half an export must not pass for one
        raise


def _export_to(out: IO[str], fmt: str, records: Iterator[dict[str, Any]]) -> None:
    from supportctl.cli import render

    if fmt == "jsonl":
        for r in records:
            out.write(render.dumps(r) + "\n")
    elif fmt == "json":
        out.write("[")
        for n, r in enumerate(records):
            out.write(("," if n else "") + "\n" + render.dumps(r))
        out.write("\n]\n")
    else:
        import csv

        w = csv.writer(out, lineterminator="\n")
        w.writerow(render.CSV_TICKET_COLUMNS)
        for r in records:
            r = dict(r)
            r["contact"] = (r.get("contact") or {}).get("name") or ""
            w.writerow([render._flat(r.get(c)) for c in render.CSV_TICKET_COLUMNS])


@app.command("import")
def import_cmd(ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE",
                               help="A file, a Maildir, or '-' for a JSONL export on stdin."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="jsonl|mbox|maildir|eml"),
) -> None:
    """Bring in an export, an mbox, a Maildir or .eml files."""
    cx = obj(ctx)
    from supportctl.cli import render

    path = Path(file)
    if fmt is None:
        fmt = _guess_format(path)
    store = cx.store(create=True)
    if fmt == "jsonl":
        from supportctl.services.transfer import import_jsonl, import_jsonl_file

        if file == "-":
            counts = import_jsonl(store, cx.stdin)
        else:
            try:
                with render.progress(quiet=cx.quiet) as shown:
                    counts = import_jsonl_file(store, path, shown)
            except FileNotFoundError:
                raise UsageError(f"no such file {path}") from None
        if not cx.quiet:
            render.info(f"imported {counts['tickets']} tickets, {counts['messages']} messages, "
                        f"{counts['contacts']} contacts, {counts['files']} attachment files; "
                        f"{counts['skipped']} already present")
        return
    if fmt not in ("mbox", "maildir", "eml"):
        raise UsageError(f"unknown import --format {fmt!r}: use jsonl, mbox, maildir or eml")
    if file == "-":
        raise UsageError(f"'-' reads an export (--format jsonl) from stdin; {fmt} is read from "
                         "a path: save the mail to a file and import that")
    if not path.exists():
        raise UsageError(f"no such file or directory {path}")
    from supportctl.cli.channels import own_addresses
    from supportctl.services.ingest import IngestSettings
    from supportctl.services.mailimport import import_mail

    cfg = cx.config()
    settings = IngestSettings(account="import", actor=cx.actor, own_addresses=own_addresses(cx),
                              reopen_window=cfg.reopen_window, config=cfg, history=True)
    with render.progress(quiet=cx.quiet) as shown:
        s = import_mail(store, path, fmt, settings, progress=shown)
    if not cx.quiet or s.quarantined:
        render.info(f"imported {s.stored} messages into {s.tickets_created} new tickets; "
                    f"{s.duplicates} duplicates skipped; {s.quarantined} quarantined")


def _guess_format(path: Path) -> str:
    if path.is_dir():
        return "maildir" if (path / "cur").is_dir() else "eml"
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")) or str(path) == "-":
        return "jsonl"
    if name.endswith(".eml"):
        return "eml"
    if name.endswith((".mbox", ".mbx")):
        return "mbox"
    raise UsageError(f"cannot tell the format of {path}: pass --format jsonl|mbox|maildir|eml")


db_app = typer.Typer(help="Store upkeep.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("info")
def db_info(ctx: typer.Context,
            fmt: str | None = typer.Option(None, "--format", "-f", help="table or json")) -> None:
    """Where the store is, its schema and its size."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.tickets import table_or_json

    fmt = table_or_json(fmt)
    store = cx.store()
    info = {
        "path": str(store.path),
        "files_dir": store.files_location(),
        "schema_version": store.version,
        "size_bytes": store.size_bytes(),
        "engine": store.sql.name,
    }
    from supportctl.store.upkeep import counts

    info.update(counts(store))
    if fmt == "json":
        cx.stdout.write(render.dumps(info) + "\n")
    else:
        if info["files_dir"] is None:
            info["files_dir"] = "(in the database)"
        render.plain(info.items())


@db_app.command("migrate")
def db_migrate(ctx: typer.Context) -> None:
    """Apply pending schema migrations (opening the store does it too)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.cli.app import _command_words
    from supportctl.store.db import open_store

    store = open_store(cx.db_location(), create=False, migrate=False,
                       command=_command_words(cx.args))
    cx._store = store
    done = store.migrate()
    render.info(f"applied {', '.join(done)}" if done else "schema is up to date")


@db_app.command("embed")
def db_embed(ctx: typer.Context, rebuild: bool = typer.Option(False, "--rebuild",
                                          help="Forget every vector and embed all again.")) -> None:
    """Embed solved tickets and articles for semantic suggestions (what is new or changed)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.errors import UsageError
    from supportctl.services import kb, semantic

    if not semantic.available():
        raise UsageError(semantic.INSTALL_HINT.split(";")[0])
    cfg = cx.config()
    store = cx.store(create=False)
    index = semantic.SemanticIndex(store)
    if rebuild:
        index.rebuild()
    with render.progress(quiet=cx.quiet) as shown:
        done = index.update(kb.load(cfg.kb.folder(cfg), strict=False), progress=shown)
    from supportctl.store import embeddings

    have = embeddings.counts(store)
    render.info(f"embedded {done.tickets} tickets and {done.articles} articles"
                f" ({done.unchanged} unchanged); the index holds {have['tickets']} tickets"
                f" and {have['articles']} articles")


@db_app.command("backup")
def db_backup(ctx: typer.Context, target: Path = typer.Argument(..., metavar="PATH")) -> None:
    """A consistent copy of a SQLite store and its files, safe while others use it (PostgreSQL: pg_dump)."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.db import files_dir_for

    store = cx.store()
    done = store.backup(target)
    render.info(f"backed up {store.path} to {target} and {done['files']} attachment files "
                f"({done['bytes']} bytes) to {files_dir_for(target)}; "
                f"restore with `supportctl --db {target} …`")
    if done["missing"]:
        from supportctl.errors import PartialFailure

        raise PartialFailure(f"{done['missing']} attachment files were already missing from "
                             f"{store.files_dir}; the backup lacks them too")


@db_app.command("copy")
def db_copy(ctx: typer.Context,
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="The store to copy: a SQLite file or a postgresql:// URL."),
    target: str = typer.Argument(..., metavar="TARGET",
                                 help="A new SQLite file, or an empty database (postgresql:// URL)."),
) -> None:
    """Copy a whole store into a new or empty one, SQLite or PostgreSQL: all or nothing.

    Every ticket, message, contact, event, tag, outbox entry, quarantined item,
    attachment and sync position, ids included (export of both is byte for byte
    the same). The target must hold no data; an interrupted copy leaves it as
    it was. Progress on a terminal."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.store.copy import copy_store

    with render.progress(quiet=cx.quiet) as shown:
        done = copy_store(source, target, shown)
    if not cx.quiet:
        rows = done.rows
        render.info(f"copied {rows.get('tickets', 0)} tickets, {rows.get('messages', 0)} messages, "
                    f"{rows.get('contacts', 0)} contacts, {rows.get('events', 0)} events and "
                    f"{done.files} attachment files from {done.source} to {done.target}")
    if done.missing_files:
        from supportctl.errors import PartialFailure

        raise PartialFailure(f"{done.missing_files} attachment files were already missing from "
                             f"{done.source}; the copy lacks them too")


@db_app.command("vacuum")
def db_vacuum(ctx: typer.Context) -> None:
    """Reclaim space and optimise the full-text index (PostgreSQL: VACUUM ANALYZE)."""
    cx = obj(ctx)
    from supportctl.store.upkeep import vacuum

    vacuum(cx.store())


@app.command()
def demo(ctx: typer.Context,
    keep: bool = typer.Option(False, "--keep", help="Print where the demo store is and keep it."),
) -> None:
    """Fill a throwaway store with sample messages of every channel and show the inbox."""
    cx = obj(ctx)
    import shutil
    import tempfile

    from supportctl.cli import render
    from supportctl.services.demo import load_demo
    from supportctl.store.read import TicketFilter, ticket_ids, tickets_json

    tmp = None
    if not cx.db:
        tmp = tempfile.mkdtemp(prefix="supportctl-demo-")
        cx.db = str(Path(tmp) / "demo.db")
    store = cx.store(create=True)
    try:
        counts = load_demo(store, cx.actor)
        now = now_iso()
        records = tickets_json(store, ticket_ids(store, TicketFilter(), now), now)
        render.tickets(records, None)
        render.info(
            f"demo: {counts['messages']} sample messages from {', '.join(counts['channels'])} "
            f"became {len(records)} open tickets in {store.path}"
        )
        if tmp and not keep:
            render.info("(the demo store is removed on exit; pass --keep, or --db PATH, to explore it "
                        "with `supportctl --db PATH show ID`)")
    finally:
        if tmp and not keep:
            store.close()
            cx._store = None
            shutil.rmtree(tmp, ignore_errors=True)
