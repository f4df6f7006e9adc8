"""``supportctl serve``: the contact form and the webhooks (SPEC §12)."""

from __future__ import annotations

from typing import Any

import typer

from supportctl.cli.app import app, obj


@app.command()
def serve(ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep loopback "
                             "behind a reverse proxy)."),
    port: int = typer.Option(8025, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Serve the contact form (/form) and the Twilio, Telegram and Meta webhooks (/hooks/…)."""
    cx = obj(ctx)
    from supportctl.cli.channels import _settings, build_channel
    from supportctl.config import resolve_secrets, resolve_serve_secrets
    from supportctl.errors import UsageError
    from supportctl.serve.app import ServeApp
    from supportctl.serve.server import make_server

    cfg = cx.config(required=True)
    serve_cfg = resolve_serve_secrets(cfg.serve)
    store = cx.store(create=True)
    # Durable before the 2xx: each commit reaches the disk (WAL fsync).
    store.durable_commits()

    def settings_for(account: str, entry: dict[str, Any] | None) -> Any:
        settings = _settings(cx, account)
        settings.actor = "serve"
        if entry is not None:
            # As sync would: a new ticket's acknowledgement is queued, and
            # goes out with that entry's next sync.
            settings.entry, settings.acknowledge = entry, True
        return settings

    def log(line: str) -> None:
        if not cx.quiet:
            from supportctl.safe import one_line

            cx.stderr.write(f"serve: {one_line(line, 200)}\n")
            cx.stderr.flush()

    application = ServeApp(store, cfg, serve_cfg, settings_for=settings_for,
                           build_channel=build_channel, resolve=resolve_secrets, log=log)
    try:
        server = make_server(application, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}: "
                         "pick another --port or stop what uses it") from None
    bound = server.server_address[1]
    if application.ephemeral:
        log("serve.secret is not set: form pages stop working when this process restarts "
            "(set serve.secret_env or serve.secret_cmd)")
    log(f"listening on http://{host}:{bound} (form at /form, webhooks at /hooks/…)")
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        # Ctrl-C, or systemd's stop (SIGTERM): the normal end of a server.
        # Every answered request was committed before its answer.
        log("stopped")
    finally:
        server.server_close()
