"""Stored embeddings for semantic suggestions (the optional
``supportctl[semantic]`` extra; tables from migration m023).

One vector per solved ticket (its customer question and our final answer)
and per knowledge-base article, 8-bit: ``vector`` holds signed bytes, and
``scale`` times them gives the (unit-length) embedding back to within a
fraction of a percent. Each row names the model that made it: a vector of
another model is stale, never compared. A row with an empty vector marks a
solved ticket that has nothing to embed (nobody answered it), so it is not
read again until the ticket changes.

The query reads the vectors packed (``ticket_vector_blocks``, rebuilt by
``pack`` after every write, with a new generation token in
``service_state``). A SQLite store also keeps them as one file in its
files directory, ``vectors/<hash of the model's name>.bin`` (0600 in a
0700 directory; not part of a backup), read memory-mapped: 49 MB for
100 000 tickets without a blob read or a copy. The database stays the
truth: the file is used only when its header carries the current
generation and its size is what the database's blocks add up to; else
the blocks are read from the database and the file is rewritten
(temporary file, fsync, rename).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
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
            "INSERT INTO ticket_vectors"
            " (ticket_id, model, digest, seen_at, language, scale, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET"
            " model = excluded.model, digest = excluded.digest, seen_at = excluded.seen_at,"
            " language = excluded.language, scale = excluded.scale, vector = excluded.vector",
            list(rows))


def mark_seen(store: Store, rows: Iterable[tuple[str, int]]) -> None:
    """(seen_at, ticket id): checked, and the text embedded is unchanged."""
    with store.tx() as conn:
        conn.executemany("UPDATE ticket_vectors SET seen_at = ? WHERE ticket_id = ?", list(rows))


#: Vectors per row of ticket_vector_blocks (8 MB of 512-byte vectors).
BLOCK = 16384


def _generation_key(model: str) -> str:
    return f"vectors {model}"


def pack(store: Store, model: str) -> int:
    """Rebuild ``model``'s packed copy of the ticket vectors (after any
    write): ids as int64, scales as float32 and the vectors back to back,
    ``BLOCK`` to a row, and a new generation (a random token in
    ``service_state``, written in the same transaction) that tells a file
    copy of them (``packed``) it is out of date. Then that copy is
    written. Returns how many vectors it holds."""
    import array
    import uuid

    rows = store.conn.execute(
        "SELECT ticket_id, scale, vector FROM ticket_vectors WHERE model = ?"
        " AND length(vector) > 0 ORDER BY ticket_id", [model]).fetchall()
    generation = uuid.uuid4().hex
    ids = array.array("q", (int(r[0]) for r in rows)).tobytes()
    scales = array.array("f", (float(r[1]) for r in rows)).tobytes()
    vectors = b"".join(r[2] for r in rows)
    del rows
    with store.tx() as conn:
        conn.execute("DELETE FROM ticket_vector_blocks WHERE model = ?", [model])
        dim = len(vectors) // max(len(ids) // 8, 1)
        for block, start in enumerate(range(0, len(ids) // 8, BLOCK)):
            end = min(start + BLOCK, len(ids) // 8)
            conn.execute(
                "INSERT INTO ticket_vector_blocks (model, block, ids, scales, vectors)"
                " VALUES (?, ?, ?, ?, ?)",
                [model, block, ids[start * 8:end * 8], scales[start * 4:end * 4],
                 vectors[start * dim:end * dim]])
        _set_generation(conn, model, generation)
    if ids:
        _write_copy(store, model, generation, ids, scales, vectors)
    return len(ids) // 8


def _set_generation(conn: Any, model: str, generation: str) -> None:
    from supportctl.values import iso, utcnow

    conn.execute("INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                 " updated_at = excluded.updated_at",
                 [_generation_key(model), generation,
                  iso(utcnow())])


@dataclass
class Packed:
    """``model``'s packed vectors: ``count`` ids (int64), scales (float32)
    and vectors (int8, ``dim`` each), as buffers."""

    count: int
    dim: int
    ids: Any
    scales: Any
    vectors: Any
    mapped: bool  # read from the file copy (False: from the database)


def packed(store: Store, model: str) -> Packed | None:
    """``model``'s packed vectors, None when there are none. SQLite is the
    truth; a SQLite store also keeps a copy of them as one file in its
    files directory (``vectors/``), memory-mapped here when its generation
    and size are the database's, so a query reads no blob. A missing or
    stale copy is rewritten from the database (when this user may write
    the store); PostgreSQL reads the database."""
    # The generation first, the blocks after: a pack committed in between
    # makes the copy written below look stale (rebuilt next time), never
    # makes stale vectors look current.
    row: Any = store.one(
        "SELECT (SELECT value FROM service_state WHERE key = ?), count(*),"
        " coalesce(sum(length(ids)), 0), coalesce(sum(length(vectors)), 0)"
        " FROM ticket_vector_blocks WHERE model = ?", [_generation_key(model), model])
    generation, blocks, id_bytes, vector_bytes = row[0], int(row[1]), int(row[2]), int(row[3])
    if not blocks or not id_bytes:
        return None
    count = id_bytes // 8
    local = store.sql.name == "sqlite"
    if local and not generation and not store.readonly:
        generation = _adopt(store, model)  # packed before generations were kept
    if local and generation:
        found = _map_copy(store, model, str(generation), count, vector_bytes // count)
        if found is not None:
            return found
    rows = store.conn.execute(
        "SELECT ids, scales, vectors FROM ticket_vector_blocks WHERE model = ? ORDER BY block",
        [model]).fetchall()
    ids = b"".join(bytes(r[0]) for r in rows)
    scales = b"".join(bytes(r[1]) for r in rows)
    vectors = b"".join(bytes(r[2]) for r in rows)
    count = len(ids) // 8
    if local and generation and not store.readonly:
        _write_copy(store, model, str(generation), ids, scales, vectors)
    return Packed(count, len(vectors) // max(count, 1), ids, scales, vectors, mapped=False)


def _adopt(store: Store, model: str) -> str:
    """Give blocks packed without a generation one (committed before the
    blocks are read for the copy)."""
    import uuid

    with store.tx() as conn:
        have = conn.execute("SELECT value FROM service_state WHERE key = ?",
                            [_generation_key(model)]).fetchone()
        if have is not None and have[0]:
            return str(have[0])
        generation = uuid.uuid4().hex
        _set_generation(conn, model, generation)
    return generation


# The file copy: a 128-byte header (magic, count, dim, generation), then
# the ids, the scales (padded to 8 bytes) and the vectors. Its name is a
# hash of the model's name (no part of a path comes from data).
_MAGIC = b"SCTLVEC1"
_HEADER = 128


def copy_path(store: Store, model: str) -> Path:
    import zlib  # (hashlib would load OpenSSL: 3 ms on suggest's path)

    name = model.encode()
    return store.files_dir / "vectors" / f"{zlib.crc32(name):08x}{zlib.adler32(name):08x}.bin"


def _layout(count: int, dim: int) -> tuple[int, int, int]:
    """Offsets of the scales and the vectors, and the file's size."""
    scales_at = _HEADER + 8 * count
    vectors_at = scales_at + 4 * count + (-4 * count) % 8
    return scales_at, vectors_at, vectors_at + count * dim


def _map_copy(store: Store, model: str, generation: str, count: int, dim: int) -> Packed | None:
    import mmap
    import struct

    try:
        with open(copy_path(store, model), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size != _layout(count, dim)[2]:
                return None
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    magic, n, d, token = struct.unpack_from("<8sqq32s", mm)
    if (magic, n, d, token) != (_MAGIC, count, dim, generation.encode()[:32].ljust(32, b"\0")):
        mm.close()
        return None
    scales_at, vectors_at, end = _layout(count, dim)
    view = memoryview(mm)
    return Packed(count, dim, view[_HEADER:scales_at], view[scales_at:scales_at + 4 * count],
                  view[vectors_at:end], mapped=True)


def _write_copy(store: Store, model: str, generation: str, ids: bytes, scales: bytes,
                vectors: bytes) -> None:
    """Write the file copy (temporary file, fsync, rename): best effort, a
    store whose files directory cannot be written reads the database."""
    import struct

    from supportctl.store.db import _alive
    from supportctl.store.files import create_private, private_dir

    if store.sql.name != "sqlite" or store.readonly:
        return
    count = len(ids) // 8
    dim = len(vectors) // max(count, 1)
    path = copy_path(store, model)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        private_dir(path.parent)
        for old in path.parent.glob(".*.tmp"):  # left by a process that died
            pid = old.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                old.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
        with os.fdopen(create_private(tmp), "wb") as fh:
            fh.write(struct.pack("<8sqq32s", _MAGIC, count, dim,
                                 generation.encode()[:32].ljust(32, b"\0")).ljust(_HEADER, b"\0"))
            fh.write(ids)
            fh.write(scales)
            fh.write(b"\0" * ((-len(scales)) % 8))
            fh.write(vectors)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


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
        conn.executemany("INSERT INTO article_vectors (slug, model, digest, scale, vector)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET"
                         " model = excluded.model, digest = excluded.digest,"
                         " scale = excluded.scale, vector = excluded.vector", rows)
        marks = ", ".join("?" for _ in keep)
        conn.execute(f"DELETE FROM article_vectors WHERE slug NOT IN ({marks})" if keep
                     else "DELETE FROM article_vectors", keep)


def clear(store: Store) -> None:
    """Forget every vector (``db embed --rebuild``)."""
    with store.tx() as conn:
        conn.execute("DELETE FROM ticket_vectors")
        conn.execute("DELETE FROM ticket_vector_blocks")
        conn.execute("DELETE FROM article_vectors")
        conn.execute("DELETE FROM service_state WHERE key LIKE 'vectors %'")


def counts(store: Store) -> dict[str, Any]:
    return {"tickets": store.scalar("SELECT count(*) FROM ticket_vectors WHERE length(vector) > 0"),
            "articles": store.scalar("SELECT count(*) FROM article_vectors")}
