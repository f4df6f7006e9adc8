"""A silent or trickling IMAP or SMTP server fails its channel entry within
the configured ``timeout``, with one line naming the entry and the server,
and releases the sync lock (issue 7: a silent server held `sync` and its
lock for 3 minutes). Real loopback sockets, whole `supportctl` processes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait()


def _trickle_greeting(conn: socket.socket, stop: threading.Event) -> None:
    """Bytes of a greeting line, one every 0.2 s, never ending it."""
    for ch in b"* OK IMAP4rev1 " + b"." * 10_000:
        if stop.wait(0.2):
            return
        conn.sendall(bytes([ch]))


def _imap_chatter(conn: socket.socket, stop: threading.Event) -> None:
    """A quick greeting, then to any command an endless stream of complete
    untagged lines, one every 0.2 s, and never the tagged answer: every read
    succeeds, nothing finishes."""
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
    conn.recv(1024)
    while not stop.wait(0.2):
        conn.sendall(b"* OK still thinking\r\n")


def _smtp_trickle(conn: socket.socket, stop: threading.Event) -> None:
    for ch in b"220-" + b"x" * 10_000:
        if stop.wait(0.2):
            return
        conn.sendall(bytes([ch]))


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], int]]:
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(behaviour: Callable[[socket.socket, threading.Event], None]) -> int:
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        listeners.append(lsock)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return

                def run(c: socket.socket = conn) -> None:
                    try:
                        behaviour(c, stop)
                    except OSError:
                        pass
                    finally:
                        c.close()

                threading.Thread(target=run, daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return int(lsock.getsockname()[1])

    yield start
    stop.set()
    for lsock in listeners:
        lsock.close()


def _config(tmp_path: Path, imap_port: int, smtp_port: int) -> dict[str, str]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "channels:\n"
        "  - name: shop-mail\n"
        "    type: imap\n"
        "    host: 127.0.0.1\n"
        f"    port: {imap_port}\n"
        "    security: none\n"
        "    username: support@shop.example\n"
        "    password: secret\n"
        "    timeout: 2s\n"
        "    smtp:\n"
        "      host: 127.0.0.1\n"
        f"      port: {smtp_port}\n"
        "      security: none\n"
        "      timeout: 2s\n",
        encoding="utf-8",
    )
    return {"SUPPORTCTL_CONFIG": str(cfg)}


@pytest.mark.parametrize("behaviour", [_silent, _trickle_greeting, _imap_chatter],
                         ids=["silent", "trickling-greeting", "endless-untagged-lines"])
def test_a_hung_imap_server_fails_its_entry_within_the_timeout(
        cli: Any, tmp_path: Path, server: Any, behaviour: Any) -> None:
    port = server(behaviour)
    env = _config(tmp_path, port, port)
    started = time.monotonic()
    r = cli("sync", env=env)
    took = time.monotonic() - started
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    assert lines[0].startswith("shop-mail: FAILED: ") and f"127.0.0.1:{port}" in lines[0], r
    assert "stopped answering" in lines[0] and "secret" not in r.err, r
    # One timeout (2 s), not one per connect attempt or reconnect; the rest
    # is interpreter start-up on a busy machine.
    assert took < 2 * 3 + 8, took
    # The lock is free again: a second sync is not told another one runs.
    again = cli("sync", env=env)
    assert again.code == 1 and "another sync" not in again.err, again


@pytest.mark.parametrize("behaviour", [_silent, _smtp_trickle], ids=["silent", "trickling"])
def test_a_hung_smtp_server_fails_the_send_within_the_timeout(
        cli: Any, tmp_path: Path, server: Any, behaviour: Any) -> None:
    port = server(behaviour)
    env = _config(tmp_path, port, port)
    started = time.monotonic()
    r = cli("new", "--channel", "email", "--to", "ann@example.com", "--subject", "Your order",
            "-m", "It left today.", env=env)
    assert time.monotonic() - started < 2 * 3 + 8
    assert r.code == 1, r
    assert f"SMTP server 127.0.0.1:{port} stopped answering" in r.err, r
    [entry] = run_cli("--db", str(cli.db), "outbox", "list", "--format", "json", env=env).json()
    # Nothing was handed over: a failed send to retry, not an unknown one.
    assert entry["state"] == "failed", entry


def test_smtplib_socket_timeout_firing_before_the_deadline_is_still_a_hung_server(
        server: Any) -> None:
    """The socket's own timeout and the deadline are the same length; on a
    loaded machine the socket's may fire first, and smtplib reports it as
    "connection unexpectedly closed". It is still a server that stopped
    answering (it once read "SMTPServerDisconnected while connecting")."""
    from supportctl.channels import build
    from supportctl.errors import ChannelTimeout

    port = server(_silent)
    channel: Any = build({"name": "shop-mail", "type": "imap", "host": "127.0.0.1", "port": port,
                          "security": "none", "username": "u", "password": "p",
                          "smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                                   "timeout": 1}})
    original = channel._deadline
    # The deadline comes late: only the socket's timeout can end the wait.
    channel._deadline = lambda doing, seconds, smtp=None: original(doing, seconds * 20, smtp)
    with pytest.raises(ChannelTimeout, match=f"127.0.0.1:{port} stopped answering"):
        channel._smtp_connect()
