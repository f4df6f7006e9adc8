"""Real mail servers on loopback for the email tests and benchmarks.

- ``Dovecot``: a private ``dovecot -c OUR.conf`` instance (Debian's
  ``dovecot-imapd``) with base_dir, state_dir and logs in a temp directory,
  no chroots, a static passdb (every user name logs in with ``PASSWORD``, so
  each test takes a fresh mailbox just by using a new user name) and a
  static userdb whose homes live under the temp directory. With a
  certificate it also listens for IMAPS and offers STARTTLS.
- ``make_cert``: a self-signed certificate for ``localhost`` (openssl).
- ``Proxy``: a TCP relay that records what the client sent (to count IMAP
  commands) and can cut the connection after N bytes from the server.
- ``smtp_server``: an aiosmtpd ``Controller`` that records messages, or
  answers every DATA with a given reply, or drops the connection there.

Nothing here depends on pytest, so ``bench/`` can use it too.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def make_cert(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate (also its own CA) for ``name``."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )
    return cert, key


class ServerUnavailable(RuntimeError):
    pass


class Dovecot:
    """A private Dovecot instance. ``start()`` raises ``ServerUnavailable``
    with the log when it cannot run (not installed, refused to start)."""

    def __init__(self, cert: tuple[Path, Path] | None = None) -> None:
        self.cert = cert
        self.dir = Path(tempfile.mkdtemp(prefix="supportctl-dovecot-"))
        self.port = 0
        self.ssl_port = 0
        self.conf = self.dir / "dovecot.conf"
        self.log = self.dir / "dovecot.log"
        self.started = False

    # -- lifecycle ---------------------------------------------------------

    def _config(self) -> str:
        root = os.geteuid() == 0
        if root:
            # Dovecot refuses to access mail as root: use its own login user.
            pw = pwd.getpwnam("dovenull")
        else:
            pw = pwd.getpwuid(os.getuid())
        uid, gid = pw.pw_uid, pw.pw_gid
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        for p in (self.dir, home):
            os.chmod(p, 0o755)
        if root:
            os.chown(home, uid, gid)
        users = "" if root else (
            f"default_internal_user = {pw.pw_name}\ndefault_login_user = {pw.pw_name}\n"
        )
        if self.cert:
            ssl_conf = (
                f"ssl = yes\nssl_cert = <{self.cert[0]}\nssl_key = <{self.cert[1]}\n"
            )
            imaps = f"inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.ssl_port}\n  }}"
        else:
            ssl_conf = "ssl = no\n"
            imaps = "inet_listener imaps {\n    port = 0\n  }"
        return f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log}
info_log_path = {self.log}
listen = 127.0.0.1
protocols = imap
{users}{ssl_conf}
auth_mechanisms = plain login
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    auto = create
    special_use = \\Sent
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  {imaps}
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> Dovecot:
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(exe):
            raise ServerUnavailable("dovecot is not installed (apt-get install dovecot-imapd)")
        self.port = free_port()
        if self.cert:
            self.ssl_port = free_port()
        self.conf.write_text(self._config())
        # Output to a file, not a pipe: the daemon keeps its stdio open.
        with open(self.dir / "startup.log", "wb") as out:
            proc = subprocess.run([exe, "-c", str(self.conf)], stdout=out, stderr=out,
                                  stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            startup = (self.dir / "startup.log").read_text(errors="replace")
            raise ServerUnavailable(
                f"dovecot failed to start (exit {proc.returncode}): {startup}\n{self.log_text()}"
            )
        self.started = True
        ports = [self.port] + ([self.ssl_port] if self.ssl_port else [])
        if not all(wait_port(p) for p in ports):
            self.stop()
            raise ServerUnavailable(f"dovecot did not listen on {ports}\n{self.log_text()}")
        return self

    def stop(self) -> None:
        if self.started:
            exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
            subprocess.run([exe, "-c", str(self.conf), "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            self.started = False
            # `dovecot stop` returns before the master exits: wait for its pid.
            pidfile = self.dir / "run" / "master.pid"
            deadline = time.monotonic() + 5
            while pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no dovecot log)"

    # -- helpers for tests -------------------------------------------------

    def doveadm(self, *args: str) -> str:
        exe = shutil.which("doveadm") or "/usr/bin/doveadm"
        proc = subprocess.run([exe, "-c", str(self.conf), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def folders(self, user: str) -> list[str]:
        """Folder names as Dovecot stores them (UTF-8)."""
        return self.doveadm("mailbox", "list", "-u", user).split("\n")[:-1]

    def set_uidvalidity(self, user: str, value: int, folder: str = "INBOX") -> None:
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)

    def imap(self, user: str) -> imaplib.IMAP4:
        """A stdlib client (independent of the code under test)."""
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(user, PASSWORD)
        return conn

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX",
               flags: str = "", date: Any = None) -> None:
        from supportctl.channels.imap import encode_mailbox

        conn = self.imap(user)
        mailbox = encode_mailbox(folder)
        try:
            if folder.upper() != "INBOX":
                conn.create(mailbox)
            for raw in messages:
                typ, dat = conn.append(mailbox, flags or None,
                                       imaplib.Time2Internaldate(date or time.time()), raw)
                assert typ == "OK", dat
        finally:
            conn.logout()

    def messages(self, user: str, folder: str = "INBOX") -> list[tuple[int, str, bytes]]:
        """(uid, flags, raw) of every message, read without changing flags."""
        conn = self.imap(user)
        try:
            from supportctl.channels.imap import encode_mailbox

            conn.select(encode_mailbox(folder), readonly=True)
            typ, dat = conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            out = []
            for part in dat:
                if isinstance(part, tuple):
                    head = part[0].decode()
                    uid = int(head.split("UID ")[1].split()[0])
                    flags = head.split("FLAGS (")[1].split(")")[0] if "FLAGS (" in head else ""
                    out.append((uid, flags, part[1]))
            return out
        finally:
            conn.logout()

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, str]:
        return {uid: flags for uid, flags, _ in self.messages(user, folder)}


def message(k: int | str, *, subject: str = "", sender: str = "customer@example.com",
            to: str = "support@example.org", msgid: str = "", extra: str = "",
            body: str = "") -> bytes:
    """A small RFC 5322 message."""
    msgid = msgid or f"m{k}.{time.monotonic_ns()}@example.com"
    subject = subject or f"Question {k}"
    body = body or f"contract message {k}\r\n"
    head = (
        f"From: Customer {k} <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{msgid}>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (head + body).encode()


# -- TCP relay ---------------------------------------------------------------


@dataclass
class Proxy:
    """Relays 127.0.0.1:port to ``target``. ``client_bytes`` collects what
    clients sent (one IMAP command a line). ``cut_after`` closes a
    connection once that many server bytes went through, for the first
    ``cut_connections`` connections."""

    target: int
    cut_after: int | None = None
    cut_connections: int = 1
    port: int = 0
    client_bytes: bytearray = field(default_factory=bytearray)
    connections: int = 0
    cuts: int = 0

    def __post_init__(self) -> None:
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._stop = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def commands(self) -> list[str]:
        """IMAP command names the clients sent (tags dropped)."""
        out = []
        for line in bytes(self.client_bytes).split(b"\r\n"):
            parts = line.split(b" ")
            if len(parts) >= 2 and parts[0].isalnum():
                name = parts[1].upper().decode("ascii", "replace")
                if name == "UID" and len(parts) > 2:
                    name = "UID " + parts[2].upper().decode("ascii", "replace")
                out.append(name)
        return out

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cut = self.cut_after if self.connections <= self.cut_connections else None
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            state = {"closed": False}
            threading.Thread(target=self._pipe, args=(client, server, None, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, cut, state, False),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, cut: int | None,
              state: dict[str, bool], record: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self._lock:
                        self.client_bytes.extend(data)
                if cut is not None and sent + len(data) >= cut:
                    dst.sendall(data[: max(cut - sent, 0)])
                    with self._lock:
                        self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop = True
        self._lsock.close()


# -- SMTP --------------------------------------------------------------------


class Recorder:
    """aiosmtpd handler: keeps every message; or answers ``reply`` to DATA;
    or drops the connection at DATA (``drop=True``); refuses the
    recipients in ``refuse``."""

    def __init__(self, reply: str | None = None, drop: bool = False,
                 refuse: tuple[str, ...] = ()) -> None:
        self.messages: list[dict[str, Any]] = []
        self.reply = reply
        self.drop = drop
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop:
            server.transport.close()
            return "250 OK"
        if self.reply:
            return self.reply
        self.messages.append({
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": bytes(envelope.original_content or envelope.content),
            "auth": getattr(session, "auth_data", None),
        })
        return "250 OK"


@dataclass
class Smtp:
    controller: Any
    handler: Recorder
    port: int

    def stop(self) -> None:
        self.controller.stop()


def smtp_server(handler: Recorder | None = None, *, tls: str = "",
                cert: tuple[Path, Path] | None = None, auth: bool = False) -> Smtp:
    """Start aiosmtpd on a free port. ``tls``: "" (plain), "ssl" (implicit
    TLS) or "starttls" (offered, required before MAIL)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    handler = handler or Recorder()
    kw: dict[str, Any] = {}
    ctx = None
    if tls:
        assert cert is not None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    if tls == "starttls":
        kw["tls_context"] = ctx
        kw["require_starttls"] = True
    if auth:
        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False)

        kw["authenticator"] = authenticator
        kw["auth_require_tls"] = False
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            ssl_context=ctx if tls == "ssl" else None,
                            server_hostname="localhost", **kw)
    controller.start()
    return Smtp(controller, handler, port)


def support_mail_config(dovecot: Any, user: str, smtp_port: int, *, before: str = "",
                        entry: str = "") -> str:
    """The config of the email tests' one ``support-mail`` entry (IMAP on
    ``dovecot``, SMTP on ``smtp_port``): ``before`` goes above
    ``channels:``, ``entry`` inside the entry (lines indented four spaces)."""
    return (
        before
        + "channels:\n"
        "  - name: support-mail\n"
        "    type: imap\n"
        "    host: 127.0.0.1\n"
        f"    port: {dovecot.port}\n"
        "    security: none\n"
        f"    username: {user}\n"
        "    password_env: SUPPORT_MAIL_PASSWORD\n"
        "    addresses: [support@example.org]\n"
        + entry
        + "    smtp:\n"
        "      host: 127.0.0.1\n"
        f"      port: {smtp_port}\n"
        "      security: none\n"
        "      from: Support <support@example.org>\n"
    )
