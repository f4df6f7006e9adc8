"""Which engine a store location names, and what each engine can do yet.

Loaded on every command's start-up path: it imports nothing but the
standard library, so SQLite users never pay for PostgreSQL (SPEC §8).

A location is a ``postgresql://`` (or ``postgres://``) URL, which opens a
PostgreSQL store (SPEC §13; the ``supportctl[postgres]`` extra), or a path
to a SQLite file. Commands not yet ported to PostgreSQL are refused there
with one line naming the command (exit 2), never run half-way."""

from __future__ import annotations

from supportctl.errors import UsageError

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: object) -> bool:
    """Does ``location`` name a PostgreSQL store?"""
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


#: Commands that work on a PostgreSQL store (README "Team mode on
#: PostgreSQL"): a command's name, or a group's and its subcommand's.
PORTED = frozenset({
    "init", "list", "show", "search", "export", "import", "sync", "new", "note", "tag", "untag",
    "assign", "priority", "solve", "close", "reopen", "snooze", "claim", "next",
    "attachments", "reply", "unclaim",
    # issue 13, the remaining triage and upkeep commands (pgport-ops)
    "merge", "delete", "spam", "unspam", "serve",
    "contact list", "contact show", "contact link", "contact unlink", "contact merge",
    "contact export",
    "contact forget", "contact opt-out",
    "outbox", "outbox list", "outbox retry", "outbox cancel",
    "quarantine", "quarantine list", "quarantine show", "quarantine export", "quarantine retry",
    "db info", "db migrate", "db vacuum", "db backup", "db copy", "db embed",
    "rules test", "notify test", "template list", "template show", "template preview",
    "config check",
    # issue 13, insight (pgport-insight)
    "report", "suggest", "kb from-ticket", "triage", "demo",
})


#: Commands whose store opens on PostgreSQL's wire protocol (``store/wire.py``)
#: or libpq through ctypes (``store/pq.py``), so they start without
#: importing psycopg (SPEC §8): they only read, apart
#: from ``show`` noting who opened the ticket (one statement).
READERS = frozenset({"list", "show", "search"})


#: Command groups: their subcommand names the command (``db info``).
GROUPS = frozenset({"rules", "contact", "db", "config", "template", "outbox", "quarantine", "kb",
                    "notify"})


def require_ported(command: str) -> None:
    """Refuse a command that has not been ported to PostgreSQL yet."""
    words = command.split()
    if not words:
        return
    name = " ".join(words[:2]) if words[0] in GROUPS else words[0]
    if name in PORTED:
        return
    raise UsageError(
        f"`{name}` is not available on PostgreSQL yet: use a SQLite store "
        "(--db PATH) for it; README \"Team mode on PostgreSQL\" lists what works")


def redact(url: str) -> str:
    """The URL without its password, for messages (secrets never in output)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
