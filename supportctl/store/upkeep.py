"""SQL for store upkeep (``db info``, ``db vacuum``)."""

from __future__ import annotations

from supportctl.store.db import Store

#: The tables ``db info`` counts, in the order it shows them.
COUNTED = ("tickets", "messages", "contacts", "attachments", "events", "outbox", "quarantine")


def counts(store: Store) -> dict[str, int]:
    """Rows per table of ``COUNTED``, then replies not yet sent
    (``outbox_pending``) and quarantined items not recovered
    (``quarantine_held``)."""
    out = {table: int(store.scalar(f"SELECT count(*) FROM {table}")) for table in COUNTED}
    out["outbox_pending"] = int(store.scalar(
        "SELECT count(*) FROM outbox WHERE state IN ('queued', 'failed', 'unknown')"))
    out["quarantine_held"] = int(store.scalar(
        "SELECT count(*) FROM quarantine WHERE resolved_at IS NULL"))
    return out


def vacuum(store: Store) -> None:
    """Reclaim space and optimise the full-text indexes. On PostgreSQL:
    ``VACUUM (ANALYZE)``, which makes dead rows' space reusable, folds the
    GIN indexes' pending entries in and refreshes the planner's figures
    (autovacuum does the same in time; ``VACUUM FULL`` would lock every
    table against the other agents, so it is left to the server's admin)."""
    if store.sql.name == "postgresql":
        store.execute("VACUUM (ANALYZE)")
        return
    store.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
    store.execute("INSERT INTO messages_cjk(messages_cjk) VALUES ('optimize')")
    store.execute("VACUUM")
