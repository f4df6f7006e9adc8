"""Reply templates, rendered with Jinja2 in a sandbox: a template can read
the ticket, its contact and the agent, and cannot reach Python internals.
Customer text in the context is data, never template source."""

from __future__ import annotations

from typing import Any

from supportctl.errors import ConfigError, UsageError
from supportctl.store.db import Store


def render_template(config: Any, name: str, store: Store, ticket_id: int,
                    agent: str) -> tuple[str, dict[str, Any]]:
    """The rendered text and send metadata (``content_sid`` for WhatsApp)."""
    templates = getattr(config, "templates", None) or {}
    if name not in templates:
        raise ConfigError(f"no template {name!r}: see `supportctl template list`")
    tpl = templates[name]
    body = tpl if isinstance(tpl, str) else getattr(tpl, "body", "")
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from supportctl.models import iso, utcnow
    from supportctl.store.read import messages_json, tickets_json

    found = tickets_json(store, [ticket_id], iso(utcnow()) or "")
    if not found:
        from supportctl.errors import NotFound

        raise NotFound(f"no ticket {ticket_id}: see `supportctl list --status all`")
    ticket = found[0]
    contact = ticket.get("contact") or {"name": "", "identities": []}
    first_name = (contact.get("name") or "").split(" ")[0]
    msgs = messages_json(store, ticket_id)
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        text = env.from_string(body).render(
            ticket=ticket, contact=contact, first_name=first_name, agent=agent,
            last_message=next((m for m in reversed(msgs) if m["direction"] == "in"), None),
        )
    except TemplateError as exc:
        raise UsageError(f"template {name!r} failed: {exc}") from None
    meta: dict[str, Any] = {}
    sid = getattr(tpl, "content_sid", None)
    if sid:
        meta["content_sid"] = sid
        meta["content_variables"] = {"1": first_name or contact.get("name") or ""}
    return text, meta
