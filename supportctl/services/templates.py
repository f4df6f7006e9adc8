"""Reply templates, rendered with Jinja2 in a sandbox: a template can read
the ticket, its contact and the agent, and cannot reach Python internals.
Customer text in the context is data, never template source.

Contract (SPEC §10):
- A template may have a variant per language (``languages: {it: ...}``);
  the contact's language picks it, else ``body`` (the fallback, taken to be
  English for the dates it formats).
- A missing variable is an error (``StrictUndefined``) raised before
  anything is queued or sent; so is anything the sandbox refuses.
- Variables: ``ticket``, ``contact``, ``first_name``, ``agent``,
  ``business``, ``last_message``, ``language``, and ``next_business_time``
  (when we are next at work, from now, written in the variant's language:
  "lunedì 9 dicembre alle 9:00").
- A contact whose name is unknown (most SMS senders) leaves no stray
  space before punctuation: "Hi {{ first_name }}," reads "Hi,".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from supportctl.errors import ConfigError, UsageError
from supportctl.store.db import Store

_DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "it": ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
}
_FORMAT = {
    "en": "{day} {d} {month} at {h}:{m:02d}",
    "it": "{day} {d} {month} alle {h}:{m:02d}",
    "fr": "{day} {d} {month} à {h}h{m:02d}",
    "de": "{day}, {d}. {month} um {h}:{m:02d}",
    "es": "{day} {d} de {month} a las {h}:{m:02d}",
}


def format_when(local: datetime, language: str) -> str:
    """A local time as a person writes it in ``language`` (English for
    languages without a table)."""
    lang = language if language in _FORMAT else "en"
    return _FORMAT[lang].format(day=_DAYS[lang][local.weekday()], d=local.day,
                                month=_MONTHS[lang][local.month - 1], h=local.hour, m=local.minute)


class _NoName(str):
    """An unknown first name: renders as a marker that ``_tidy`` removes
    with the space before it, and is false in ``{% if first_name %}`` and
    ``|default(..., true)``."""

    def __bool__(self) -> bool:
        return False


_MARK = "\x00"


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+" + _MARK + r"(?=[ \t]*[,.:;!?])", "", text)
    text = re.sub(_MARK + r"[ \t]+", "", text)
    return text.replace(_MARK, "")


def first_name_of(name: str) -> str:
    """The first word of a person's name; '' when the name is unknown or
    is really an address or handle."""
    word = (name or "").strip().split(" ")[0] if (name or "").strip() else ""
    if not word or "@" in word or word.startswith(("(", "+")) or word[0].isdigit():
        return ""
    return word


def pick_variant(tpl: Any, language: str | None) -> tuple[str, str]:
    """(body, its language) for ``language``, falling back to ``body``."""
    variants = getattr(tpl, "languages", None) or {}
    if language and language in variants:
        return variants[language], language
    body = tpl if isinstance(tpl, str) else getattr(tpl, "body", "")
    return body, "en"


def business_name(config: Any, account: str | None) -> str:
    """The shop's name as customers see it: the display name of the
    account's From address, else the account's signature's first line."""
    from email.utils import parseaddr

    for entry in getattr(config, "channels", None) or []:
        if entry.get("name") != account:
            continue
        name = parseaddr((entry.get("smtp") or {}).get("from") or "")[0]
        if name:
            return str(name)
        sig = str(entry.get("signature") or "").strip().splitlines()
        if sig:
            return sig[0].strip()
    for entry in getattr(config, "channels", None) or []:
        name = parseaddr((entry.get("smtp") or {}).get("from") or "")[0]
        if name:
            return str(name)
    return ""


def render_template(config: Any, name: str, store: Store, ticket_id: int,
                    agent: str, *, language: str | None = None) -> tuple[str, dict[str, Any]]:
    """The rendered text and send metadata (``content_sid`` for WhatsApp).
    ``language`` overrides the contact's."""
    templates = getattr(config, "templates", None) or {}
    if name not in templates:
        raise ConfigError(f"no template {name!r}: see `supportctl template list`")
    tpl = templates[name]
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from supportctl.services.sla import hours_from_config, next_business_time
    from supportctl.store import workflows
    from supportctl.store.read import messages_json, tickets_json
    from supportctl.values import iso, utcnow

    found = tickets_json(store, [ticket_id], iso(utcnow()) or "")
    if not found:
        from supportctl.errors import NotFound

        raise NotFound(f"no ticket {ticket_id}: see `supportctl list --status all`")
    ticket = found[0]
    contact = dict(ticket.get("contact") or {"name": "", "identities": []})
    contact["language"] = workflows.contact_language(store, contact.get("id"))
    body, lang = pick_variant(tpl, language or contact["language"])
    first = first_name_of(contact.get("name") or "")
    first_name: str = first or _NoName(_MARK)
    hours = hours_from_config(config)
    when = next_business_time(utcnow(), hours)
    local = when.astimezone(hours.tz) if hours is not None else when
    msgs = messages_json(store, ticket_id)
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        text = env.from_string(body).render(
            ticket=ticket, contact=contact, first_name=first_name, agent=agent,
            business=business_name(config, ticket.get("account")), language=lang,
            next_business_time=format_when(local, lang),
            last_message=next((m for m in reversed(msgs) if m["direction"] == "in"), None),
        )
    except TemplateError as exc:
        raise UsageError(f"template {name!r} failed: {exc}; nothing was sent") from None
    text = _tidy(text)
    meta: dict[str, Any] = {}
    subject = getattr(tpl, "subject", "") or ""
    if subject:
        # Email replies use it (with the ticket's [#N]); one line, always.
        try:
            meta["subject"] = " ".join(_tidy(env.from_string(subject).render(
                ticket=ticket, contact=contact, first_name=first_name, agent=agent,
                business=business_name(config, ticket.get("account")), language=lang,
            )).split())
        except TemplateError as exc:
            raise UsageError(f"template {name!r} subject failed: {exc}; nothing was sent") from None
    sid = getattr(tpl, "content_sid", None)
    if sid:
        meta["content_sid"] = sid
        meta["content_variables"] = {"1": first or contact.get("name") or ""}
    return text, meta
