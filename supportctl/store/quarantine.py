"""SQL for quarantine (SPEC §9): what ``sync --retry-quarantine`` reads
again and how each retry is recorded, and what ``quarantine list/show``
print. Items go in through ``ingest.quarantine``."""

from __future__ import annotations

from typing import Any

from supportctl.store.db import Store


def held(store: Store) -> list[dict[str, Any]]:
    """Items not yet recovered, oldest first, with their raw payload."""
    return [dict(r) for r in store.execute(
        "SELECT id, account, medium, source_ref, raw, received_at FROM quarantine "
        "WHERE resolved_at IS NULL ORDER BY id"
    ).fetchall()]


def mark_retried(store: Store, item_id: int, now: str) -> None:
    store.execute("UPDATE quarantine SET retried_at = ? WHERE id = ?", [now, item_id])


def set_reason(store: Store, item_id: int, reason: str) -> None:
    store.execute("UPDATE quarantine SET reason = ? WHERE id = ?", [reason, item_id])


def resolve(store: Store, item_id: int, now: str) -> None:
    """The item was stored after all."""
    store.execute("UPDATE quarantine SET resolved_at = ? WHERE id = ?", [now, item_id])


def entries(store: Store) -> list[dict[str, Any]]:
    """Every item, held or recovered, by id, with its size instead of its payload."""
    return [dict(r) for r in store.execute(
        "SELECT id, account, source_ref, reason, length(raw) AS size, created_at, retried_at, "
        "resolved_at, medium FROM quarantine ORDER BY id")]


def raw(store: Store, item_id: int) -> bytes | None:
    row = store.one("SELECT raw FROM quarantine WHERE id = ?", [item_id])
    return None if row is None else bytes(row["raw"])


def add(store: Store, row: dict[str, Any]) -> None:
    """Keep an item (``row``: its columns); the same payload again (by
    ``sha256``) only takes the newer reason."""
    store.execute(
        "INSERT INTO quarantine (account, source_ref, reason, raw, sha256, received_at, created_at, "
        "medium) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sha256) DO UPDATE SET reason = excluded.reason",
        [row["account"], row["source_ref"], row["reason"], row["raw"], row["sha256"],
         row["received_at"], row["created_at"], row["medium"]],
    )
