"""Learning that others changed the store (SPEC §13: ``triage`` learns of
new tickets and replies). On SQLite a screen polls ``PRAGMA data_version``,
which moves only when another connection commits: a poll costs one
statement and reads no table."""

from __future__ import annotations

from supportctl.store.db import Store


def others_changed_marker(store: Store) -> int:
    """A number that changes whenever another connection (another agent,
    cron's ``sync``) commits to the store; this connection's own writes
    leave it alone."""
    return int(store.conn.execute("PRAGMA data_version").fetchone()[0])
