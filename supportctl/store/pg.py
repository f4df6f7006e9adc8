"""The ticket store on PostgreSQL (SPEC §13; the ``supportctl[postgres]``
extra, psycopg 3). Imported only when a ``postgresql://`` URL is opened.

Contract (the same as ``db.Store``'s, engine by engine):
- ``PgStore`` is a ``Store``: the store modules call the same methods and
  write the same SQL. ``PgConnection`` is the thin seam under them: it
  takes SQLite's ``?`` and ``:name`` parameter marks (translated once per
  statement text and cached), hands rows that read by position and by
  name (as ``sqlite3.Row`` does), and raises the store's errors: a broken
  unique or foreign key is ``db.IntegrityError``, a server that fails is a
  ``StoreError`` (one line, the URL without its password).
- The connection is in autocommit; ``Store.tx()`` is ``BEGIN`` …
  ``COMMIT`` (nested: a savepoint). A failed statement spoils a
  PostgreSQL transaction (SQLite's goes on): code that carries on after
  one does so through a nested ``store.tx()``, which rolls back to its
  savepoint on both engines (ingest isolates each item that way). A
  savepoint around every write would keep the SQLite behaviour but
  doubled the cost of an import (500 tickets: 14.8 s against 7.3 s).
- Attachment bytes live in the ``files`` table (see ``pg_schema``): agents
  on other machines read them through the database.
- ``sync`` takes a session advisory lock per channel entry
  (``entry_lock``): one machine pulls an entry at a time; the others skip
  it quietly.
- ``PgStore`` runs on any connection with ``PgConnection``'s interface:
  psycopg's here, or libpq's through ctypes (``pq.PqConnection``) or the
  wire protocol's (``wire.WireConnection``), which the reading commands
  use so they start without importing psycopg
  (SPEC §8). psycopg is therefore imported by ``PgConnection`` itself, not
  with this module.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from supportctl.errors import UsageError
from supportctl.store import pg_schema
from supportctl.store.db import Store, StoreError, savepoint
from supportctl.store.dialect import POSTGRES
from supportctl.store.engine import redact


class PgIntegrityError(sqlite3.IntegrityError):
    """A PostgreSQL unique or foreign-key violation, under the name every
    caller already catches (``db.IntegrityError``)."""


# '…' literals, "…" identifiers, $$ bodies and :: casts pass through;
# ? and :name become psycopg's marks; a lone % is doubled.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"[^"]*"|\$\$.*?\$\$|::|\?|(?<![:\w]):([A-Za-z_]\w*)|%""",
                     re.DOTALL)


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite's parameter marks as psycopg's (``?`` → ``%s``, ``:name`` →
    ``%(name)s``); every ``%`` psycopg would read is doubled."""
    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        if tok == "%":
            return "%%"
        if m.group(1):
            return f"%({m.group(1)})s"
        return tok.replace("%", "%%") if tok[0] in "'\"$" else tok

    return _TOKENS.sub(sub, sql)


_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


class RowBase(tuple):  # type: ignore[type-arg]
    """A row that reads by position and by column name (``sqlite3.Row``'s
    interface: ``row[0]``, ``row["id"]``, ``row.keys()``, ``dict(row)``)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[RowBase]:
    return type("Row", (RowBase,), {"__slots__": (), "_names": names,
                                    "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    cls = _row_class(tuple(d.name for d in desc))
    return cls


class PgCursor:
    """The part of ``sqlite3.Cursor`` the store modules use."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn
        conn.reconnect_if_lost()  # (not inside a transaction: see there)
        self._cur = conn.raw.cursor(row_factory=_row_factory)
        self.row_factory: Any = None  # accepted, as sqlite3's; rows always read both ways
        self.lastrowid: int | None = None

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def description(self) -> Any:
        return self._cur.description

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        self._conn._run(self._cur, sql, params)
        return self

    def executemany(self, sql: str, rows: Iterable[Any]) -> PgCursor:
        rows = list(rows)
        if rows:
            self._conn._run(self._cur, sql, rows, many=True)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def fetchmany(self, size: int = 100) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        if self._cur.description is None:
            return iter(())
        return iter(self._cur)

    def close(self) -> None:
        self._cur.close()


class PgConnection:
    """The part of ``sqlite3.Connection`` the store modules use, on psycopg."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise UsageError("a postgresql:// store needs the PostgreSQL extra: "
                             "pip install 'supportctl[postgres]'") from None
        self.url = url
        self.raw = self._connect()
        self.total_changes = 0
        #: Inside ``PgStore.tx()``: a lost connection is not replaced there.
        self.in_block = False

    def _connect(self) -> Any:
        import psycopg

        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(self.url)}: {_first_line(exc)}; check "
                             "the server is running and the URL (role, database, host)") from None
        # numeric (sum, avg) as float, as SQLite returns them.
        from psycopg.types.numeric import FloatLoader

        raw.adapters.register_loader("numeric", FloatLoader)
        return raw

    def reconnect_if_lost(self) -> None:
        """A connection the server dropped (a restart, an idle timeout, a
        failover) is opened again before the next transaction: a
        long-running ``serve`` or ``sync --watch`` carries on instead of
        failing every request from then on. Checked before each
        transaction and each statement outside one; never inside a
        transaction: its work is gone with the connection, and it fails
        as it is (one line) rather than go on in autocommit."""
        if self.raw.broken and not self.in_block:
            self.raw.close()
            self.raw = self._connect()

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status not in (TransactionStatus.IDLE,
                                                              TransactionStatus.UNKNOWN))

    def command(self, sql: str) -> None:
        """One statement without parameters, as written (``BEGIN``,
        ``COMMIT``, a migration's DDL); a server that fails is a
        ``StoreError``, a broken key ``PgIntegrityError`` (at COMMIT:
        a deferred constraint)."""
        import psycopg

        try:
            self.raw.execute(sql)
        except psycopg.errors.IntegrityError as exc:
            raise PgIntegrityError(_first_line(exc)) from None
        except psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL store {redact(self.url)} failed: {_first_line(exc)}"
                             ) from None

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Any]) -> PgCursor:
        return PgCursor(self).executemany(sql, rows)

    def commit(self) -> None:
        """``COMMIT``; one that fails is rolled back and raised as the
        store's error (a deferred key: ``PgIntegrityError``)."""
        import psycopg

        try:
            self.raw.execute("COMMIT")
        except psycopg.Error as exc:
            if self.in_transaction:
                self.raw.execute("ROLLBACK")
            if isinstance(exc, psycopg.errors.IntegrityError):
                raise PgIntegrityError(_first_line(exc)) from None
            raise StoreError(f"PostgreSQL store {redact(self.url)} failed to commit: "
                             f"{_first_line(exc)}") from None

    def _run(self, cur: Any, sql: str, params: Any, *, many: bool = False) -> None:
        import psycopg

        text = translate(sql)
        try:
            if many:
                cur.executemany(text, [_adapt(p) for p in params])
            else:
                cur.execute(text, _adapt(params))
        except psycopg.errors.IntegrityError as exc:
            raise PgIntegrityError(_first_line(exc)) from None
        except psycopg.errors.QueryCanceled as exc:
            raise StoreError(f"the PostgreSQL server cancelled a statement: {_first_line(exc)}"
                             ) from None
        except psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL store {redact(self.url)} failed: {_first_line(exc)}"
                             ) from None
        if _WRITE.match(sql) and cur.rowcount > 0:
            self.total_changes += cur.rowcount

    def close(self) -> None:
        self.raw.close()


def _adapt(params: Any) -> Any:
    """SQLite takes ``memoryview`` and ``bytearray`` for BLOBs; psycopg's
    ``bytea`` wants bytes."""
    if isinstance(params, dict):
        return {k: bytes(v) if isinstance(v, memoryview | bytearray) else v
                for k, v in params.items()}
    return [bytes(v) if isinstance(v, memoryview | bytearray) else v for v in params]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PgStore(Store):
    """``Store`` on a PostgreSQL database (see the module docstring)."""

    sql = POSTGRES

    def __init__(self, url: str, *, create: bool = True, migrate: bool = True,
                 connection: Any = None) -> None:
        """``connection``: makes the connection from the URL (default
        ``PgConnection``, psycopg's)."""
        self.url = url
        #: What messages name (never the password).
        self.path = redact(url)  # type: ignore[assignment]
        self.files_dir = Path("/nonexistent")  # files live in the database
        self._pending: dict[str, Path] = {}
        self._pending_dirs: set[Path] = set()
        self._tx_memo: dict[str, Any] = {}
        self.readonly = False
        self._pg = (connection or PgConnection)(url)
        self.conn = self._pg  # type: ignore[assignment]  # sqlite3.Connection's interface
        self.version = self._schema_version()
        if self.version > pg_schema.LATEST:
            raise StoreError(f"{self.path} was written by a newer supportctl (schema "
                             f"{self.version}); upgrade supportctl")
        if self.version == 0 and not create and not migrate:
            raise StoreError(f"no store at {self.path}: run `supportctl init` or pass --db")
        if self.version < pg_schema.LATEST and migrate:
            self.migrate()

    def _schema_version(self) -> int:
        found = self._pg.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return 0
        return int(self._pg.execute("SELECT COALESCE(max(version), 0) FROM schema_version"
                                     ).fetchone()[0])

    def migrate(self) -> list[str]:
        done: list[str] = []
        with self.tx():
            self._pg.execute("SELECT pg_advisory_xact_lock(?)", [pg_schema.MIGRATE_LOCK])
            self._pg.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                              "version INTEGER PRIMARY KEY, name TEXT NOT NULL, at TEXT NOT NULL)")
            current = self._schema_version()
            for number, name, statements in pg_schema.STEPS:
                if number <= current:
                    continue
                for statement in statements:
                    try:
                        self._pg.command(statement)
                    except Exception as exc:
                        # A step's own refusal (RAISE: what to run) is one line.
                        if getattr(exc, "sqlstate", None) != "P0001":
                            raise
                        raise StoreError(f"cannot bring {self.path} to schema {number}: "
                                         f"{_first_line(exc)}") from None
                self._pg.execute("INSERT INTO schema_version (version, name, at) "
                                  "VALUES (?, ?, now()::text)", [number, name])
                done.append(name.split(":")[0])
        self.version = self._schema_version()
        return done

    @contextmanager
    def tx(self) -> Iterator[Any]:
        conn = self._pg
        if conn.in_transaction:
            with savepoint(conn.command, self._forget):
                yield conn
            return
        conn.reconnect_if_lost()
        conn.command("BEGIN")
        conn.in_block = True
        self._tx_memo = {}
        try:
            try:
                yield conn
            except BaseException:
                self._tx_memo = {}
                if conn.in_transaction:
                    conn.command("ROLLBACK")
                raise
            conn.commit()
        finally:
            conn.in_block = False

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._pg.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self.conn.executemany(sql, rows)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        returning = " RETURNING id" if table in pg_schema.ID_TABLES else ""
        cur = self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks}){returning}",
                           list(row.values()))
        if not returning:
            return 0
        found = cur.fetchone()
        return int(found[0]) if found else 0

    def after_restore(self) -> None:
        """Identity sequences past every id an import wrote with its own
        value (SQLite's next rowid is max + 1 by itself). Every table with
        an id, whichever way its rows were written (one by one or many to
        a statement): a max over a primary key each."""
        for table in sorted(pg_schema.ID_TABLES):
            self._pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), 1), "
                f"(SELECT max(id) IS NOT NULL FROM {table}))")

    def changed(self) -> bool:
        return bool(self._pg.total_changes)

    def durable_commits(self) -> None:
        """PostgreSQL's commits are durable by default (synchronous_commit)."""

    def close(self) -> None:
        self._pg.close()

    # -- attachments: in the database ------------------------------------

    def put_file(self, data: bytes) -> str:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        self.execute("INSERT INTO files (sha256, data) VALUES (?, ?) ON CONFLICT DO NOTHING",
                     [digest, data])
        return digest

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        data = b"".join(chunks)
        return self.put_file(data), len(data)

    def put_original(self, message_id: int, raw: bytes) -> None:
        self.execute("INSERT INTO originals (message_id, raw) VALUES (?, ?)", [message_id, raw])

    def read_file(self, sha256: str) -> bytes:
        found = self._pg.execute("SELECT data FROM files WHERE sha256 = ?", [sha256]).fetchone()
        if found is None:
            raise StoreError(f"attachment {sha256[:12]} is missing from {self.path}")
        return bytes(found[0])

    def drop_unused_files(self, digests: set[str]) -> None:
        for digest in digests:
            self.execute("DELETE FROM files WHERE sha256 = ? AND NOT EXISTS "
                         "(SELECT 1 FROM attachments WHERE sha256 = ?)", [digest, digest])

    def remove_stale_temp_files(self) -> int:
        return 0

    def file_path(self, sha256: str) -> Path:
        raise StoreError("attachments of a PostgreSQL store live in the database: "
                         "use `supportctl attachments ID --save DIR`")

    def backup(self, target: Path) -> dict[str, int]:
        # A server's database is backed up by the server's own tool, which
        # takes a consistent snapshot while others write (attachments
        # included: they are rows of ``files``).
        from shlex import quote

        raise UsageError("`db backup` copies a SQLite store: back up this PostgreSQL store "
                         f"with `pg_dump --format=custom --file {quote(str(target))} URL` "
                         "(attachments are in the database too)")

    def size_bytes(self) -> int:
        """The database's size on the server (``pg_database_size``)."""
        return int(self._pg.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def files_location(self) -> str | None:
        return None  # the ``files`` table

    # -- sync: one machine per channel entry ------------------------------

    def serialize_ingest(self) -> None:
        """A transaction-level advisory lock, held to COMMIT or ROLLBACK: two
        machines storing one customer's messages at once (two entries, two
        webhooks) would each find no open ticket under READ COMMITTED and
        open one each, or lose a message to the other's identity row."""
        self._pg.execute("SELECT pg_advisory_xact_lock(?)", [pg_schema.INGEST_LOCK])

    def sync_lock_file(self) -> Path | None:
        """No store-wide sync lock: every machine may sync, each channel
        entry pulled by one at a time (``entry_lock``)."""
        return None

    @contextmanager
    def entry_lock(self, account: str) -> Iterator[bool]:
        """A session advisory lock on the channel entry ``account``; yields
        False (and holds nothing) when another machine holds it."""
        with self._try_lock("supportctl sync " + account) as got:
            yield got

    @contextmanager
    def housekeeping_lock(self) -> Iterator[bool]:
        """A session advisory lock on the store's housekeeping: one machine
        does it at a time; another that finds it busy skips it (the next
        pass of any machine does what is left)."""
        with self._try_lock("supportctl housekeeping") as got:
            yield got

    @contextmanager
    def _try_lock(self, key: str) -> Iterator[bool]:
        got = self._pg.execute("SELECT pg_try_advisory_lock(hashtextextended(?, 0))",
                                [key]).fetchone()[0]
        try:
            yield bool(got)
        finally:
            if got:
                self._pg.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", [key])
