"""A whole store copied into a new or empty one, SQLite or PostgreSQL, in
either direction (``db copy SOURCE TARGET``, SPEC §13).

Contract:
- Lossless: every table that holds data (``COPIED``) is copied row by row,
  every column, ids included, and every attachment's bytes (a SQLite
  store's files directory, a PostgreSQL store's ``files`` table). What a
  store derives from those rows is left to the target: its full-text
  indexes (SQLite's triggers, PostgreSQL's generated columns), report's
  volume rollup (``DERIVED``: the first ``report`` counts every message
  in again) and its schema records. A source table that is in neither
  list and holds rows stops the copy before anything is written: nothing
  is ever dropped quietly. ``export`` of source and target is byte for
  byte the same.
- All or nothing: the target must hold no data (else ``UsageError``, one
  line, exit 2), and everything is written in one transaction on it; on
  PostgreSQL the schema is made in that transaction too. An interrupted
  copy (Ctrl-C, SIGTERM, a failure) therefore leaves the target as it was,
  and a SQLite file the copy created is removed again; after a kill -9 a
  new SQLite target remains as an empty store, which a later copy accepts.
- Consistent: the source is read in one snapshot (one read transaction),
  so a store in use copies as it was at one moment, and nobody waits for
  the copy. On PostgreSQL the target's tables are locked against writers
  until it commits.
- Flat memory: rows stream from a cursor a batch at a time into
  PostgreSQL's ``COPY … FROM STDIN`` or SQLite's multi-row ``INSERT``;
  one attachment is in memory at a time.
- Ids keep their values (PostgreSQL's identity sequences are moved past
  them); the tag triggers' SLA marks (``sla_stale``) end as the source's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from supportctl.errors import UsageError
from supportctl.store.db import Store, StoreError, files_dir_for, open_store
from supportctl.store.engine import is_url, redact
from supportctl.store.files import UnsafePath

#: The tables that hold data, parents before children (foreign keys).
COPIED: tuple[str, ...] = (
    "contacts", "identities", "tickets", "messages", "originals", "attachments", "tags",
    "tag_names", "events", "outbox", "quarantine", "csat", "ticket_views", "cursors",
    "channel_entries", "spam_senders", "service_state", "notifications", "rule_state",
    "ticket_vectors", "ticket_vector_blocks", "article_vectors",
)

#: Tables (by name or name prefix) a store makes from the others or keeps
#: about itself: never copied. ``files`` is PostgreSQL's attachment
#: bytes, copied as attachments (``_copy_files``), not as rows;
#: ``fts_deferred`` is empty outside an ingest batch's transaction;
#: ``message_words`` is PostgreSQL's copy of each message's words (its
#: triggers fill it as the messages arrive).
DERIVED: tuple[str, ...] = (
    "sqlite_", "_sqlite_migrations", "messages_fts", "addresses_fts", "messages_cjk",
    "report_volume", "subject_phrases", "schema_version", "files", "fts_deferred",
    "message_words",
)

#: Rows fetched from the source at a time.
BATCH = 2000


class Progress(Protocol):
    """``services.progress.Progress`` (the store does not import services)."""

    def start(self, key: str, label: str, total: int | None, *, note: str = "") -> None: ...

    def advance(self, key: str, n: int = 1) -> None: ...

    def finish(self, key: str) -> None: ...


@dataclass
class Copied:
    """What a copy wrote: rows per table, attachment files, and files the
    source's rows name but it no longer has (nothing to copy for them)."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    missing_files: int = 0


def copy_store(source: str | Path, target: str | Path, progress: Progress) -> Copied:
    """Copy the store at ``source`` into ``target`` (each a SQLite path or
    a ``postgresql://`` URL); see the module docstring."""
    src_loc, dst_loc = _location(source), _location(target)
    if _same(src_loc, dst_loc):
        raise UsageError("SOURCE and TARGET are the same store: copy into a new file or database")
    src = _open_source(src_loc)
    try:
        # What a SQLite target this copy creates is removed again if it fails.
        made = [] if is_url(dst_loc) else [
            p for p in (Path(dst_loc), files_dir_for(Path(dst_loc))) if not os.path.lexists(p)]
        dst: Store | None = None
        try:
            dst = _open_target(dst_loc)
            done = _copy(src, dst, progress)
        except BaseException:
            if dst is not None:
                dst.close()
            _remove_new(made)
            raise
        dst.close()
    finally:
        src.close()
    return done


def _location(where: str | Path) -> str:
    return str(where) if is_url(where) else str(Path(where).expanduser())


def _same(a: str, b: str) -> bool:
    if is_url(a) or is_url(b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def _open_source(location: str) -> Store:
    if is_url(location):
        from supportctl.store.pg import PgStore

        store = PgStore(location, migrate=False)
        if store.version == 0:
            store.close()
            raise UsageError(f"no store at {redact(location)}: SOURCE must be an existing store")
        if store.version < _pg_latest():
            store.migrate()
        return store
    if not os.path.exists(location):
        raise UsageError(f"no store at {location}: SOURCE must be an existing store")
    return open_store(location, create=False)


def _pg_latest() -> int:
    from supportctl.store import pg_schema

    return pg_schema.LATEST


def _open_target(location: str) -> Store:
    if is_url(location):
        from supportctl.store.pg import PgStore

        # The schema is made inside the copy's transaction (``_copy``).
        return PgStore(location, create=True, migrate=False)
    return open_store(location, create=True)


def _remove_new(made: list[Path]) -> None:
    """The SQLite file (with its companions) and files directory this copy
    created, gone again."""
    import shutil

    for path in made:
        if path.suffix == ".files" or path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            continue
        for extra in ("", "-wal", "-shm", "-journal", ".init.lock"):
            Path(f"{path}{extra}").unlink(missing_ok=True)


def _pg(store: Store) -> bool:
    return store.sql.name == "postgresql"


# -- the copy ----------------------------------------------------------------

def _copy(src: Store, dst: Store, progress: Progress) -> Copied:
    done = Copied(str(src.path), str(dst.path))
    with _snapshot(src), dst.tx():
        if _pg(dst):
            if dst.version < _pg_latest():
                dst.migrate()  # a savepoint inside this transaction
            dst.execute("LOCK TABLE " + ", ".join((*COPIED, "files")) + " IN EXCLUSIVE MODE")
        else:
            # Rows that point at rows later in their table (a ticket merged
            # into a newer one) are checked once, at COMMIT.
            dst.execute("PRAGMA defer_foreign_keys = ON")
        _refuse_unknown(src)
        _refuse_data(dst)
        plans = [(t, _columns_to_copy(src, dst, t)) for t in COPIED]
        counts = {t: int(src.scalar(f"SELECT count(*) FROM {t}")) for t in COPIED}
        stale = [r[0] for r in src.execute("SELECT id FROM tickets WHERE sla_stale = 1")]
        progress.start("rows", f"copy {done.source} to {done.target}", sum(counts.values()))
        for table, columns in plans:
            if counts[table]:
                done.rows[table] = _copy_table(src, dst, table, columns, progress)
        progress.finish("rows")
        _copy_files(src, dst, done, progress)
        _restore_stale_marks(dst, stale)
        dst.after_restore()
        if _pg(dst):
            # The planner's statistics now, not when autovacuum gets to it:
            # search picks a GIN scan or a walk along the ids by how common
            # a word is.
            dst.execute("ANALYZE " + ", ".join(t for t in COPIED if done.rows.get(t)))
    return done


class _snapshot:
    """One read transaction on the source: every table as of one moment."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        if _pg(self.store):
            conn: Any = self.store.conn
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # A connection lost mid-copy fails the copy; never a new one
            # that would read outside this snapshot.
            conn.in_block = True
        else:
            self.store.conn.execute("BEGIN")  # deferred: a read snapshot, no lock

    def __exit__(self, *exc: object) -> None:
        conn: Any = self.store.conn
        if _pg(self.store):
            conn.in_block = False
            conn = conn.raw
        if self.store.conn.in_transaction:
            conn.execute("ROLLBACK")


def _tables(store: Store) -> set[str]:
    if _pg(store):
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {r[0] for r in store.execute(sql)}


def _refuse_unknown(src: Store) -> None:
    """A table this copy does not know that holds rows: stop, rather than
    leave its data behind (a newer schema than this code knows)."""
    for table in sorted(_tables(src)):
        if table in COPIED or table.startswith(DERIVED):
            continue
        if src.scalar(f'SELECT 1 FROM "{table}" LIMIT 1') is not None:
            raise StoreError(f"{src.path} holds table {table}, which db copy does not know: "
                             "nothing was copied; upgrade supportctl")


def _refuse_data(dst: Store) -> None:
    for table in (*COPIED, *(("files",) if _pg(dst) else ())):
        if dst.scalar(f"SELECT 1 FROM {table} LIMIT 1") is None:
            continue
        tickets = int(dst.scalar("SELECT count(*) FROM tickets"))
        what = f"{tickets} ticket{'s' if tickets != 1 else ''}" if tickets else f"rows in {table}"
        raise UsageError(f"{dst.path} already holds {what}: db copy fills only a new or empty "
                         "store; name a new file or an empty database as TARGET")


def _columns(store: Store, table: str) -> list[str]:
    """The columns a row of ``table`` is written with (generated ones left out)."""
    if _pg(store):
        rows = store.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position", [table]).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in store.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0]


def _columns_to_copy(src: Store, dst: Store, table: str) -> list[str]:
    have, want = _columns(src, table), set(_columns(dst, table))
    lost = [c for c in have if c not in want]
    if lost:
        raise StoreError(f"{dst.path} has no column {table}.{lost[0]}: nothing was copied; "
                         "use the same supportctl version for both stores")
    return have


def _batches(src: Store, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """The source's rows of ``table``, ``BATCH`` at a time, as tuples."""
    cols = ", ".join(columns)
    order = " ORDER BY id" if "id" in columns else ""
    sql = f"SELECT {cols} FROM {table}{order}"
    if _pg(src):
        # A server-side cursor: the client holds one batch, not the table.
        cur = src.conn.raw.cursor(name=f"supportctl_copy_{table}")  # type: ignore[attr-defined]
        cur.itersize = BATCH
    else:
        cur = src.conn.cursor()
        cur.row_factory = None  # plain tuples
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(BATCH):
            yield rows
    finally:
        cur.close()


def _copy_table(src: Store, dst: Store, table: str, columns: list[str],
                progress: Progress) -> int:
    n = 0
    if _pg(dst):
        import psycopg

        cur = dst.conn.raw.cursor()  # type: ignore[attr-defined]
        try:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as out:
                for rows in _batches(src, table, columns):
                    for row in rows:
                        out.write_row(row)
                    n += len(rows)
                    progress.advance("rows", len(rows))
        except psycopg.Error as exc:
            raise _copy_error(table, dst, exc) from None
        finally:
            cur.close()
        return n
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    # One statement per few hundred rows (as import's restore_many): the
    # full-text triggers then write their terms once per statement.
    step = max(1, min(400, 30000 // len(columns)))
    for rows in _batches(src, table, columns):
        for i in range(0, len(rows), step):
            chunk = rows[i:i + step]
            dst.execute(head + ", ".join([one] * len(chunk)), [v for r in chunk for v in r])
        n += len(rows)
        progress.advance("rows", len(rows))
    return n


def _copy_error(table: str, dst: Store, exc: Exception) -> StoreError:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "0x00" in text:
        text = "a text holds a NUL character (\\0), which PostgreSQL cannot store"
    return StoreError(f"copying {table} into {dst.path} failed: {text}; nothing was copied")


def _copy_files(src: Store, dst: Store, done: Copied, progress: Progress) -> None:
    """Every attachment's bytes, one file in memory at a time."""
    total = int(src.scalar("SELECT count(DISTINCT sha256) FROM attachments"))
    if not total:
        return
    progress.start("files", "attachment files", total)
    cur = src.conn.cursor()
    try:
        cur.execute("SELECT DISTINCT sha256 FROM attachments")
        while digests := cur.fetchmany(BATCH):
            for (digest,) in digests:
                try:
                    data = src.read_file(digest)
                except (StoreError, UnsafePath):
                    done.missing_files += 1  # lost before this copy: nothing to copy
                else:
                    dst.put_file(data)
                    done.files += 1
            progress.advance("files", len(digests))
    finally:
        cur.close()
    progress.finish("files")


def _restore_stale_marks(dst: Store, stale: list[int]) -> None:
    """The tag triggers marked tickets for an SLA recompute as tags were
    copied; the source's marks are what the copy keeps."""
    dst.execute("UPDATE tickets SET sla_stale = 0 WHERE sla_stale = 1")
    for i in range(0, len(stale), 500):
        chunk = stale[i:i + 500]
        dst.execute(f"UPDATE tickets SET sla_stale = 1 WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk)


def describe(location: str | Path) -> str:
    """A store's name for messages (a URL without its password)."""
    return redact(str(location)) if is_url(location) else str(location)
