"""Email: IMAP in (imaplib2), SMTP out (smtplib) — the ``imap`` channel.

Contract (on top of ``channels.base``):

- Sources are the configured ``folders`` (default ``[INBOX]``); a folder's
  cursor is ``"<UIDVALIDITY>:<last UID>"``. Identity is (folder,
  UIDVALIDITY, UID) only: never flags, UNSEEN, ``Date:`` or SEARCH SINCE as
  state (sync-rules R2, R9, R10).
- Nothing new costs one ``STATUS (UIDNEXT UIDVALIDITY)`` per folder and no
  SELECT or FETCH: with UIDVALIDITY unchanged and ``UIDNEXT - 1 <= last``
  nothing can have arrived (RFC 3501 §2.3.1.1, §6.3.10).
- Otherwise the folder is opened with EXAMINE (read-only, RFC 3501 §6.3.2:
  no ``\\Seen`` or ``\\Recent`` changes), new UIDs are listed with their
  sizes (``UID FETCH last+1:* (RFC822.SIZE)``, dropping UIDs <= last since
  ``n:*`` always names the highest message, §6.4.8), and bodies are fetched
  with ``BODY.PEEK[]`` in batches of at most ``BATCH_MESSAGES`` mails and
  about ``BATCH_BYTES``. Each ``Batch`` ends at its highest UID, so a crash
  refetches at most one uncommitted batch (ingest dedupes).
- ``since`` narrows only a folder's first sync (no cursor, or a changed
  UIDVALIDITY): ``UID SEARCH UID last+1:* SINCE <date>``, after which the
  cursor moves to the end of the folder so older mail is not fetched later.
- A changed UIDVALIDITY means every UID we hold is void: the folder is
  fetched again as on a first sync, and ingest's Message-ID dedupe keeps
  known mail from being stored twice (logged as a warning).
- A connection that drops mid-fetch is reopened (bounded: ``RECONNECTS``)
  and the folder resumes after the last batch handed out; past the bound
  the error is temporary and the next run resumes from the committed cursor.
- TLS (``ssl`` and ``starttls``, IMAP and SMTP) verifies the chain against
  the system CAs plus ``ca_file`` and checks the host name, unless
  ``tls_verify: false``; imaplib2 on its own checks neither (R20).
- Every exchange with a server has a deadline (``timeout``, default
  ``TIMEOUT``; a body FETCH or a send gets ``size / MIN_RATE`` more): the
  connect, the greeting and login together, each command, each SMTP
  session. Past it the socket is cut, whatever the server is doing (silent,
  or trickling a byte at a time), and the error is a ``ChannelTimeout``
  naming the server and what it was doing: temporary, so the next run tries
  again, but never retried within this run, which would hold the sync lock
  for another timeout each time (issue 7: a silent server held it 3 min).
- Connecting is otherwise retried with bounded backoff; errors are
  ``ChannelError`` (temporary for network trouble), ``AuthError`` or
  ``TLSError``, one line, never a secret.
- ``send`` builds the message with ``mail.compose``, sends it once (the
  outbox decides about retries) and, when ``smtp.save_sent`` names a folder,
  appends a ``\\Seen`` copy there; failing to save is reported in
  ``SendResult.error`` but does not fail the send.
"""

from __future__ import annotations

import logging
import math
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from supportctl.channels.base import BaseChannel
from supportctl.channels.retry import retry
from supportctl.errors import AuthError, ChannelError, ChannelTimeout, TLSError
from supportctl.models import Address, Batch, Inbound, Outbound, SendResult

if TYPE_CHECKING:
    import smtplib

log = logging.getLogger(__name__)

#: Seconds any one socket operation (connect, handshake, a response line)
#: may take before the run gives up on the server. Tests shrink it.
TIMEOUT = 60.0
#: Bytes per second a server must at least deliver: a body FETCH or a send
#: of N bytes may take ``timeout + N / MIN_RATE`` seconds.
MIN_RATE = 16 * 1024
#: Attempts to connect and log in (bounded backoff in ``retry``).
CONNECT_ATTEMPTS = 3
#: Reconnects allowed within one ``fetch`` after the connection dropped.
RECONNECTS = 2
#: Seconds ``close`` waits for the answer to LOGOUT before it drops the
#: connection (a goodbye: nothing is lost by not hearing it).
LOGOUT_SECONDS = 5.0
#: Batch bounds: few enough mails and bytes that a batch fits in memory
#: and one transaction, many enough to keep round trips few.
BATCH_MESSAGES = 200
BATCH_BYTES = 8 * 1024 * 1024
#: UID sets are sent as ``a:b`` ranges and split so a command line stays
#: short (RFC 2683 §3.2.1.5 suggests ~1000 octets).
MAX_SET_CHARS = 900

_IDENTIFIER = "supportctl-imap"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}\r?\n$")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


# -- imaplib2, loaded lazily --------------------------------------------------


_CLIENTS: dict[str, Any] = {}


class _Quiet:
    """imaplib2 writes its debug ring buffer to ``debug_file`` (stderr by
    default) when a connection breaks; a cron run must stay quiet."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _imaplib2() -> Any:
    import imaplib2

    return imaplib2


def _client_class(secure: bool) -> Any:
    """imaplib2's IMAP4 / IMAP4_SSL with our TLS, timeouts and start-up.

    Built on first use so that importing this module does not import
    imaplib2 (a heavy import kept off the start-up path)."""
    key = "ssl" if secure else "plain"
    if key in _CLIENTS:
        return _CLIENTS[key]
    imaplib2 = _imaplib2()
    module: Any = __import__(imaplib2.IMAP4.__module__, fromlist=["_"])
    if not isinstance(getattr(module, "time", None), _Clock):
        module.time = _Clock()

    class Client:
        """Mixin over imaplib2 3.6 (jazzband/imaplib2).

        - ``ssl_wrap_socket`` uses our ``SSLContext`` (chain and host name
          checked) for IMAPS and STARTTLS alike; imaplib2 builds a context
          with ``CERT_NONE`` unless given ``ca_certs`` and never checks
          the host name.
        - ``open_socket`` connects with a timeout; imaplib2 has none.
        - The greeting request is registered before the threads start, so
          the handler's fixed 0.1 s start-up sleep (a guard for exactly that
          race) can be skipped (see ``_Clock``).
        - Its debug output goes nowhere (``_init_debug``).
        - ``read`` raises at EOF: imaplib2 retries an empty read five times
          with 0.1 s sleeps, which makes every LOGOUT cost ~0.1-0.5 s.
        """

        host: str
        port: int
        sock: Any
        read_fd: int
        identifier: str
        inq: Any
        state: str
        read_size: int
        read_poll_timeout: float
        Terminate: bool
        TerminateReader: bool
        abort: Any
        untagged_responses: list[Any]

        def __init__(self, host: str, port: int, *, context: ssl.SSLContext | None,
                     timeout: float, fds: list[int]) -> None:
            self._context = context
            self._timeout = timeout
            self._fds = fds
            self._welcome: Any = None
            super().__init__(host=host, port=port, timeout=timeout,  # type: ignore[call-arg]
                             identifier=_IDENTIFIER)

        def _init_debug(self, debug: Any = None, debug_file: Any = None,
                        debug_buf_lvl: Any = None) -> None:
            # imaplib2 only accepts a debug_file of stderr's exact type.
            super()._init_debug(0, None, None)  # type: ignore[misc]
            self.debug_file = _Quiet()

        def open_socket(self) -> socket.socket:
            sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
            self._fds.append(sock.fileno())  # for the deadline to cut (``_cut``)
            return sock

        def open(self, host: str | None = None, port: int | None = None) -> None:
            super().open(host, port)  # type: ignore[misc]
            self.commands_lock = threading.Lock()  # created after open() by imaplib2
            self._welcome = super()._request_push(name="welcome", tag="continuation")  # type: ignore[misc]

        def _request_push(self, tag: Any = None, name: Any = None, **kw: Any) -> Any:
            if name == "welcome" and self._welcome is not None:
                rqb, self._welcome = self._welcome, None
                return rqb
            return super()._request_push(tag, name, **kw)  # type: ignore[misc]

        def ssl_wrap_socket(self) -> None:
            assert self._context is not None
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
            self.read_fd = self.sock.fileno()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

        def read(self, size: int) -> bytes:
            data: bytes = super().read(size)  # type: ignore[misc]
            if not data:
                raise ConnectionResetError("connection closed by the server")
            return data

        # These three are imaplib2's without their debug lines: each formats
        # ``%.80r`` of the whole response first (strings twice the size of a
        # fetched mail, whatever the debug level) and only then cuts it to 80.

        def _untagged_response(self, typ: Any, dat: Any, name: Any) -> tuple[Any, Any]:
            if typ == "NO":
                return typ, dat
            data = self._get_untagged_response(name)
            if not data:
                return typ, [None]
            while True:
                more = self._get_untagged_response(name)
                if not more:
                    break
                data += more
            return typ, data

        def _get_untagged_response(self, name: Any, leave: bool = False) -> Any:
            with self.commands_lock:
                for i, (typ, dat) in enumerate(self.untagged_responses):
                    if typ == name:
                        if not leave:
                            del self.untagged_responses[i]
                        return dat
            return None

        def _append_untagged(self, typ: Any, dat: Any) -> None:
            if dat is None:
                dat = b""
            with self.commands_lock:
                urd = None
                if self.untagged_responses:
                    urn, last = self.untagged_responses[-1]
                    if urn == typ:
                        urd = last
                if urd is None:
                    urd = []
                    self.untagged_responses.append([typ, urd])
                urd.append(dat)

        def _reader(self) -> None:
            """imaplib2's reader, aware of literals (RFC 3501 §4.3).

            imaplib2 splits everything it reads into lines and queues each
            one to the handler thread, so a 50 MB mailbox becomes ~800 000
            queue round trips between two threads. Here a literal's bytes go
            to the handler as the chunks they arrive in; the handler already
            accumulates literal data of any chunking (``_put_response``), so
            only the reader differs. Otherwise the same loop: poll, stop on
            ``Terminate``/``TerminateReader`` (STARTTLS reads byte by byte
            until the OK line), report errors through ``inq`` as aborts."""
            threading.current_thread().name = self.identifier + "reader"
            line_part = b""
            literal = 0  # bytes of a literal still to come
            terminate = False
            poll = select.poll()
            poll.register(self.read_fd, select.POLLIN)
            try:
                while not (terminate or self.Terminate):
                    timeout = 10 if self.state == "LOGOUT" else self.read_poll_timeout * 1000
                    events = poll.poll(timeout)
                    if not events:
                        continue
                    _, state = events[0]
                    if state & select.POLLIN:
                        data = self.read(self.read_size)
                        pending = getattr(self.sock, "pending", None)
                        while pending is not None and pending() > 0:
                            data += self.read(self.read_size)  # TLS bytes already decrypted
                        start, end = 0, len(data)
                        while start < end:
                            if literal:
                                chunk = data[start:start + literal]
                                literal -= len(chunk)
                                start += len(chunk)
                                self.inq.put(chunk)
                                continue
                            stop = data.find(b"\n", start)
                            if stop < 0:
                                line_part += data[start:]
                                break
                            line = line_part + data[start:stop + 1]
                            line_part, start = b"", stop + 1
                            self.inq.put(line)
                            m = _LITERAL.search(line)
                            if m:
                                literal = int(m.group(1))
                            if self.TerminateReader:
                                terminate = True
                                break
                    if state & ~select.POLLIN:
                        raise OSError(f"connection lost (poll: {state:#x})")
            except Exception as exc:
                self.inq.put((self.abort, f"socket error: {type(exc).__name__} - {exc}"))
            finally:
                try:
                    poll.unregister(self.read_fd)
                except (OSError, ValueError, KeyError):
                    pass

    base = imaplib2.IMAP4_SSL if secure else imaplib2.IMAP4
    cls = type(f"Supportctl{base.__name__}", (Client, base), {})
    _CLIENTS[key] = cls
    return cls


class _Clock:
    """Stands in for the ``time`` module inside imaplib2 and differs in one
    call only: the 0.1 s sleep that starts the handler thread of *our*
    connections (thread name ``supportctl-imap handler``), whose purpose —
    letting the caller register the greeting request first — ``Client.open``
    already fulfils. 0.1 s is a fifth of the nothing-new budget (SPEC §8)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds == 0.1 and threading.current_thread().name == f"{_IDENTIFIER} handler":
            return
        time.sleep(seconds)


# -- helpers ------------------------------------------------------------------


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client context: system CAs plus ``ca_file``, host name checked;
    or, with ``verify`` false, no checks at all (the user said so)."""
    ctx = ssl.create_default_context()
    if verify:
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _cert_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or str(exc)
    return " ".join(str(reason).split())[:160]


def encode_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string in modified UTF-7
    (RFC 3501 §5.1.3)."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            import base64

            b64 = base64.b64encode("".join(buf).encode("utf-16-be")).decode("ascii")
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_date(when: datetime) -> str:
    """RFC 3501 §9 ``date``: ``1-Feb-2024`` (English month names, not the
    locale's)."""
    when = when.astimezone(timezone.utc) if when.tzinfo else when
    return f"{when.day}-{_MONTHS[when.month - 1]}-{when.year}"


def parse_internaldate(data: bytes) -> datetime | None:
    m = _INTERNALDATE.search(data)
    if m is None:
        return None
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    try:
        month = _MONTHS.index(mon.decode().title()) + 1
        local = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc)
    except ValueError:
        return None
    from datetime import timedelta

    offset = timedelta(hours=int(zh), minutes=int(zm))
    return local - offset if sign == b"+" else local + offset


def uid_sets(uids: list[int]) -> list[str]:
    """Sorted UIDs as ``a:b,c`` sets, each at most ``MAX_SET_CHARS`` long."""
    sets: list[str] = []
    parts: list[str] = []
    length = 0
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        part = str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}"
        if parts and length + len(part) + 1 > MAX_SET_CHARS:
            sets.append(",".join(parts))
            parts, length = [], 0
        parts.append(part)
        length += len(part) + 1
        i = j + 1
    if parts:
        sets.append(",".join(parts))
    return sets


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """``(uidvalidity, last_uid)``, or None for a first sync (also for a
    cursor we cannot read: refetching is safe, skipping is not)."""
    if not cursor:
        return None
    validity, _, last = cursor.partition(":")
    try:
        return int(validity), int(last)
    except ValueError:
        log.warning("unreadable IMAP cursor %r: fetching the folder again", cursor)
        return None


def _status_number(data: list[Any], key: str) -> int | None:
    for item in data or []:
        if isinstance(item, tuple):
            item = b" ".join(x for x in item if isinstance(x, bytes))
        if isinstance(item, bytes):
            m = re.search(key.encode() + rb" (\d+)", item)
            if m:
                return int(m.group(1))
    return None


def _first_number(data: list[Any] | None) -> int | None:
    for item in data or []:
        if isinstance(item, bytes) and item.strip().isdigit():
            return int(item.strip())
    return None


def _fetch_records(data: list[Any]) -> list[tuple[bytes, bytes | None]]:
    """FETCH response data as (non-literal text, literal) per message.

    imaplib2 gives ``(b'1 (UID 5 INTERNALDATE "…" BODY[] {n}', raw)``
    tuples followed by ``b')'`` tails; attributes may also come after the
    literal, so the tail belongs to the record before it."""
    records: list[list[Any]] = []
    for item in data or []:
        if isinstance(item, tuple):
            records.append([item[0], item[1]])
        elif isinstance(item, bytes):
            if item.startswith((b")", b" ")) and records:
                records[-1][0] += item
            else:
                records.append([item, None])
    return [(r[0], r[1]) for r in records]


# -- the channel --------------------------------------------------------------


class ImapChannel(BaseChannel):
    type = "imap"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.host: str = str(config.get("host") or "")
        self.security: str = str(config.get("security") or "ssl").lower()
        default_port = 993 if self.security == "ssl" else 143
        self.port: int = int(config.get("port") or default_port)
        self.tls_verify: bool = config.get("tls_verify") is not False
        self.ca_file: str | None = config.get("ca_file") or None
        self.username: str = str(config.get("username") or "")
        self.password: str = str(config.get("password") or "")
        self.folders: list[str] = [str(f) for f in (config.get("folders") or ["INBOX"])]
        self.addresses: list[str] = [str(a) for a in (config.get("addresses") or [])]
        self.smtp: dict[str, Any] = dict(config.get("smtp") or {})
        self._conn: Any = None
        self._seen_uidnext: dict[str, int] = {}
        #: Seconds an exchange may take (config ``timeout``; SMTP: ``smtp.timeout``).
        self.timeout: float = float(config.get("timeout") or TIMEOUT)
        self.smtp_timeout: float = float(self.smtp.get("timeout") or TIMEOUT)
        #: File descriptors of the live IMAP connection's socket.
        self._fds: list[int] = []

    # -- connection ----------------------------------------------------------

    def _where(self) -> str:
        return f"IMAP server {self.host}:{self.port}"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn socket, TLS and imaplib2 exceptions into one-line
        ``ChannelError``s (never with the password in them)."""
        imaplib2 = _imaplib2()
        try:
            yield
        except ChannelError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise TLSError(
                f"{self._where()}: certificate not trusted ({_cert_reason(exc)}): "
                "set ca_file, or tls_verify: false if you trust this network"
            ) from None
        except ssl.SSLError as exc:
            raise ChannelError(
                f"{self._where()}: TLS failed while {doing} ({_cert_reason(exc)}): "
                "check port and security (ssl, starttls or none)"
            ) from None
        except TimeoutError:
            raise self._hung(doing, self.timeout) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ChannelError(
                f"{self._where()}: {reason} while {doing}", temporary=True
            ) from None
        except imaplib2.IMAP4.abort as exc:
            if "no response after" in str(exc):  # imaplib2's own response timeout
                raise self._hung(doing, self.timeout) from None
            raise ChannelError(
                f"{self._where()}: connection lost while {doing} ({_short(exc)})", temporary=True
            ) from None
        except imaplib2.IMAP4.error as exc:
            raise ChannelError(f"{self._where()}: {doing} failed: {_short(exc)}") from None

    def _hung(self, doing: str, seconds: float, where: str | None = None) -> ChannelTimeout:
        return ChannelTimeout(
            f"{where or self._where()} stopped answering while {doing} (nothing complete "
            f"within {seconds:g}s): check host and port, or raise timeout; the next sync "
            "tries again"
        )

    def _cut(self) -> None:
        """Shut the live connection's socket down from another thread: every
        read on it ends at once (imaplib2's reader, a blocked command)."""
        for fd in list(self._fds):
            try:
                sock = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
            except OSError:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()  # a duplicate: the connection's own fd stays open

    @contextmanager
    def _deadline(self, doing: str, seconds: float, smtp: Any = None) -> Iterator[None]:
        """Cut the connection (IMAP's, or ``smtp``'s) if the block has not
        finished in ``seconds``; any error then is a ``ChannelTimeout``."""
        fired = threading.Event()
        where = self._smtp_where() if smtp is not None else None

        def expire() -> None:
            fired.set()
            if smtp is None:
                self._cut()
            elif getattr(smtp, "sock", None) is not None:
                try:
                    smtp.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except (ChannelError, OSError) as exc:
            if fired.is_set() or _socket_timed_out(exc):
                raise self._hung(doing, seconds, where) from None
            raise
        except Exception as exc:
            # smtplib's own errors on a cut socket, or on its socket's own
            # timeout (the same length: on a loaded machine it may fire first).
            if smtp is not None and (fired.is_set() or _socket_timed_out(exc)):
                raise self._hung(doing, seconds, where) from None
            raise
        finally:
            timer.cancel()
        if fired.is_set():  # finished as the cut came: the connection is gone
            raise self._hung(doing, seconds, where)

    def _login(self) -> Any:
        self._fds = []
        with self._deadline("connecting", self.timeout):
            return self._login_now()

    def _login_now(self) -> Any:
        secure = self.security == "ssl"
        context = tls_context(self.tls_verify, self.ca_file) if self.security != "none" else None
        conn = None
        with self._errors("connecting"):
            conn = _client_class(secure)(self.host, self.port, context=context,
                                         timeout=self.timeout, fds=self._fds)
        try:
            if self.security == "starttls":
                with self._errors("starting TLS"):
                    if "STARTTLS" not in conn.capabilities:
                        raise ChannelError(
                            f"{self._where()} does not offer STARTTLS: use security: ssl "
                            "(port 993) or check the port"
                        )
                    conn.starttls()
            imaplib2 = _imaplib2()
            with self._errors("logging in"):
                try:
                    conn.login(self.username, self.password)
                except imaplib2.IMAP4.abort:
                    raise
                except imaplib2.IMAP4.error:
                    raise AuthError(
                        f"IMAP account {self.name}: {self.host} refused the login as "
                        f"{self.username!r}: check username and password"
                    ) from None
            return conn
        except BaseException:
            _shutdown(conn)
            raise

    def _session(self) -> Any:
        if self._conn is None:
            self._conn = retry(self._login, attempts=CONNECT_ATTEMPTS)
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._fds = []
        _shutdown(conn)

    def close(self) -> None:
        """LOGOUT, within ``LOGOUT_SECONDS``; else drop the connection.

        The goodbye runs in a thread of its own and is waited for a bounded
        time: imaplib2 takes its command lock without try/finally, so a
        Ctrl-C or SIGTERM landing inside one of its commands (a pass of
        ``sync --watch`` is mostly EXAMINE and IDLE) leaves the lock held,
        and a LOGOUT then waited on it for ever: the interrupted run never
        ended. A server that does not answer no longer holds the run either."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        said = threading.Event()

        def logout() -> None:
            try:
                conn.logout()
            except Exception:
                _shutdown(conn)
            finally:
                said.set()

        threading.Thread(target=logout, name="supportctl-imap-logout", daemon=True).start()
        if not said.wait(LOGOUT_SECONDS):
            _shutdown(conn)

    def _command(self, doing: str, method: Callable[..., tuple[str, list[Any]]],
                 *args: Any, size: int = 0) -> list[Any]:
        """Run one imaplib2 command within its deadline (``size``: bytes it
        brings); a NO or BAD becomes a ChannelError. A server that hangs
        leaves the connection dropped and raises ``ChannelTimeout``."""
        try:
            with self._deadline(doing, self.timeout + size / MIN_RATE), self._errors(doing):
                typ, data = method(*args)
        except ChannelTimeout:
            self._drop()
            raise
        if typ != "OK":
            raise ChannelError(f"{self._where()}: {doing} failed: {_short(data)}")
        return data

    # -- fetch ---------------------------------------------------------------

    def fetch(
        self, cursors: Mapping[str, str], *, since: datetime | None = None
    ) -> Iterator[Batch]:
        for folder in self.folders:
            yield from self._fetch_folder(folder, parse_cursor(cursors.get(folder)), since)

    def _fetch_folder(
        self, folder: str, state: tuple[int, int] | None, since: datetime | None
    ) -> Iterator[Batch]:
        # The SINCE window applies to a first sync only (also when resumed
        # after a reconnect, or after a UIDVALIDITY reset found below).
        window = since if state is None else None
        reconnects = 0
        while True:
            # Connecting has its own bounded retry; failing that ends the
            # fetch. Only a session lost after it was up is reopened here.
            self._session()
            try:
                for batch in self._fetch_once(folder, state, window, since):
                    # The caller commits each batch before resuming us, so
                    # after a reconnect the folder continues right after it.
                    state = parse_cursor(batch.cursor)
                    yield batch
                return
            except ChannelError as exc:
                if not exc.temporary or reconnects >= RECONNECTS or isinstance(exc, ChannelTimeout):
                    raise
                reconnects += 1
                log.info("%s: %s; reconnecting (%d/%d)", self.name, exc, reconnects, RECONNECTS)
                self._drop()

    def _fetch_once(
        self, folder: str, state: tuple[int, int] | None, window: datetime | None,
        since: datetime | None,
    ) -> Iterator[Batch]:
        conn = self._session()
        mailbox = encode_mailbox(folder)
        data = self._command(f"STATUS {folder}",
                             conn.status, mailbox, "(UIDNEXT UIDVALIDITY)")
        uidnext = _status_number(data, "UIDNEXT")
        validity = _status_number(data, "UIDVALIDITY")
        if uidnext:
            self._seen_uidnext[folder] = uidnext
        if state is not None and validity == state[0] and uidnext and uidnext - 1 <= state[1]:
            return  # RFC 3501 §2.3.1.1: no UID >= UIDNEXT exists yet
        last = state[1] if state is not None else 0

        # EXAMINE, not SELECT: read-only, so neither \Seen nor \Recent
        # change (RFC 3501 §6.3.2).
        self._command(f"EXAMINE {folder}", conn.examine, mailbox)
        with self._errors(f"EXAMINE {folder}"):
            validity = _first_number(conn.response("UIDVALIDITY")[1]) or validity
            uidnext = _first_number(conn.response("UIDNEXT")[1]) or uidnext
        if validity is None:
            raise ChannelError(f"{self._where()}: {folder} has no UIDVALIDITY (RFC 3501 §2.3.1.1)")
        if state is not None and validity != state[0]:
            # RFC 3501 §2.3.1.1: the old UIDs mean nothing any more.
            log.warning(
                "%s: UIDVALIDITY of %s changed (%s -> %s): fetching the folder again; "
                "known messages are skipped by Message-ID",
                self.name, folder, state[0], validity,
            )
            last, window = 0, since
        if uidnext:
            self._seen_uidnext[folder] = uidnext

        sizes = self._new_uids(conn, folder, last, window)
        position = last
        yielded = f"{state[0]}:{state[1]}" if state is not None else None
        for group in _groups(sizes):
            items = self._fetch_bodies(conn, folder, group, sum(sizes[u] for u in group))
            position = max(group)
            yielded = f"{validity}:{position}"
            yield Batch(source=folder, cursor=yielded, items=items, total=len(sizes))
        # After a SINCE-narrowed first sync, move past the older mail it left
        # out; and record UIDVALIDITY even for an empty folder.
        end = max(position, (uidnext - 1) if (window is not None and uidnext) else 0)
        if f"{validity}:{end}" != yielded:
            yield Batch(source=folder, cursor=f"{validity}:{end}", items=[], total=len(sizes))

    def _new_uids(
        self, conn: Any, folder: str, last: int, since: datetime | None
    ) -> dict[int, int]:
        """UID → size of every message after ``last`` (and since ``since``)."""
        if since is not None:
            data = self._command(f"SEARCH {folder}", conn.uid, "SEARCH",
                                 f"UID {last + 1}:*", "SINCE", imap_date(since))
            found = sorted({int(x) for item in data if isinstance(item, bytes)
                            for x in item.split() if x.isdigit()})
            sets = uid_sets([u for u in found if u > last])
        else:
            sets = [f"{last + 1}:*"]
        sizes: dict[int, int] = {}
        for uid_set in sets:
            data = self._command(f"FETCH {folder}", conn.uid, "FETCH", uid_set,
                                 "(UID RFC822.SIZE)")
            for head, _ in _fetch_records(data):
                uid_m, size_m = _UID.search(head), _SIZE.search(head)
                if uid_m:
                    uid = int(uid_m.group(1))
                    if uid > last:  # RFC 3501 §6.4.8: n:* includes the highest UID
                        sizes[uid] = int(size_m.group(1)) if size_m else 0
        return sizes

    def _fetch_bodies(self, conn: Any, folder: str, uids: list[int], size: int) -> list[Inbound]:
        items: dict[int, Inbound] = {}
        for uid_set in uid_sets(uids):
            data = self._command(f"FETCH {folder}", conn.uid, "FETCH", uid_set,
                                 "(UID INTERNALDATE BODY.PEEK[])", size=size)
            for head, raw in _fetch_records(data):
                uid_m = _UID.search(head)
                if uid_m is None or raw is None:
                    continue  # an unsolicited FETCH (flags), not ours
                uid = int(uid_m.group(1))
                if uid not in uids:
                    continue
                items[uid] = Inbound(
                    medium="email", raw=raw, received_at=parse_internaldate(head),
                    source_ref=f"{folder}:{uid}", needs_parse=True,
                )
        # A UID missing here was expunged meanwhile: nothing to keep.
        return [items[u] for u in sorted(items)]

    # -- watch ---------------------------------------------------------------

    def wait(self, timeout: float) -> None:
        """IDLE (RFC 2177) on the first folder until the server reports
        something (EXISTS, EXPUNGE, ...) or ``timeout`` passes."""
        conn = self._session()
        folder = self.folders[0]
        if "IDLE" not in getattr(conn, "capabilities", ()):
            time.sleep(timeout)
            return
        self._command(f"EXAMINE {folder}", conn.examine, encode_mailbox(folder))
        with self._errors(f"EXAMINE {folder}"):
            uidnext = _first_number(conn.response("UIDNEXT")[1])
        seen = self._seen_uidnext.get(folder)
        if uidnext and seen and uidnext > seen:
            return  # mail arrived since this channel last looked
        # RFC 2177: servers may drop an IDLE after 30 minutes; stay below.
        # imaplib2 ignores a timeout that is not an int (it type-checks it
        # against its default) and would IDLE for 29 minutes.
        seconds = int(max(1, min(math.ceil(timeout), 29 * 60)))
        with self._errors("IDLE"):
            conn.idle(timeout=seconds)

    # -- check ---------------------------------------------------------------

    def check(self) -> str:
        conn = self._session()
        for folder in self.folders:
            self._command(f"STATUS {folder}", conn.status, encode_mailbox(folder),
                          "(UIDNEXT UIDVALIDITY)")
        n = len(self.folders)
        parts = [f"IMAP ok ({n} folder{'s' if n != 1 else ''})"]
        if self.smtp.get("host"):
            import smtplib

            smtp = self._smtp_connect()
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            parts.append("SMTP ok")
        return ", ".join(parts)

    # -- send ----------------------------------------------------------------

    def _smtp_where(self) -> str:
        return f"SMTP server {self.smtp.get('host')}:{self._smtp_port()}"

    def _smtp_security(self) -> str:
        return str(self.smtp.get("security") or "ssl").lower()

    def _smtp_port(self) -> int:
        default = {"ssl": 465, "starttls": 587}.get(self._smtp_security(), 25)
        return int(self.smtp.get("port") or default)

    def _smtp_tls_error(self, exc: ssl.SSLError) -> ChannelError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TLSError(
                f"{self._smtp_where()}: certificate not trusted ({_cert_reason(exc)}): "
                "set smtp.ca_file, or smtp.tls_verify: false if you trust this network"
            )
        return ChannelError(
            f"{self._smtp_where()}: TLS failed ({_cert_reason(exc)}): "
            "check smtp port and security (ssl, starttls or none)"
        )

    def _smtp_connect(self) -> smtplib.SMTP:
        import smtplib  # only sending needs it: kept off the sync path

        host = str(self.smtp.get("host") or "")
        if not host:
            raise ChannelError(
                f"IMAP account {self.name} has no smtp block: add smtp: host: ... to send replies"
            )
        security = self._smtp_security()
        port = self._smtp_port()
        context = tls_context(self.smtp.get("tls_verify") is not False,
                              self.smtp.get("ca_file") or None)
        # Built unconnected, so the deadline can cut its socket from the
        # connect on (the greeting is read inside ``connect``).
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=self.smtp_timeout, context=context)
        else:
            smtp = smtplib.SMTP(timeout=self.smtp_timeout)
        smtp._host = host  # type: ignore[attr-defined]  # TLS server_hostname, as __init__ sets it
        try:
            with self._deadline("connecting", self.smtp_timeout, smtp):
                return self._smtp_open(smtp, host, port, security, context)
        except BaseException as exc:
            smtp.close()
            if isinstance(exc, ChannelError):
                raise
            if isinstance(exc, TimeoutError):
                raise self._hung("connecting", self.smtp_timeout, self._smtp_where()) from None
            if isinstance(exc, ssl.SSLError):
                raise self._smtp_tls_error(exc) from None
            if isinstance(exc, smtplib.SMTPResponseException):
                raise _smtp_code_error(self._smtp_where(), "connecting", exc) from None
            if isinstance(exc, (OSError, smtplib.SMTPException)):
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise ChannelError(f"{self._smtp_where()}: {reason} while connecting",
                                   temporary=True) from None
            raise

    def _smtp_open(self, smtp: smtplib.SMTP, host: str, port: int, security: str,
                   context: ssl.SSLContext) -> smtplib.SMTP:
        import smtplib

        code, msg = smtp.connect(host, port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, msg)
        smtp.ehlo()
        if security == "starttls":
            if not smtp.has_extn("starttls"):
                raise ChannelError(
                    f"{self._smtp_where()} does not offer STARTTLS: use smtp.security: ssl "
                    "(port 465) or check the port"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        user = self.smtp.get("username")
        if user:
            try:
                smtp.login(str(user), str(self.smtp.get("password") or ""))
            except smtplib.SMTPAuthenticationError:
                raise AuthError(
                    f"IMAP account {self.name}: {host} refused the SMTP login as {user!r}: "
                    "check smtp username and password"
                ) from None
            except smtplib.SMTPNotSupportedError:
                raise ChannelError(
                    f"{self._smtp_where()} offers no AUTH here: use security ssl or starttls"
                ) from None
        return smtp

    def _from_address(self, out: Outbound) -> Address:
        from email.utils import parseaddr

        raw = (out.from_addr.address if out.from_addr else "") or str(
            self.smtp.get("from") or (self.addresses[0] if self.addresses else self.username)
        )
        name, address = parseaddr(raw)
        if out.from_addr and out.from_addr.name:
            name = out.from_addr.name
        return Address(address or raw, name)

    def send(self, message: Outbound) -> SendResult:
        import smtplib
        from email.utils import parseaddr

        from supportctl.mail.compose import build_email, domain_of, new_message_id

        sender = self._from_address(message)
        reply_to = message.reply_to
        if reply_to is None and self.smtp.get("reply_to"):
            name, address = parseaddr(str(self.smtp["reply_to"]))
            reply_to = Address(address, name)
        if not message.message_id:
            message.message_id = new_message_id(domain_of(sender.address))
        try:
            raw = build_email(message, from_addr=sender, reply_to=reply_to)
        except ValueError as exc:
            raise ChannelError(f"cannot send: {_short(exc)}") from None
        recipients = [a.address for a in [*message.to, *message.cc] if a.address]
        smtp = self._smtp_connect()
        where = self._smtp_where()
        progress = {"data": False}
        refused: dict[str, Any] = {}
        try:
            with self._deadline("sending", self.smtp_timeout + len(raw) / MIN_RATE, smtp):
                self._smtp_transaction(smtp, where, sender, recipients, raw, refused, progress)
        except ChannelTimeout:
            smtp.close()
            if progress["data"]:  # RFC 5321 §6.1: it may have been taken
                raise ChannelError(
                    f"{where} stopped answering after the message was handed over: it may or "
                    "may not have been sent; check the recipient's copy before retrying",
                    temporary=True, unknown_outcome=True,
                ) from None
            raise
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
        notes = []
        if refused:
            notes.append("refused: " + ", ".join(
                f"{r} ({c} {_short(m)})" for r, (c, m) in refused.items()))
        folder = self.smtp.get("save_sent")
        if folder:
            note = self._save_sent(str(folder), raw)
            if note:
                notes.append(note)
        return SendResult(external_id=message.message_id, state="sent", raw=raw,
                          error="; ".join(notes))

    def _smtp_transaction(self, smtp: smtplib.SMTP, where: str, sender: Address,
                          recipients: list[str], raw: bytes, refused: dict[str, Any],
                          progress: dict[str, bool]) -> None:
        """MAIL, RCPT, DATA; ``progress["data"]`` is set once DATA began."""
        import smtplib

        try:
            code, resp = smtp.mail(sender.address)
            if code != 250:
                raise _smtp_code_error(where, "MAIL FROM", smtplib.SMTPSenderRefused(
                    code, resp, sender.address))
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, resp)
            if len(refused) == len(recipients):
                code, resp = next(iter(refused.values()))
                smtp.rset()
                raise _smtp_code_error(where, "RCPT TO", smtplib.SMTPResponseException(code, resp))
            # From here on the server may have taken the message even if we
            # never see its answer (RFC 5321 §4.1.1.4, §6.1).
            progress["data"] = True
            code, resp = smtp.data(raw)
            if code != 250:
                raise _smtp_code_error(where, "DATA", smtplib.SMTPDataError(code, resp))
        except ChannelError:
            smtp.close()
            raise
        except smtplib.SMTPResponseException as exc:
            smtp.close()
            raise _smtp_code_error(where, "DATA" if progress["data"] else "sending", exc) from None
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            if progress["data"]:
                raise ChannelError(
                    f"{where}: {reason} after the message was handed over: it may or may "
                    "not have been sent; check the recipient's copy before retrying",
                    temporary=True, unknown_outcome=True,
                ) from None
            raise ChannelError(f"{where}: {reason} while sending", temporary=True) from None

    def _save_sent(self, folder: str, raw: bytes) -> str:
        """APPEND a ``\\Seen`` copy (RFC 3501 §6.3.11); a failure is a note,
        not a failed send: the reply is out."""
        try:
            conn = self._session()
            mailbox = encode_mailbox(folder)
            self._command(f"APPEND {folder}", conn.append, mailbox, r"(\Seen)", None, raw)
        except ChannelError as exc:
            log.warning("%s: %s", self.name, exc)
            return f"sent, but not saved to {folder}: {exc}"
        return ""


def _smtp_code_error(where: str, doing: str, exc: smtplib.SMTPResponseException) -> ChannelError:
    """RFC 5321 §4.2.1: 4yz is transient (retry), 5yz permanent."""
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return ChannelError(
        f"{where}: {doing} refused: {exc.smtp_code} {_short(text)}",
        temporary=400 <= exc.smtp_code < 500,
    )


def _socket_timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a socket timeout
    (smtplib turns one into ``SMTPServerDisconnected``)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 5:
        if isinstance(cur, TimeoutError):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def _short(value: object) -> str:
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes)) or value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())[:200]


def _groups(sizes: dict[int, int]) -> Iterator[list[int]]:
    """UIDs in ascending order, in groups bounded by count and bytes."""
    group: list[int] = []
    total = 0
    for uid in sorted(sizes):
        if group and (len(group) >= BATCH_MESSAGES or total + sizes[uid] > BATCH_BYTES):
            yield group
            group, total = [], 0
        group.append(uid)
        total += sizes[uid]
    if group:
        yield group


def _shutdown(conn: Any) -> None:
    """Drop a connection without a LOGOUT round trip (the server may be
    gone): stop imaplib2's threads and close the socket. The threads are
    daemons; none of them waits for the server after this."""
    if conn is None:
        return
    conn.Terminate = True
    for name in ("ouq", "inq"):
        try:
            getattr(conn, name).put_nowait(None)  # wakes the writer and the handler
        except Exception:
            pass
    try:
        conn.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.sock.close()
    except OSError:
        pass
