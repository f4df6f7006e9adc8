"""PostgreSQL for the reading commands, on libpq through ``ctypes``.

Why: SPEC §8 gives ``list``, ``show`` and ``search`` on PostgreSQL the
same budget as on SQLite (a bare typer app + 40 ms), and ``import
psycopg`` alone executes about 510 M instructions (asyncio, ssl, a class
per SQLSTATE, its own libpq), twice the whole bare app. Loading the
system's ``libpq.so.5`` (Debian's ``libpq5``) through ``ctypes`` costs a
few milliseconds. So ``open_store`` opens the store of a reading command
(``engine.READERS``) on a ``PqConnection`` (or, for a server reached
without TLS, on ``wire.WireConnection``, which is this class speaking the
protocol itself and skips even libpq); every other command, and a store
whose schema needs a migration, still gets psycopg's ``PgConnection``,
and so does a reading command when libpq cannot be loaded.

Contract: ``PqConnection`` is ``pg.PgConnection``'s interface, as much of
it as ``PgStore`` and the reading commands use (``execute``, ``cursor``,
``fetchone``/``fetchall``/``fetchmany``/iteration, ``rowcount``,
``in_transaction``, ``command``, ``commit``), with the same results:
- parameters as psycopg sends them (``PQexecParams``, ``$n`` marks made
  from SQLite's ``?`` and ``:name``): ``str`` and ``None`` untyped, ints as
  int2/int4/int8/numeric by size, floats float8, bools bool, bytes bytea
  (binary); a statement without parameters goes by ``PQexec``;
- result columns decoded by type OID as psycopg does: int2/4/8 and oid →
  ``int``, float4/8 and numeric → ``float`` (numeric as ``PgConnection``
  registers it), bool, bytea → ``bytes``, json/jsonb → parsed, NULL →
  ``None``; every other type (text, varchar, name, …) → ``str``. Rows read
  by position and by name (``pg.RowBase``);
- errors as ``PgConnection``'s: a broken key is ``PgIntegrityError``, a
  server that fails, cancels or drops the connection a ``StoreError`` (one
  line, no password), a connection refused or rejected the same one line
  as psycopg's.

Limits: no ``executemany``, ``COPY``, ``LISTEN`` or migrations (the
writing commands, ``db copy`` and ``db migrate`` use psycopg); dates,
times, arrays and other types come back as their text (the schema keeps
times as text, and no reading query selects such a column); each result
is read whole into memory, as psycopg's client-side cursor does; every
value costs one call through ``ctypes``, which is why bulk readers
(``export``) stay on psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from supportctl.store.db import StoreError
from supportctl.store.engine import redact
from supportctl.store.pg import _TOKENS, _WRITE, PgIntegrityError, PgStore, _row_class

_CONNECTION_OK, _CONNECTION_BAD = 0, 1
_POLL_FAILED, _POLL_READING, _POLL_WRITING, _POLL_OK = 0, 1, 2, 3
_COMMAND_OK, _TUPLES_OK = 1, 2
_TRANS_IDLE, _TRANS_UNKNOWN = 0, 4
_DIAG_SQLSTATE, _DIAG_PRIMARY = ord("C"), ord("M")
#: Seconds to connect, as ``PgConnection`` asks psycopg.
CONNECT_TIMEOUT = 10
#: SQLSTATE classes psycopg raises as ``OperationalError`` (which
#: ``PgConnection`` turns into a ``StoreError``): connection, resources,
#: limits, state, operator intervention, system, configuration, rollback.
_OPERATIONAL = ("08", "53", "54", "55", "57", "58", "F0", "HV", "40")

#: The reading commands' session (server settings sent as the connection
#: starts: no round trip). Their statements are short, and some are planned
#: for their first rows (a cursor that walks the messages newest first and
#: stops at the page): judged by the whole walk's cost, such a plan started
#: the JIT compiler (10-30 ms of LLVM for a statement that reads 2 ms of
#: rows) or parallel workers (new processes, each loading the catalog and
#: the text search dictionaries again: 18 ms for a look at 2 000 messages).
SESSION = "-c jit=off -c max_parallel_workers_per_gather=0"
#: The same settings as statements, for a server that refuses them at
#: start-up: a connection pooler. PgBouncer refuses every start-up
#: parameter it does not track, ``options`` among them ("unsupported
#: startup parameter: options"), unless its admin lists it in
#: ``ignore_startup_parameters``; the connection is then made again
#: without them, and these run on it (one round trip).
SESSION_SET = "SET jit = off; SET max_parallel_workers_per_gather = 0"


def refuses_options(message: str) -> bool:
    """The server refused the start-up parameter ``options`` (a pooler's
    answer: see ``SESSION_SET``)."""
    return "startup parameter" in message and "options" in message

_LIB: list[Any] = []


def libpq() -> Any | None:
    """The libpq shared library with the functions used here declared, or
    None when it cannot be loaded (looked for once per process)."""
    if not _LIB:
        _LIB.append(_load())
    return _LIB[0]


def _load() -> Any | None:
    import ctypes

    lib = None
    try:
        lib = ctypes.CDLL("libpq.so.5")  # Debian's libpq5: no ldconfig run
    except OSError:
        from ctypes.util import find_library  # runs ldconfig: only when the name failed

        name = find_library("pq")
        try:
            lib = ctypes.CDLL(name) if name else None
        except OSError:
            lib = None
    if lib is None:
        return None
    p, i, u, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p
    for name, res, args in (
        ("PQconnectStartParams", p, [ctypes.POINTER(s), ctypes.POINTER(s), i]),
        ("PQconnectPoll", i, [p]), ("PQstatus", i, [p]), ("PQsocket", i, [p]),
        ("PQerrorMessage", s, [p]), ("PQfinish", None, [p]), ("PQtransactionStatus", i, [p]),
        ("PQexec", p, [p, s]),
        ("PQexecParams", p, [p, s, i, ctypes.POINTER(u), ctypes.POINTER(s),
                             ctypes.POINTER(i), ctypes.POINTER(i), i]),
        ("PQresultStatus", i, [p]), ("PQresultErrorField", s, [p, i]),
        ("PQntuples", i, [p]), ("PQnfields", i, [p]), ("PQfname", s, [p, i]),
        ("PQftype", u, [p, i]), ("PQgetvalue", s, [p, i, i]), ("PQgetisnull", i, [p, i, i]),
        ("PQcmdTuples", s, [p]), ("PQclear", None, [p]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    # Called for every value read: without argtypes, which ctypes checks
    # and converts argument by argument (1.2 µs a call here, 0.7 without).
    # Their result must be passed as a c_void_p; row and column are ints.
    value_at, null_at = lib["PQgetvalue"], lib["PQgetisnull"]
    value_at.restype, null_at.restype = s, i
    lib.value_at, lib.null_at = value_at, null_at  # type: ignore[attr-defined]
    return lib


def _bytea(v: bytes) -> bytes:
    return bytes.fromhex(v[2:].decode("ascii"))  # the hex format: \x0a1b…


def _json(v: bytes) -> Any:
    import json

    return json.loads(v)


#: Result decoders by type OID (text format); NULL is tested first.
_LOADERS: dict[int, Any] = {
    16: lambda v: v == b"t", 17: _bytea, 20: int, 21: int, 23: int, 26: int,
    700: float, 701: float, 1700: float, 114: _json, 3802: _json,
}


def _text(v: bytes) -> str:
    return v.decode("utf-8")


@lru_cache(maxsize=512)
def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQLite's parameter marks as libpq's ``$1``, ``$2``…; the names of
    ``:name`` marks in their ``$n`` order (empty for ``?`` marks)."""
    names: list[str] = []
    count = [0]

    def sub(m: Any) -> str:
        tok: str = m.group(0)
        if tok == "?":
            count[0] += 1
            return f"${count[0]}"
        if m.group(1):
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"
        return tok

    return _TOKENS.sub(sub, sql), tuple(names)


def _param(v: Any) -> tuple[bytes | None, int, int, int]:
    """(data, type OID, length, format) of one parameter, as psycopg types it."""
    if v is None:
        return None, 0, 0, 0
    if isinstance(v, bool):
        return (b"t" if v else b"f"), 16, 0, 0
    if isinstance(v, int):
        oid = 21 if -(2**15) <= v < 2**15 else 23 if -(2**31) <= v < 2**31 \
            else 20 if -(2**63) <= v < 2**63 else 1700
        return str(v).encode(), oid, 0, 0
    if isinstance(v, float):
        text = repr(v) if v == v and v not in (float("inf"), float("-inf")) else \
            {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(v)]
        return text.encode(), 701, 0, 0
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return v.encode("utf-8"), 0, 0, 0
    if isinstance(v, bytes | bytearray | memoryview):
        data = bytes(v)
        return data, 17, len(data), 1
    raise TypeError(f"cannot pass a {type(v).__name__} to PostgreSQL here")


class _Column:
    """A column of ``description`` (its ``name``, as psycopg's)."""

    def __init__(self, name: str) -> None:
        self.name = name


class PqCursor:
    """``pg.PgCursor``'s interface: one statement's rows, read whole."""

    def __init__(self, conn: PqConnection) -> None:
        self._conn = conn
        conn.reconnect_if_lost()
        self.row_factory: Any = None  # accepted, as sqlite3's; rows always read both ways
        self.lastrowid: int | None = None
        self.rowcount = -1
        self.description: list[_Column] | None = None
        self._rows: list[Any] = []
        self._at = 0

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PqCursor:
        self._rows, self.description, self.rowcount = self._conn._run(sql, params)
        self._at = 0
        return self

    def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def fetchmany(self, size: int = 100) -> list[Any]:
        rows = self._rows[self._at:self._at + size]
        self._at += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._at < len(self._rows):
            self._at += 1
            yield self._rows[self._at - 1]

    def close(self) -> None:
        self._rows = []


class RefusedOptions(Exception):
    """The server refused the session's start-up settings (``SESSION_SET``);
    raised while connecting, by both connections here."""


class PqConnection:
    """``pg.PgConnection`` on libpq (see the module docstring)."""

    def __init__(self, url: str) -> None:
        lib = libpq()
        if lib is None:  # pragma: no cover - open_reader checks first
            raise StoreError("libpq cannot be loaded")
        self._lib = lib
        self.url = url
        self.total_changes = 0
        #: Inside ``PgStore.tx()``: a lost connection is not replaced there.
        self.in_block = False
        #: The session's settings go as statements, not at start-up
        #: (``SESSION_SET``): set once the server has refused them there.
        self._session_by_set = False
        self._conn = self._connect()

    def _connect(self) -> int:
        """A connection in autocommit (libpq's own state), as psycopg opens
        it: started, then polled until ready, with its messages; made again
        without the session's start-up settings when the server (a pooler)
        refuses them, which are then set by statement."""
        try:
            conn = self._start_connection()
        except RefusedOptions:
            self._session_by_set = True
            conn = self._start_connection()
        if self._session_by_set:
            self._conn = conn
            try:
                self._run(SESSION_SET, ())
            except BaseException:
                self._lib.PQfinish(conn)
                raise
        return conn

    def _start_connection(self) -> int:
        import ctypes
        import os
        import select
        import time

        lib = self._lib
        arr = ctypes.c_char_p * 5
        # The session's settings, then the URL's own (its options= replace
        # them); UTF-8 and the timeout as PgConnection's. Given here, the
        # options keyword hides PGOPTIONS, which therefore comes after ours.
        ours = not self._session_by_set
        options = " ".join(filter(None, (SESSION if ours else "", os.environ.get("PGOPTIONS"))))
        conn = lib.PQconnectStartParams(
            arr(b"options", b"dbname", b"client_encoding", b"connect_timeout", None),
            arr(options.encode(), self.url.encode(), b"UTF8", str(CONNECT_TIMEOUT).encode(),
                None), 1)
        if not conn:
            raise MemoryError("libpq could not allocate a connection")
        deadline = time.monotonic() + CONNECT_TIMEOUT
        try:
            while True:
                if lib.PQstatus(conn) == _CONNECTION_BAD:
                    self._refused("connection is bad: " + self._message(conn))
                state = lib.PQconnectPoll(conn)
                if state == _POLL_OK:
                    return int(conn)
                if state == _POLL_FAILED:
                    why = self._message(conn)
                    if ours and refuses_options(why):
                        raise RefusedOptions
                    self._refused("connection failed: " + why)
                sock = lib.PQsocket(conn)
                left = deadline - time.monotonic()
                if left <= 0:
                    self._refused("connection timeout expired")
                reading = state == _POLL_READING
                ready = select.select([sock] if reading else [], [] if reading else [sock], [],
                                      left)
                if not any(ready):
                    self._refused("connection timeout expired")
        except BaseException:
            lib.PQfinish(conn)
            raise

    def _refused(self, why: str) -> None:
        # The same line as PgConnection's.
        raise StoreError(f"cannot connect to {redact(self.url)}: {_first(why)}; check "
                         "the server is running and the URL (role, database, host)")

    def _message(self, conn: int) -> str:
        return (self._lib.PQerrorMessage(conn) or b"").decode("utf-8", "replace")

    def reconnect_if_lost(self) -> None:
        """As ``PgConnection.reconnect_if_lost``: a connection the server
        dropped is opened again, outside a transaction only."""
        if self._lib.PQstatus(self._conn) != _CONNECTION_OK and not self.in_block:
            self._lib.PQfinish(self._conn)
            self._conn = self._connect()

    @property
    def in_transaction(self) -> bool:
        return self._lib.PQtransactionStatus(self._conn) not in (_TRANS_IDLE, _TRANS_UNKNOWN)

    def cursor(self) -> PqCursor:
        return PqCursor(self)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PqCursor:
        return PqCursor(self).execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> PqCursor:
        raise StoreError("a reading command tried to write many rows: that needs psycopg")

    def command(self, sql: str) -> None:
        """As ``PgConnection.command``: one statement as written."""
        self._run(sql, ())

    def commit(self) -> None:
        """As ``PgConnection.commit``: one that fails is rolled back."""
        try:
            self._run("COMMIT", (), failed="failed to commit")
        except (StoreError, PgIntegrityError, PqError) as exc:
            if self.in_transaction:
                self._run("ROLLBACK", ())
            if isinstance(exc, PqError):
                raise StoreError(f"PostgreSQL store {redact(self.url)} failed to commit: {exc}"
                                 ) from None
            raise

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any], *, failed: str = "failed"
             ) -> tuple[list[Any], list[_Column] | None, int]:
        lib = self._lib
        if not params:
            res = lib.PQexec(self._conn, sql.encode("utf-8"))
        else:
            import ctypes

            text, names = numbered(sql)
            if isinstance(params, dict):
                params = [params[n] for n in names]
            n = len(params)
            data, oids, lengths, formats = zip(*map(_param, params), strict=True)
            res = lib.PQexecParams(self._conn, text.encode("utf-8"), n, (ctypes.c_uint * n)(*oids),
                                   (ctypes.c_char_p * n)(*data), (ctypes.c_int * n)(*lengths),
                                   (ctypes.c_int * n)(*formats), 0)
        try:
            status = lib.PQresultStatus(res) if res else -1
            if status == _TUPLES_OK:
                return self._rows(res)
            if status != _COMMAND_OK:
                self._fail(res, failed)
            changed = lib.PQcmdTuples(res)
            count = int(changed) if changed else -1
            if count > 0 and _WRITE.match(sql):
                self.total_changes += count
            return [], None, count
        finally:
            if res:
                lib.PQclear(res)

    def _rows(self, res: int) -> tuple[list[Any], list[_Column], int]:
        import ctypes

        lib = self._lib
        width = lib.PQnfields(res)
        names = tuple(lib.PQfname(res, c).decode("utf-8") for c in range(width))
        cls = _row_class(names)
        loads = [(c, _LOADERS.get(lib.PQftype(res, c), _text)) for c in range(width)]
        value, isnull, at = lib.value_at, lib.null_at, ctypes.c_void_p(res)
        rows = []
        for r in range(lib.PQntuples(res)):
            row = []
            for c, load in loads:
                v = value(at, r, c)
                # Text values never hold NUL: an empty one may be NULL.
                row.append(None if not v and isnull(at, r, c) else load(v))
            rows.append(cls(row))
        return rows, [_Column(n) for n in names], len(rows)

    def _fail(self, res: int, failed: str) -> None:
        lib = self._lib
        state = (lib.PQresultErrorField(res, _DIAG_SQLSTATE) or b"").decode() if res else ""
        primary = lib.PQresultErrorField(res, _DIAG_PRIMARY) if res else None
        why = primary.decode("utf-8", "replace") if primary else \
            _first(self._message(self._conn)) or "the server did not answer"
        raise_for(state, why, self.url, failed)

    def close(self) -> None:
        if self._conn:
            self._lib.PQfinish(self._conn)
            self._conn = 0


def raise_for(state: str, why: str, url: str, failed: str) -> None:
    """The error a statement that failed with SQLSTATE ``state`` and the
    message ``why`` raises, as ``PgConnection`` raises it."""
    if state.startswith("23"):
        raise PgIntegrityError(why)
    if state == "57014":
        raise StoreError(f"the PostgreSQL server cancelled a statement: {why}")
    if not state or state[:2] in _OPERATIONAL:
        raise StoreError(f"PostgreSQL store {redact(url)} {failed}: {why}")
    raise PqError(f"{why} (SQLSTATE {state})")


class PqError(Exception):
    """A statement the server refused for being wrong (syntax, a missing
    table, a bad value): a bug of ours, as psycopg's ``ProgrammingError``
    or ``DataError`` would be."""


def _first(text: str) -> str:
    for prefix in ("ERROR:  ", "FATAL:  "):
        text = text.removeprefix(prefix)
    return (text.strip().splitlines() or [""])[0]


class NoLibpq(Exception):
    """The connection needs libpq, and libpq cannot be loaded."""


def open_reader(url: str) -> PgStore | None:
    """The store at ``url`` for a reading command, on the wire protocol
    (``wire.py``) or libpq; None when the connection needs libpq and it
    cannot be loaded, or the store is not at the current schema (then
    psycopg's ``PgStore`` opens it and does what it does: migrate, or say
    there is none)."""
    from supportctl.store import pg_schema, wire

    try:
        store = PgStore(url, create=True, migrate=False, connection=wire.connection)
    except NoLibpq:
        return None
    if store.version != pg_schema.LATEST:
        store.close()
        return None
    return store
