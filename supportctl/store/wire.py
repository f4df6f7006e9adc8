"""PostgreSQL for the reading commands, on the server's own wire protocol.

Why: SPEC §8 gives ``list``, ``show`` and ``search`` on PostgreSQL the
budget of SQLite's (a bare typer app + 40 ms). ``pq.PqConnection`` reads
through the system's libpq, and loading it costs about 7 ms here (libpq
links two dozen libraries: OpenSSL, Kerberos, LDAP, all bound at once as
``ctypes`` loads them), then a call through ``ctypes`` per value read. A
reading command needs little of what libpq does: a socket, a start-up
message, a password at most, and rows as text. No well-kept pure-Python
driver is light enough (``import pg8000`` takes 140 ms: dateutil,
scramp, importlib.metadata), so this module speaks the protocol itself
(version 3.0, PostgreSQL's documentation, "Frontend/Backend Protocol")
for the connections where that is plainly enough, and leaves the rest
to libpq.

Contract: ``WireConnection`` is ``pq.PqConnection`` (the same statements,
parameters, values, rows and errors) over a socket. It is used only for
a URL whose every part it understands (``plain``):
- a Unix-domain socket (``host`` a directory) or TCP with
  ``sslmode=disable``: anything that may need TLS or GSSAPI goes to libpq;
- one host, and only these keywords: host, port, dbname, user,
  password, options, application_name, connect_timeout, sslmode;
- no ``PG*`` variable in the environment (libpq reads a dozen, and a
  service file or password file through them).

Authentication: none (trust, peer), a password in the clear, MD5, or
SCRAM-SHA-256 (an ASCII password; libpq normalises others with SASLprep).
Whatever else the server asks (a password the URL does not hold, which
libpq would look up in ``~/.pgpass``; Kerberos; a channel-bound SCRAM),
or any failure before the session is ready, and the connection is made
again by libpq, so what a user sees then (a refused connection's line
included) is exactly what libpq gives. A connection that cannot be
reached in ``CONNECT_TIMEOUT`` seconds fails as libpq's does, without a
second wait.
"""

from __future__ import annotations

# The C module under ``socket``: all a client needs (connect, send, recv,
# timeouts), without ``socket.py``'s enums and its ``selectors`` import, 5 ms
# of every reading command's start on PostgreSQL (``-X importtime``).
import _socket as socket
import os
import struct
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from supportctl.store.db import StoreError
from supportctl.store.engine import redact
from supportctl.store.pg import _WRITE, _row_class
from supportctl.store.pq import (
    _LOADERS,
    CONNECT_TIMEOUT,
    SESSION,
    SESSION_SET,
    NoLibpq,
    PqConnection,
    PqError,
    RefusedOptions,
    _Column,
    _param,
    _text,
    libpq,
    numbered,
    raise_for,
    refuses_options,
)

#: The URL keywords this module handles itself (see the module docstring).
_KEYWORDS = {"host", "port", "dbname", "user", "password", "options", "application_name",
             "connect_timeout", "sslmode"}
#: Command tags whose last word is a count of rows (libpq's PQcmdTuples).
_COUNTED = {"INSERT", "UPDATE", "DELETE", "SELECT", "MERGE", "MOVE", "FETCH", "COPY"}
_I16, _I32 = struct.Struct("!h"), struct.Struct("!i")


class _UseLibpq(Exception):
    """This connection is libpq's to make (see the module docstring)."""


def plain(url: str) -> dict[str, str] | None:
    """What ``url`` connects to, when this module can make the connection
    on its own; None when libpq must."""
    if any(k.startswith("PG") for k in os.environ):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("postgresql", "postgres") or parts.fragment or "," in parts.netloc:
        return None
    given: dict[str, str] = {}
    if parts.username:
        given["user"] = unquote(parts.username)
    if parts.password is not None:
        given["password"] = unquote(parts.password)
    where = parts.netloc.rpartition("@")[2]
    if port:
        where = where.rpartition(":")[0]
    if where:
        given["host"] = unquote(where.strip("[]"))
    if port:
        given["port"] = str(port)
    if parts.path.strip("/"):
        given["dbname"] = unquote(parts.path[1:])
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _KEYWORDS:
            return None
        given[key] = value
    host = given.get("host", "")
    if not host or "," in host or "," in given.get("port", ""):
        return None  # libpq's compiled-in default socket, or several hosts
    if not host.startswith("/") and given.get("sslmode") != "disable":
        return None  # TCP: libpq tries TLS (and GSSAPI) first
    if host.startswith("/") and given.get("sslmode", "prefer") not in ("disable", "allow", "prefer"):
        return None
    if not given.get("port", "5432").isdigit() or any("\x00" in v for v in given.values()):
        return None
    if "user" not in given:
        import pwd

        given["user"] = pwd.getpwuid(os.geteuid()).pw_name
    given.setdefault("dbname", given["user"])
    return given


def connection(url: str) -> PqConnection:
    """The reading commands' connection to ``url``: on the wire when the
    URL is plain, else (or when the server wants what only libpq does) on
    libpq."""
    target = plain(url)
    if target is not None:
        try:
            return WireConnection(url, target)
        except _UseLibpq:
            pass
    if libpq() is None:
        raise NoLibpq
    return PqConnection(url)


class WireConnection(PqConnection):
    """``pq.PqConnection`` over a socket (see the module docstring)."""

    def __init__(self, url: str, target: dict[str, str]) -> None:
        self.url = url
        self.total_changes = 0
        self.in_block = False
        self._target = target
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._status = b"I"
        #: The session's settings go as statements, not at start-up
        #: (``pq.SESSION_SET``): set once the server has refused them there.
        self._session_by_set = False
        self._connect_wire()

    # -- connecting --------------------------------------------------------

    def _connect_wire(self) -> None:
        t = self._target
        host, port = t["host"], int(t.get("port") or 5432)
        try:
            timeout = float(t.get("connect_timeout") or CONNECT_TIMEOUT)
        except ValueError:
            raise _UseLibpq from None
        if timeout <= 0:
            timeout = float(CONNECT_TIMEOUT)
        try:
            if host.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: Any = f"{host.rstrip('/')}/.s.PGSQL.{port}"
            else:
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                     socket.SOCK_STREAM)
                address = (host, port)
        except OSError:
            raise _UseLibpq from None
        self._sock = sock
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            self._start()
            sock.settimeout(None)
        except RefusedOptions:
            # A pooler: again without them, and they are set by statement.
            self._drop()
            self._session_by_set = True
            self._connect_wire()
            return
        except TimeoutError:
            self._drop()
            self._refused("connection timeout expired")
        except (OSError, _UseLibpq, PqError, ValueError, IndexError, struct.error):
            self._drop()
            raise _UseLibpq from None
        if self._session_by_set:
            self.command(SESSION_SET)

    def _start(self) -> None:
        t = self._target
        ours = "options" not in t and not self._session_by_set
        pairs = [("user", t["user"]), ("database", t["dbname"]), ("client_encoding", "UTF8")]
        if "options" in t or not self._session_by_set:  # the URL's own, else ours
            pairs.append(("options", t.get("options", SESSION)))
        if t.get("application_name"):
            pairs.append(("application_name", t["application_name"]))
        body = _I32.pack(196608) + b"".join(
            k.encode() + b"\0" + v.encode("utf-8") + b"\0" for k, v in pairs) + b"\0"
        self._send(_I32.pack(len(body) + 4) + body)
        scram: _Scram | None = None
        while True:
            kind, data = self._read()
            if kind == b"R":
                code = _I32.unpack_from(data)[0]
                if code == 0:
                    continue
                password = t.get("password")
                if password is None:
                    raise _UseLibpq  # libpq would look in ~/.pgpass
                if code == 3:
                    self._send_message(b"p", password.encode("utf-8") + b"\0")
                elif code == 5:
                    self._send_message(b"p", _md5(password, t["user"], data[4:8]))
                elif code == 10:
                    mechanisms = data[4:].split(b"\0")
                    if b"SCRAM-SHA-256" not in mechanisms or not password.isascii():
                        raise _UseLibpq
                    scram = _Scram(password)
                    first = scram.first()
                    self._send_message(b"p", b"SCRAM-SHA-256\0" + _I32.pack(len(first)) + first)
                elif code == 11 and scram is not None:
                    self._send_message(b"p", scram.final(data[4:]))
                elif code == 12 and scram is not None:
                    scram.verify(data[4:])
                else:
                    raise _UseLibpq
            elif kind == b"Z":
                self._status = data[:1]
                return
            elif kind == b"E":
                if ours and refuses_options(_fields(data)[1]):
                    raise RefusedOptions
                raise _UseLibpq  # libpq says it, in its words
            # S (a parameter), K (the cancel key), N (a notice): not needed

    def reconnect_if_lost(self) -> None:
        if self._sock is None and not self.in_block:
            self._buf.clear()
            try:
                self._connect_wire()
            except _UseLibpq:
                self._refused("server closed the connection unexpectedly")

    @property
    def in_transaction(self) -> bool:
        return self._sock is not None and self._status != b"I"

    # -- the socket ----------------------------------------------------------

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(data)

    def _send_message(self, kind: bytes, body: bytes) -> None:
        self._send(kind + _I32.pack(len(body) + 4) + body)

    def _read(self) -> tuple[bytes, bytes]:
        """The next message from the server: its type and its body."""
        buf = self._buf
        while len(buf) < 5:
            self._fill()
        size = _I32.unpack_from(buf, 1)[0] + 1
        while len(buf) < size:
            self._fill()
        kind = bytes(buf[:1])
        body = bytes(memoryview(buf)[5:size])
        del buf[:size]
        return kind, body

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection unexpectedly")
        self._buf += chunk

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._status = b"I"

    # -- statements --------------------------------------------------------

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any], *, failed: str = "failed"
             ) -> tuple[list[Any], list[_Column] | None, int]:
        if self._sock is None:
            raise StoreError(f"PostgreSQL store {redact(self.url)} {failed}: "
                             "the connection was lost")
        # Built before anything is sent: a value that cannot go (a NUL in a
        # text) fails this statement, not the connection.
        message = (b"Q" + _I32.pack(len(sql.encode("utf-8")) + 5) + sql.encode("utf-8") + b"\0"
                   if not params else _extended(sql, params))
        try:
            self._send(message)
            rows, columns, count, error = self._results(sql)
        except OSError as exc:  # ConnectionError included: the server went away
            self._drop()
            raise StoreError(f"PostgreSQL store {redact(self.url)} {failed}: "
                             f"{exc.strerror or exc}") from None
        except BaseException:
            self._drop()  # Ctrl-C half way through a reply: the rest is never read
            raise
        if error is not None:
            # The reply was read whole: the connection (and a failed
            # transaction, to roll back) is still there.
            raise_for(error[0], error[1], self.url, failed)
        return rows, columns, count

    def _results(self, sql: str) -> tuple[list[Any], list[_Column] | None, int,
                                          tuple[str, str] | None]:
        """Read up to ReadyForQuery: the last statement's rows, or the
        first error (SQLSTATE, message), as libpq's PQexec/PQexecParams
        report them."""
        rows: list[Any] = []
        columns: list[_Column] | None = None
        count = -1
        loads: list[Any] = []
        cls: Any = None
        error: tuple[str, str] | None = None
        while True:
            kind, data = self._read()
            if kind == b"D":
                rows.append(cls(_row(data, loads)))
            elif kind == b"T":
                names, oids = _description(data)
                cls = _row_class(names)
                loads = [_LOADERS.get(oid, _text) for oid in oids]
                columns, rows = [_Column(n) for n in names], []
            elif kind == b"C":
                tag = data.rstrip(b"\0").decode("ascii", "replace").split()
                count = int(tag[-1]) if tag and tag[0] in _COUNTED and tag[-1].isdigit() else -1
                if columns is None and count > 0 and _WRITE.match(sql):
                    self.total_changes += count
            elif kind == b"Z":
                self._status = data[:1]
                break
            elif kind == b"E" and error is None:
                error = _fields(data)
            elif kind == b"I":
                columns, rows, count = None, [], -1
            elif kind in (b"G", b"H", b"W"):  # COPY: never asked for by a reader
                raise ConnectionError("the server started a COPY, which this connection "
                                      "does not speak")
            # 1, 2, n, s (parse, bind, no data, suspended), S, N, A: nothing to keep
        if columns is not None:
            return rows, columns, len(rows), error
        return [], None, count, error

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._send_message(b"X", b"")
            except OSError:
                pass
            self._drop()


def _extended(sql: str, params: Sequence[Any] | dict[str, Any]) -> bytes:
    """Parse, Bind, Describe, Execute and Sync of one statement, as libpq's
    PQexecParams sends them: parameters in text (bytea in binary), results
    in text."""
    text, names = numbered(sql)
    if isinstance(params, dict):
        params = [params[n] for n in names]
    typed = [_param(v) for v in params]
    n = len(typed)
    parse = b"\0" + text.encode("utf-8") + b"\0" + _I16.pack(n) + b"".join(
        _I32.pack(oid) for _, oid, _, _ in typed)
    values = b"".join(_I32.pack(-1) if data is None else _I32.pack(len(data)) + data
                      for data, _, _, _ in typed)
    bind = (b"\0\0" + _I16.pack(n) + b"".join(_I16.pack(fmt) for _, _, _, fmt in typed)
            + _I16.pack(n) + values + _I16.pack(0))
    return b"".join((
        b"P", _I32.pack(len(parse) + 4), parse,
        b"B", _I32.pack(len(bind) + 4), bind,
        b"D", _I32.pack(6), b"P\0",
        b"E", _I32.pack(9), b"\0", _I32.pack(0),
        b"S", _I32.pack(4),
    ))


def _description(data: bytes) -> tuple[tuple[str, ...], list[int]]:
    n = _I16.unpack_from(data)[0]
    at, names, oids = 2, [], []
    for _ in range(n):
        end = data.index(b"\0", at)
        names.append(data[at:end].decode("utf-8"))
        oids.append(struct.unpack_from("!I", data, end + 7)[0])
        at = end + 19  # table oid, column number, type oid, size, modifier, format
    return tuple(names), oids


def _row(data: bytes, loads: list[Any]) -> list[Any]:
    at = 2
    out: list[Any] = []
    unpack = _I32.unpack_from
    for load in loads:
        size = unpack(data, at)[0]
        at += 4
        if size < 0:
            out.append(None)
        else:
            out.append(load(data[at:at + size]))
            at += size
    return out


def _fields(data: bytes) -> tuple[str, str]:
    """The SQLSTATE and the message of an ErrorResponse."""
    state = message = ""
    for part in data.split(b"\0"):
        if part[:1] == b"C":
            state = part[1:].decode("ascii", "replace")
        elif part[:1] == b"M":
            message = part[1:].decode("utf-8", "replace")
    return state, message


def _md5(password: str, user: str, salt: bytes) -> bytes:
    import hashlib

    inner = hashlib.md5((password + user).encode("utf-8")).hexdigest().encode()  # noqa: S324
    return b"md5" + hashlib.md5(inner + bytes(salt)).hexdigest().encode() + b"\0"  # noqa: S324


class _Scram:
    """SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677), as the
    server asks for it."""

    def __init__(self, password: str) -> None:
        import base64
        import secrets

        self.password = password.encode()
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.bare = f"n=,r={self.nonce}"
        self.server_key = b""
        self.auth = b""

    def first(self) -> bytes:
        return ("n,," + self.bare).encode()

    def final(self, server_first: bytes) -> bytes:
        import base64
        import hashlib
        import hmac

        said = dict(p.split("=", 1) for p in server_first.decode().split(",") if "=" in p)
        nonce, salt, rounds = said["r"], base64.b64decode(said["s"]), int(said["i"])
        if not nonce.startswith(self.nonce):
            raise PqError("the server's SCRAM nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, rounds)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        self.auth = f"{self.bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored, self.auth, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.server_key = hmac.digest(salted, b"Server Key", "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        import base64
        import hmac

        said = dict(p.split("=", 1) for p in server_final.decode().split(",") if "=" in p)
        want = hmac.digest(self.server_key, self.auth, "sha256")
        if not hmac.compare_digest(base64.b64decode(said.get("v", "")), want):
            raise PqError("the server did not prove it knows the password")
