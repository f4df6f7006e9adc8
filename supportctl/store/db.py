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
  with no row is harmless, a row with no file never happens. Inside a
  transaction the files are written to temporary names as they come and
  made durable together just before ``COMMIT`` (``_flush_files``): every
  temporary file fsync'd, then renamed into place, then every directory
  that gained or holds one fsync'd; the fsyncs run in parallel, so the
  file system commits its journal once for the batch instead of once per
  file. A name in place therefore always holds fsync'd bytes; a crash
  before ``COMMIT`` leaves at most files with no row (and temporary files
  that ``remove_stale_temp_files`` clears). A digest
  becomes a path only through ``files.attachment_path`` (validated, inside
  ``files_dir``).
- Customer data is private: the database (and so its -wal/-shm, which
  SQLite creates with the database's mode), the files and the directories
  we create are 0600/0700 whatever the umask; a store of ours found wider
  is tightened on opening.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from supportctl.errors import SupportError, UsageError
from supportctl.store.dialect import SQLITE
from supportctl.store.files import (
    UnsafePath,
    attachment_path,
    create_private,
    private_dir,
    valid_digest,
)
from supportctl.store.migrations import LATE_STEPS, LATEST

# Python 3.11's sqlite3 binds a None or a bytes value only after looking
# for an ``__adapt__`` on its protocol, which formats an AttributeError
# each time: about 0.6 µs a value, 9 % of a JSONL import's writing (rows
# with many NULL columns). An adapter in its registry is found first; both
# are C functions that return the value as it is (an empty dict's get
# answers None), so no Python frame runs per value either.
sqlite3.register_adapter(type(None), {}.get)  # type: ignore[arg-type]
sqlite3.register_adapter(bytes, bytes)


class StoreError(SupportError):
    pass


# The engine's errors under the store's own names (PEP 249's, which
# psycopg shares), so services catch these and never import sqlite3.
#: A write broke a uniqueness or foreign-key rule: the data was wrong, not
#: the store (ingest quarantines the item; an import names the line).
IntegrityError = sqlite3.IntegrityError
#: The store itself failed (locked past the busy timeout, I/O, disk full,
#: read-only): whoever keeps going past one bad item re-raises these.
FAILURES: tuple[type[Exception], ...] = (sqlite3.OperationalError, StoreError)


def _late_step_missing(conn: sqlite3.Connection) -> bool:
    """Whether a step of ``LATE_STEPS`` has not run on this store (one look
    at sqlite-utils' record: no sqlite-utils import)."""
    try:
        done = conn.execute(
            "SELECT count(*) FROM _sqlite_migrations WHERE migration_set = 'supportctl'"
            f" AND name IN ({', '.join('?' for _ in LATE_STEPS)})", LATE_STEPS).fetchone()[0]
    except sqlite3.OperationalError:  # no record at all: not ours to migrate here
        return False
    return int(done) < len(LATE_STEPS)


def files_dir_for(db_path: Path) -> Path:
    """Attachments sit beside the database: ``supportctl.db`` keeps its
    files in ``supportctl.files/``."""
    return db_path.with_name(db_path.stem + ".files")


class savepoint:  # noqa: N801 - used as a context manager, like contextlib's
    """A nested ``tx()``: a savepoint inside the open transaction, undone
    alone when its block fails (the same statements on both engines);
    ``undone`` is called first then (``tx_memo`` forgets). A class, not a
    generator: ingest opens one per message."""

    __slots__ = ("run", "undone")

    def __init__(self, run: Callable[[str], Any], undone: Callable[[], None] | None = None) -> None:
        self.run = run
        self.undone = undone

    def __enter__(self) -> None:
        self.run("SAVEPOINT sp")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.run("RELEASE SAVEPOINT sp")
            return
        if self.undone is not None:
            self.undone()
        self.run("ROLLBACK TO SAVEPOINT sp")
        self.run("RELEASE SAVEPOINT sp")


#: ``event_detail``'s encoder, made once (``json.dumps`` with options
#: builds one per call).
_EVENT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def event_detail(detail: dict[str, Any]) -> str:
    """An event's ``detail`` column as every writer of events stores it."""
    return _EVENT_JSON(detail)


#: Values bound to one ``IN (…)`` by ``in_chunks`` (under both engines'
#: limits on bound values).
IN_CHUNK = 500


def in_chunks(store: Any, sql: str, values: Sequence[Any], *,
              prefix: Sequence[Any] = ()) -> list[Any]:
    """Rows of ``sql``, whose last ``IN (?)`` takes ``values`` a chunk at a
    time (after the ``prefix`` parameters)."""
    out: list[Any] = []
    at = sql.rindex("(?)")
    for i in range(0, len(values), IN_CHUNK):
        chunk = values[i:i + IN_CHUNK]
        out += store.execute(sql[:at] + "(" + ", ".join("?" * len(chunk)) + ")" + sql[at + 3:],
                             [*prefix, *chunk]).fetchall()
    return out


#: ``Store.insert``'s statements by table and columns (a few dozen shapes).
_INSERTS: dict[tuple[str, ...], str] = {}


class Store:
    #: SQL fragments that differ between engines (``store/dialect.py``).
    sql = SQLITE

    def __init__(self, path: Path | str, *, create: bool = True, migrate: bool = True) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}: run `supportctl init` or pass --db"
                )
            try:
                private_dir(self.path.parent)
                os.close(create_private(self.path))
            except FileExistsError:
                pass  # another process created it first
            except OSError as exc:
                raise StoreError(f"cannot create {self.path}: {exc.strerror}") from None
        self.files_dir = files_dir_for(self.path)
        #: Attachment files written in the open transaction, not yet in
        #: place: digest -> temporary file (see ``_flush_files``); and the
        #: directories to fsync before ``COMMIT``.
        self._pending: dict[str, Path] = {}
        self._pending_dirs: set[Path] = set()
        self._tx_memo: dict[str, Any] = {}
        #: True when this user may only read the store (file or directory
        #: not writable): read commands work, writes fail with one clear line.
        self.readonly = not _writable(self.path)
        if not self.readonly:
            _tighten(self.path, self.files_dir)
        version = self._connect()
        if version < LATEST:
            if self.readonly:
                self.close()
                raise StoreError(
                    f"{self.path} needs a schema upgrade (schema {version}, this supportctl "
                    f"uses {LATEST}) but you may only read it: run `supportctl db migrate` "
                    "as a user who can write the store and its directory"
                )
            if migrate:
                self.migrate()
        elif migrate and not self.readonly and _late_step_missing(self.conn):
            self.migrate()

    def _connect(self) -> int:
        """Open the connection; returns the schema version."""
        try:
            if self.readonly:
                self.conn = _connect_readonly(self.path)
            else:
                self.conn = sqlite3.connect(
                    str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
                )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA foreign_keys = ON")
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            if not self.readonly:
                self.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.OperationalError as exc:
            # Busy, locked, unreadable: not a verdict on the file's contents.
            raise StoreError(f"cannot open store {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a supportctl store ({exc})") from None
        self.version = version
        if version > LATEST:
            raise StoreError(
                f"{self.path} was written by a newer supportctl (schema {version}); upgrade supportctl"
            )
        return version

    # -- schema -----------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations, all in one ``BEGIN IMMEDIATE``
        transaction (sqlite-utils nests each step as a savepoint), under
        the creation lock: the pending check and the steps see one state."""
        from supportctl.store.migrations import migrations, sqlite_utils

        if self.readonly:
            raise StoreError(
                f"cannot migrate {self.path}: you may only read it; run `supportctl db migrate` "
                "as a user who can write the store and its directory"
            )
        db = sqlite_utils().Database(self.conn)
        m = migrations()
        # A new store, or one with a migration pending: one process at a
        # time creates and migrates it; the others wait, then find it done
        # (issue 7: two of twenty processes opening a fresh path at once
        # failed with "table contacts already exists" or "database is
        # locked"). The lock file sits beside the store and is taken only
        # here, never on the read path of a current store.
        with _creation_lock(self.path):
            # WAL is a property of the file: set once, when the schema is made.
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.conn.execute("PRAGMA journal_mode = WAL")
            with self.tx():
                pending = [p.name for p in m.pending(db)]
                if pending:
                    m.apply(db)
                    # Branches merged their steps out of number order: once
                    # every step ran, the store is at LATEST, whatever the
                    # last step applied wrote.
                    current = self.conn.execute("PRAGMA user_version").fetchone()[0]
                    self.conn.execute(f"PRAGMA user_version = {max(int(current), LATEST)}")
        self.version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return pending

    # -- transactions -----------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls use a
        savepoint."""
        if self.readonly:
            raise self._readonly_error()
        if self.conn.in_transaction:
            with savepoint(self.conn.execute, self._forget):
                yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"store {self.path} is busy ({exc}); try again") from None
        self._tx_memo = {}
        try:
            yield self.conn
            # The files the rows point at are durable before the rows are.
            self._flush_files()
        except BaseException:
            self._tx_memo = {}
            self._drop_pending_files()
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

    def tx_memo(self) -> dict[str, Any]:
        """Facts about rows written or read in the open transaction, kept
        by whoever needs them (``workflows.remember_tag_names``: the tag
        names known to be stored), so a long ``sync`` batch need not ask
        again. Emptied when a transaction begins and whenever one, or a
        savepoint in it, is rolled back: a fact never outlives the rows it
        is about. Outside a transaction: an empty dict nobody keeps."""
        if not self.conn.in_transaction:
            return {}
        return self._tx_memo

    def _forget(self) -> None:
        """A savepoint's rollback empties ``tx_memo``."""
        self._tx_memo = {}

    def _readonly_error(self) -> StoreError:
        return StoreError(
            f"{self.path} is read-only for you: reading works; changing it needs write "
            "permission on the store and its directory"
        )

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from None

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        """``execute`` for many rows of parameters (one statement prepared once)."""
        try:
            return self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: sqlite3.OperationalError) -> Exception:
        """What a failed statement means to the person: a read-only store, a
        full disk (one line each); else the engine's own error."""
        if self.readonly and "readonly" in str(exc):
            return self._readonly_error()
        if "full" in str(exc):
            return StoreError(
                f"disk full writing {self.path}: nothing was stored; free space and run again")
        return exc

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def insert(self, table: str, row: dict[str, Any]) -> int:
        key = (table, *row)
        sql = _INSERTS.get(key)
        if sql is None:
            sql = _INSERTS[key] = (f"INSERT INTO {table} ({', '.join(row)}) "
                                   f"VALUES ({', '.join('?' * len(row))})")
        cur = self.execute(sql, list(row.values()))
        return int(cur.lastrowid or 0)

    def update(self, table: str, id_: int, fields: dict[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*fields.values(), id_])

    def close(self) -> None:
        self.conn.close()

    def size_bytes(self) -> int:
        """What the store takes (``db info``): the database file."""
        return self.path.stat().st_size

    def files_location(self) -> str | None:
        """Where attachment bytes live, for ``db info``: their directory
        (None: inside the database)."""
        return str(self.files_dir)

    def changed(self) -> bool:
        """Did this connection write anything since it opened?"""
        return bool(self.conn.total_changes)

    def durable_commits(self) -> None:
        """Every commit reaches the disk before it returns (the WAL is
        fsync'd each time), for a server that acknowledges what it stored."""
        self.conn.execute("PRAGMA synchronous = FULL")

    def after_restore(self) -> None:
        """After rows were written with their own ids (an import): SQLite's
        next rowid follows by itself (PostgreSQL moves its sequences)."""

    def sync_lock_file(self) -> Path | None:
        """The file ``sync`` locks, one sync per store at a time (None on
        PostgreSQL, where each channel entry has its own lock)."""
        return Path(str(self.path) + ".lock")

    @contextmanager
    def entry_lock(self, account: str) -> Iterator[bool]:
        """Whether this process may pull channel entry ``account`` now. On
        SQLite the store's sync lock already makes it the only one."""
        yield True

    def serialize_ingest(self) -> None:
        """Inside a write transaction: let no other process store inbound
        messages until it ends, so finding a customer's open ticket and
        opening one if there is none are one step. SQLite's ``BEGIN
        IMMEDIATE`` already holds the one write lock."""

    @contextmanager
    def housekeeping_lock(self) -> Iterator[bool]:
        """Whether this process may do the store-wide housekeeping after a
        sync now (close, wake, CSAT, notify): on PostgreSQL every machine
        syncs, and two doing it at once would send a notification or a
        satisfaction question twice. On SQLite the sync lock already
        makes it the only one."""
        yield True

    # -- attachment files -------------------------------------------------

    def put_file(self, data: bytes) -> str:
        """Store bytes content-addressed; returns the SHA-256 hex. Inside a
        transaction the file is in place and durable by ``COMMIT``; outside
        one, on return."""
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        target = self.file_path(digest)
        if digest in self._pending:
            return digest
        if target.exists():
            # In place means fsync'd (see _flush_files); its directory entry
            # is made durable with this transaction's files.
            self._pending_dirs.add(target.parent)
            return digest
        tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
        try:
            self._private_dirs(target.parent)
            tmp.unlink(missing_ok=True)
            with os.fdopen(create_private(tmp), "wb") as fh:
                fh.write(data)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._file_error(exc) from None
        except BaseException:  # interrupted (Ctrl-C, SIGTERM, SIGHUP): leave nothing half-written
            tmp.unlink(missing_ok=True)
            raise
        self._pending[digest] = tmp
        if not self.conn.in_transaction:
            self._flush_files()
        return digest

    def _private_dirs(self, directory: Path) -> None:
        """``private_dir``, remembering the parents of what it creates (a
        new directory's entry needs its parent fsync'd)."""
        if not directory.exists():
            self._pending_dirs.add(directory.parent)
            if not directory.parent.exists():
                self._pending_dirs.add(directory.parent.parent)
            private_dir(directory)
        self._pending_dirs.add(directory)

    def _file_error(self, exc: OSError) -> StoreError:
        return StoreError(f"cannot write attachment under {self.files_dir}: {exc.strerror}; "
                          "free space and run again")

    def _flush_files(self) -> None:
        """Make this transaction's files durable and put them in place:
        fsync every temporary file, rename each to its name, fsync every
        directory involved. The fsyncs run in parallel (the journal commits
        once for all of them), then the renames, so a name in place always
        holds fsync'd bytes."""
        if not self._pending and not self._pending_dirs:
            return
        pending = list(self._pending.items())
        try:
            _fsync_all([tmp for _, tmp in pending], directory=False)
            for digest, tmp in pending:
                target = self.file_path(digest)
                if target.exists():
                    tmp.unlink()  # another writer put the same bytes in place
                else:
                    os.replace(tmp, target)
                self._pending_dirs.add(target.parent)
                del self._pending[digest]
            _fsync_all(sorted(self._pending_dirs), directory=True)
        except OSError as exc:
            self._drop_pending_files()
            raise self._file_error(exc) from None
        self._pending_dirs.clear()

    def _drop_pending_files(self) -> None:
        """A transaction that rolls back leaves no temporary file behind
        (files already in place stay: a file with no row is harmless)."""
        for tmp in self._pending.values():
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        self._pending.clear()
        self._pending_dirs.clear()

    def read_file(self, sha256: str) -> bytes:
        path = self._pending.get(sha256) or self.file_path(sha256)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise StoreError(f"attachment {sha256[:12]} is missing from {self.files_dir}") from None
        except OSError as exc:
            raise StoreError(f"cannot read attachment {sha256[:12]} in {self.files_dir}: "
                             f"{exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def remove_stale_temp_files(self) -> int:
        """Delete attachment temp files (``.<sha256>.<pid>.tmp``,
        ``.stream.<uuid>.<pid>.tmp``) left by a
        process that died mid-write (kill -9, power loss); a live writer's
        are kept. Returns how many were removed."""
        removed = 0
        for tmp in [*self.files_dir.glob("??/.*.tmp"), *self.files_dir.glob(".stream.*.tmp")]:
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and _alive(int(pid)):
                continue
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
        return removed

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store content that comes in pieces (a large attachment decoded as
        it goes), never holding it whole; returns (SHA-256 hex, size).
        Durable as ``put_file``'s."""
        import hashlib
        import uuid

        self._private_dirs(self.files_dir)
        # The pid last, as put_file's: remove_stale_temp_files reads it there.
        tmp = self.files_dir / f".stream.{uuid.uuid4().hex}.{os.getpid()}.tmp"
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(create_private(tmp), "wb") as fh:
                for piece in chunks:
                    digest.update(piece)
                    fh.write(piece)
                    size += len(piece)
            hexdigest = digest.hexdigest()
            target = self.file_path(hexdigest)
            if hexdigest in self._pending or target.exists():
                tmp.unlink()
                if hexdigest not in self._pending:
                    self._pending_dirs.add(target.parent)
            else:
                self._private_dirs(target.parent)
                self._pending[hexdigest] = tmp
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._file_error(exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if not self.conn.in_transaction:
            self._flush_files()
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
        """Where an attachment's bytes live; raises ``UnsafePath`` for
        anything that is not a SHA-256 inside ``files_dir``."""
        return attachment_path(self.files_dir, sha256)

    def drop_unused_files(self, digests: set[str]) -> None:
        for digest in digests:
            try:
                path = self.file_path(digest)
            except UnsafePath:
                continue  # a damaged row names no file of ours: nothing to remove
            if not self.scalar("SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1", [digest]):
                path.unlink(missing_ok=True)

    def backup(self, target: Path) -> dict[str, int]:
        """A consistent copy of the database at ``target`` (0600) and of
        every attachment file it refers to, beside it as ``files_dir_for
        (target)``, so ``--db target`` opens everything. Safe while others
        write: the database is copied with SQLite's online backup first, and
        files are never removed while a row points at them."""
        import shutil

        target_files = files_dir_for(target)
        for p in (target, target_files):
            if os.path.lexists(p):
                raise UsageError(f"{p} exists: choose a new path")
        try:
            private_dir(target.parent)
            os.close(create_private(target))
        except OSError as exc:
            raise UsageError(f"cannot create {target}: {exc.strerror}") from None
        dest = sqlite3.connect(str(target))
        try:
            self.conn.backup(dest)
            digests = [r[0] for r in dest.execute("SELECT DISTINCT sha256 FROM attachments")]
        finally:
            dest.close()
        try:
            return self._copy_files(digests, target_files)
        except BaseException:
            # Half a backup must not pass for one.
            target.unlink(missing_ok=True)
            shutil.rmtree(target_files, ignore_errors=True)
            raise

    def _copy_files(self, digests: list[str], target_files: Path) -> dict[str, int]:
        import shutil

        out = {"files": 0, "bytes": 0, "missing": 0}
        private_dir(target_files)
        for digest in digests:
            if not valid_digest(digest):
                continue  # a damaged row names no file of ours
            src = self.file_path(digest)
            dst = attachment_path(target_files, digest)
            private_dir(dst.parent)
            try:
                with open(src, "rb") as fin, os.fdopen(create_private(dst), "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
            except FileNotFoundError:
                # Lost before this backup (by hand): nothing to copy; say so.
                attachment_path(target_files, digest).unlink(missing_ok=True)
                out["missing"] += 1
                continue
            except OSError as exc:
                raise StoreError(f"cannot copy attachment {digest[:12]} to {target_files}: "
                                 f"{exc.strerror}") from None
            out["files"] += 1
            out["bytes"] += dst.stat().st_size
        return out

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
                "detail": event_detail(detail),
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


def _tighten(db: Path, files_dir: Path) -> None:
    """Stores made before files were private: make ours 0600/0700. Someone
    else's store (opened read-only) is left alone."""
    uid = os.getuid()
    for path, mode in ((db, 0o600), (Path(f"{db}-wal"), 0o600), (Path(f"{db}-shm"), 0o600),
                       (files_dir, 0o700)):
        try:
            st = os.stat(path, follow_symlinks=False)
            if st.st_uid == uid and st.st_mode & 0o077 and not stat.S_ISLNK(st.st_mode):
                os.chmod(path, mode)
        except OSError:
            continue


def _fsync_all(paths: Sequence[Path], *, directory: bool) -> None:
    """fsync each of ``paths``; several at once from threads (fsync lets go
    of the GIL), so the file system can commit them in one journal
    transaction: one fsync at a time cost about 7 ms a file here."""
    def one(path: Path) -> None:
        fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    if len(paths) <= 1:
        for path in paths:
            one(path)
        return
    for _ in _fsync_pool().map(one, paths):
        pass


_FSYNC_POOL: list[Any] = []


def _fsync_pool() -> Any:
    """The threads ``_fsync_all`` runs on, started once per process: a
    pool per call started up to 16 threads twice a batch (the files, then
    their directories), some 800 thread starts in a 5 000-mail first sync,
    each a wait of about a millisecond for the writer."""
    if not _FSYNC_POOL:
        from concurrent.futures import ThreadPoolExecutor

        _FSYNC_POOL.append(ThreadPoolExecutor(max_workers=16, thread_name_prefix="supportctl-fsync"))
    return _FSYNC_POOL[0]


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _writable(path: Path) -> bool:
    """May this process write the store? A new store: its directory must
    be writable; an existing one: the file and its directory (WAL keeps
    ``-wal`` and ``-shm`` files beside it)."""
    directory = path.parent
    if not path.exists():
        return True  # creating it reports its own error if it cannot
    return os.access(path, os.W_OK) and os.access(directory, os.W_OK | os.X_OK)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes: no WAL or ``-shm`` file is created,
    no migration is tried.

    ``mode=ro`` reads a WAL store through its ``-shm`` file when a writer
    has it open. When none has (no ``-shm`` beside it) and the directory is
    not writable, SQLite cannot create one; then the file alone is the whole
    store and ``immutable=1`` reads it without any locking file. A writer
    starting meanwhile appends to its ``-wal``, which this short read does
    not see, and only a checkpoint would change the file under it."""
    from urllib.parse import quote

    uri = "file:" + quote(str(path.resolve()))
    shm = Path(str(path) + "-shm")
    if shm.exists() or os.access(path.parent, os.W_OK | os.X_OK):
        options = "?mode=ro"
    else:
        options = "?mode=ro&immutable=1"
    return sqlite3.connect(uri + options, uri=True, timeout=30.0, isolation_level=None,
                           check_same_thread=False)


@contextmanager
def _creation_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<db>.init.lock`` (0600), released when
    the block ends or the process dies."""
    import fcntl

    lock = Path(str(path) + ".init.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create {lock}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_store(path: Path | str, *, create: bool = True, command: str = "",
               migrate: bool = True) -> Store:
    """The store at ``path``: a SQLite file, or a ``postgresql://`` URL
    (SPEC §13), where ``command`` (the words after ``supportctl``) must be
    one ported there (``engine.require_ported``); a reading command
    (``engine.READERS``) gets it on the wire protocol or libpq rather than
    psycopg when it can
    (``pq.open_reader``). ``migrate`` False leaves a pending schema change
    to ``Store.migrate`` (``db migrate``)."""
    from supportctl.store.engine import READERS, is_url, require_ported

    if is_url(path):
        if command:
            require_ported(command)
        if migrate and command.split()[:1] and command.split()[0] in READERS:
            # Reading commands start without psycopg (SPEC §8).
            from supportctl.store.pq import open_reader

            found = open_reader(str(path))
            if found is not None:
                return found
        from supportctl.store.pg import PgStore

        return PgStore(str(path), create=create, migrate=migrate)
    try:
        return Store(path, create=create, migrate=migrate)
    except sqlite3.OperationalError as exc:
        raise UsageError(f"cannot open store {path}: {exc}") from None
