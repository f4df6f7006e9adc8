"""Stored embeddings for semantic suggestions (the optional
``supportctl[semantic]`` extra; tables from migration m023).

One vector per solved ticket (its customer question and our final answer)
and per knowledge-base article, 8-bit: ``vector`` holds signed bytes, and
``scale`` times them gives the (unit-length) embedding back to within a
fraction of a percent. Each row names the model that made it: a vector of
another model is stale, never compared. A row with an empty vector marks a
solved ticket that has nothing to embed (nobody answered it), so it is not
read again until the ticket changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from supportctl.store.db import Store

_ELIGIBLE = "t.status IN ('solved', 'closed') AND t.merged_into IS NULL"


def tickets_to_embed(store: Store, model: str) -> list[tuple[int, str, str | None]]:
    """Solved tickets whose vector is missing, of another model, or older
    than the ticket's last change: (id, updated_at, stored digest), newest
    first (a run cut short has embedded the recent answers)."""
    return [(int(r[0]), str(r[1]), r[2]) for r in store.conn.execute(
        "SELECT t.id, t.updated_at, CASE WHEN v.model = ? THEN v.digest END"
        " FROM tickets t LEFT JOIN ticket_vectors v ON v.ticket_id = t.id"
        f" WHERE {_ELIGIBLE} AND (v.ticket_id IS NULL OR v.model != ? OR v.seen_at != t.updated_at)"
        " ORDER BY t.id DESC", [model, model])]


def put_ticket_vectors(store: Store, rows: Iterable[tuple[int, str, str, str, str | None,
                                                         float, bytes]]) -> None:
    """(ticket id, model, digest, seen_at, language, scale, vector) rows,
    replacing what was there."""
    with store.tx() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO ticket_vectors"
            " (ticket_id, model, digest, seen_at, language, scale, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows))


def mark_seen(store: Store, rows: Iterable[tuple[str, int]]) -> None:
    """(seen_at, ticket id): checked, and the text embedded is unchanged."""
    with store.tx() as conn:
        conn.executemany("UPDATE ticket_vectors SET seen_at = ? WHERE ticket_id = ?", list(rows))


#: Vectors per row of ticket_vector_blocks (8 MB of 512-byte vectors).
BLOCK = 16384


def pack(store: Store, model: str) -> int:
    """Rebuild ``model``'s packed copy of the ticket vectors (after any
    write): ids as int64, scales as float32 and the vectors back to back,
    ``BLOCK`` to a row. Returns how many vectors it holds."""
    import array

    rows = store.conn.execute(
        "SELECT ticket_id, scale, vector FROM ticket_vectors WHERE model = ?"
        " AND length(vector) > 0 ORDER BY ticket_id", [model]).fetchall()
    with store.tx() as conn:
        conn.execute("DELETE FROM ticket_vector_blocks WHERE model = ?", [model])
        for block, start in enumerate(range(0, len(rows), BLOCK)):
            part = rows[start:start + BLOCK]
            conn.execute(
                "INSERT INTO ticket_vector_blocks (model, block, ids, scales, vectors)"
                " VALUES (?, ?, ?, ?, ?)",
                [model, block, array.array("q", (int(r[0]) for r in part)).tobytes(),
                 array.array("f", (float(r[1]) for r in part)).tobytes(),
                 b"".join(r[2] for r in part)])
    return len(rows)


def packed(store: Store, model: str) -> list[tuple[bytes, bytes, bytes]]:
    """``model``'s packed vectors: (ids, scales, vectors) per block."""
    return [(bytes(r[0]), bytes(r[1]), bytes(r[2])) for r in store.conn.execute(
        "SELECT ids, scales, vectors FROM ticket_vector_blocks WHERE model = ? ORDER BY block",
        [model])]


def has_packed(store: Store, model: str) -> bool:
    return store.one("SELECT 1 FROM ticket_vector_blocks WHERE model = ? LIMIT 1",
                     [model]) is not None


def still_solved(store: Store, ids: list[int], *, exclude_ticket: int | None
                 ) -> dict[int, str | None]:
    """Of the given tickets, those still solved or closed and not merged
    (not ``exclude_ticket``): id -> language of the question."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    return {int(r[0]): r[1] for r in store.conn.execute(
        "SELECT v.ticket_id, v.language FROM ticket_vectors v"
        " CROSS JOIN tickets t"  # the condition in WHERE: PostgreSQL takes no ON here
        f" WHERE t.id = v.ticket_id AND v.ticket_id IN ({marks}) AND {_ELIGIBLE} AND t.id != ?",
        [*ids, -1 if exclude_ticket is None else exclude_ticket])}


def article_vectors(store: Store, model: str) -> dict[str, tuple[str, float, bytes]]:
    """slug -> (digest, scale, vector) of ``model``."""
    return {str(r[0]): (str(r[1]), float(r[2]), bytes(r[3])) for r in store.conn.execute(
        "SELECT slug, digest, scale, vector FROM article_vectors WHERE model = ?", [model])}


def put_article_vectors(store: Store, rows: list[tuple[str, str, str, float, bytes]],
                        keep: Iterable[str]) -> None:
    """(slug, model, digest, scale, vector) rows; articles not in ``keep``
    (deleted from the folder) lose theirs."""
    keep = list(keep)
    with store.tx() as conn:
        conn.executemany("INSERT OR REPLACE INTO article_vectors (slug, model, digest, scale, vector)"
                         " VALUES (?, ?, ?, ?, ?)", rows)
        marks = ", ".join("?" for _ in keep)
        conn.execute(f"DELETE FROM article_vectors WHERE slug NOT IN ({marks})" if keep
                     else "DELETE FROM article_vectors", keep)


def clear(store: Store) -> None:
    """Forget every vector (``db embed --rebuild``)."""
    with store.tx() as conn:
        conn.execute("DELETE FROM ticket_vectors")
        conn.execute("DELETE FROM ticket_vector_blocks")
        conn.execute("DELETE FROM article_vectors")


def counts(store: Store) -> dict[str, Any]:
    return {"tickets": store.scalar("SELECT count(*) FROM ticket_vectors WHERE length(vector) > 0"),
            "articles": store.scalar("SELECT count(*) FROM article_vectors")}
