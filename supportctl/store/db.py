"""The ticket store: one SQLite file plus content-addressed attachment files.

Contract:
- WAL, foreign keys on, a 30 s busy timeout: a cron ``sync`` and an agent at
  the terminal never see "database is locked".
- Every multi-step write runs inside ``Store.tx()``, which starts with
  ``BEGIN IMMEDIATE`` (a deferred transaction that later upgrades to a write
  fails with SQLITE_BUSY_SNAPSHOT without waiting on the busy handler).
- Opening checks ``PRAGMA user_version`` against ``migrations.LATEST`` and
  only imports sqlite-utils when a migration is pending, so read commands
  start on the stdlib ``sqlite3`` alone.
- Attachment bytes are written (fsync'd, atomically renamed) under
  ``files_dir/ab/cdef…`` before the row that points at them commits; a file
  with no row is harmless, a row with no file never happens.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from supportctl.errors import SupportError, UsageError
from supportctl.store.migrations import LATEST


class StoreError(SupportError):
    pass


def files_dir_for(db_path: Path) -> Path:
    """Attachments sit beside the database: ``supportctl.db`` keeps its
    files in ``supportctl.files/``."""
    return db_path.with_name(db_path.stem + ".files")


class Store:
    def __init__(self, path: Path | str, *, create: bool = True, migrate: bool = True) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}: run `supportctl init` or pass --db"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        self.files_dir = files_dir_for(self.path)
        try:
            self.conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA foreign_keys = ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            # WAL is a property of the file: set once, when the schema is made.
            if version < LATEST and self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a supportctl store ({exc})") from None
        self.version = version
        if version > LATEST:
            raise StoreError(
                f"{self.path} was written by a newer supportctl (schema {version}); upgrade supportctl"
            )
        if version < LATEST and migrate:
            self.migrate()

    # -- schema -----------------------------------------------------------

    def migrate(self) -> list[str]:
        from sqlite_utils import Database

        from supportctl.store.migrations import migrations

        db = Database(self.conn)
        m = migrations()
        # Take the write lock first so two processes opening a fresh store
        # at once do not both try to create the tables.
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("COMMIT")
        pending = [p.name for p in m.pending(db)]
        if pending:
            m.apply(db)
        self.version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return pending

    # -- transactions -----------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls use a
        savepoint."""
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT sp")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK TO sp")
                self.conn.execute("RELEASE sp")
                raise
            self.conn.execute("RELEASE sp")
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"store {self.path} is busy ({exc}); try again") from None
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if "full" in str(exc):
                raise StoreError(
                    f"disk full writing {self.path}: nothing was stored; free space and run again"
                ) from None
            raise

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):
                raise StoreError(
                    f"disk full writing {self.path}: nothing was stored; free space and run again"
                ) from None
            raise

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cur = self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        return int(cur.lastrowid or 0)

    def update(self, table: str, id_: int, fields: dict[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*fields.values(), id_])

    def close(self) -> None:
        self.conn.close()

    # -- attachment files -------------------------------------------------

    def put_file(self, data: bytes) -> str:
        """Store bytes content-addressed; returns the SHA-256 hex."""
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        target = self.file_path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"cannot write attachment under {self.files_dir}: {exc.strerror}; free space and run again"
            ) from None
        return digest

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store content that comes in pieces (a large attachment decoded as
        it goes), never holding it whole; returns (SHA-256 hex, size)."""
        import hashlib
        import uuid

        self.files_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.files_dir / f".stream.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as fh:
                for piece in chunks:
                    digest.update(piece)
                    fh.write(piece)
                    size += len(piece)
                fh.flush()
                os.fsync(fh.fileno())
            hexdigest = digest.hexdigest()
            target = self.file_path(hexdigest)
            if target.exists():
                tmp.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"cannot write attachment under {self.files_dir}: {exc.strerror}; free space and run again"
            ) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return hexdigest, size

    def put_original(self, message_id: int, raw: bytes) -> None:
        """Keep a message's original payload. A large one is written into a
        zeroblob in pieces: binding it whole makes SQLite copy it first."""
        if len(raw) < (1 << 20):
            self.insert("originals", {"message_id": message_id, "raw": raw})
            return
        cur = self.execute("INSERT INTO originals (message_id, raw) VALUES (?, zeroblob(?))",
                           [message_id, len(raw)])
        view = memoryview(raw)
        with self.conn.blobopen("originals", "raw", int(cur.lastrowid or message_id)) as blob:
            for pos in range(0, len(raw), 1 << 20):
                blob.write(view[pos:pos + (1 << 20)])

    def file_path(self, sha256: str) -> Path:
        return self.files_dir / sha256[:2] / sha256[2:]

    def read_file(self, sha256: str) -> bytes:
        try:
            return self.file_path(sha256).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"attachment {sha256[:12]} is missing from {self.files_dir}") from None

    def drop_unused_files(self, digests: set[str]) -> None:
        for digest in digests:
            if not self.scalar("SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1", [digest]):
                self.file_path(digest).unlink(missing_ok=True)

    # -- small shared helpers ---------------------------------------------

    def event(
        self,
        actor: str,
        action: str,
        at: str,
        *,
        ticket_id: int | None = None,
        contact_id: int | None = None,
        **detail: Any,
    ) -> None:
        self.insert(
            "events",
            {
                "ticket_id": ticket_id,
                "contact_id": contact_id,
                "actor": actor,
                "action": action,
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
                "at": at,
            },
        )

    def get_cursors(self, account: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT source, value FROM cursors WHERE account = ?", [account]
        ).fetchall()
        return {r["source"]: r["value"] for r in rows if r["value"] is not None}

    def set_cursor(self, account: str, source: str, value: str | None, at: str) -> None:
        self.execute(
            "INSERT INTO cursors (account, source, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account, source) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [account, source, value, at],
        )


def open_store(path: Path | str, *, create: bool = True) -> Store:
    try:
        return Store(path, create=create)
    except sqlite3.OperationalError as exc:
        raise UsageError(f"cannot open store {path}: {exc}") from None
