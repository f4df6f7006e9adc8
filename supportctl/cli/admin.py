"""``init``, ``config check``, ``template``."""

from __future__ import annotations

import os

import typer

from supportctl.cli.app import app, obj
from supportctl.errors import ConfigError, SupportError


@app.command()
def init(ctx: typer.Context) -> None:
    """Write a commented config (if none exists) and create the store."""
    cx = obj(ctx)
    from importlib import resources

    from supportctl.cli import render

    path = cx.cfg_path()
    if path.exists():
        render.info(f"config exists: {path} (left alone)")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (resources.files("supportctl") / "config.example.yaml").read_text(encoding="utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        render.info(f"wrote {path}: add your channels, then `supportctl config check --online`")
    store = cx.store(create=True)
    render.info(f"store ready: {store.path}")


config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(ctx: typer.Context, online: bool = typer.Option(False, "--online", help="Log in to each channel.")) -> None:
    """Validate the config, naming the key and line of every problem."""
    cx = obj(ctx)
    from supportctl.cli import render
    from supportctl.config import secret_source_warnings, secret_warnings

    cfg = cx.config(required=True)
    for w in secret_warnings(cfg) + ([] if online else secret_source_warnings(cfg)):
        render.info("warning: " + w)
    render.info(f"{cfg.path}: ok ({len(cfg.channels)} channels)")
    if not online:
        return
    from supportctl.cli.channels import build_channel

    failed = 0
    for entry in cfg.channels:
        try:
            ch = build_channel(entry)
            try:
                render.info(f"{entry['name']}: {ch.check()}")
            finally:
                ch.close()
        except SupportError as exc:
            failed += 1
            render.error(f"{entry['name']}: {exc}")
    if failed:
        raise typer.Exit(1 if failed == len(cfg.channels) else 5)


template_app = typer.Typer(help="Reply templates.", no_args_is_help=True)
app.add_typer(template_app, name="template")


@template_app.command("list")
def template_list(ctx: typer.Context) -> None:
    """Templates defined in the config."""
    cx = obj(ctx)
    cfg = cx.config()
    for name in sorted(cfg.templates):
        cx.stdout.write(name + "\n")


@template_app.command("show")
def template_show(ctx: typer.Context, name: str) -> None:
    """A template's source."""
    cx = obj(ctx)
    cfg = cx.config()
    if name not in cfg.templates:
        raise ConfigError(f"no template {name!r}: see `supportctl template list`")
    t = cfg.templates[name]
    body = getattr(t, "body", t)
    # The whole source: a subject, a WhatsApp Content SID and the variants
    # per language are sent too, so they are shown too.
    head = [f"{key}: {value}" for key, value in (("subject", getattr(t, "subject", "")),
                                                  ("content_sid", getattr(t, "content_sid", "")))
            if value]
    parts = ["\n".join(head)] if head else []
    parts.append(str(body).rstrip("\n"))
    for lang, text in sorted((getattr(t, "languages", None) or {}).items()):
        parts.append(f"[{lang}]\n{str(text).rstrip(chr(10))}")
    cx.stdout.write("\n\n".join(parts) + "\n")


@template_app.command("preview")
def template_preview(ctx: typer.Context, name: str, ticket_id: str = typer.Argument(..., metavar="ID")) -> None:
    """A template rendered for a ticket (sandboxed), without sending."""
    cx = obj(ctx)
    from supportctl.cli.app import read_id
    from supportctl.safe import clean
    from supportctl.services.templates import render_template

    tid = read_id(ticket_id, cx.stdin)
    text, meta = render_template(cx.config(), name, cx.store(), tid, cx.actor)
    head = f"subject: {clean(str(meta['subject']))}\n\n" if meta.get("subject") else ""
    cx.stdout.write(head + clean(text).rstrip("\n") + "\n")


