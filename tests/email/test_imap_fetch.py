"""IMAP fetch against a real Dovecot: cursors, the nothing-new path,
UIDVALIDITY, flags, SINCE, batches, dropped connections, errors, IDLE."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from supportctl.channels import imap
from supportctl.channels.imap import ImapChannel
from supportctl.errors import AuthError, ChannelError
from supportctl.models import Batch
from tests.contract import drain
from tests.email.servers import Dovecot, Proxy, message

Account = Callable[..., dict[str, Any]]


def bodies(batches: list[Batch]) -> list[str]:
    out = []
    for b in batches:
        for item in b.items:
            text = item.raw.decode()
            out.append(text.split("contract message ")[1].split()[0])
    return out


def fetch_all(cfg: dict[str, Any], cursors: dict[str, str], **kw: Any) -> list[Batch]:
    ch = ImapChannel(cfg)
    try:
        batches = []
        for batch in ch.fetch(dict(cursors), **kw):
            batches.append(batch)
            if batch.cursor is not None:
                cursors[batch.source] = batch.cursor
        return batches
    finally:
        ch.close()


def test_first_incremental_and_nothing_new(dovecot: Dovecot, user: str, account: Account,
                                           proxy: Callable[..., Proxy]) -> None:
    dovecot.append(user, [message(k) for k in range(3)])
    p = proxy()
    cfg = account(port=p.port)
    cursors: dict[str, str] = {}

    first = fetch_all(cfg, cursors)
    assert bodies(first) == ["0", "1", "2"]
    item = first[0].items[0]
    assert item.medium == "email" and item.needs_parse and item.source_ref == "INBOX:1"
    assert item.received_at is not None and item.received_at.tzinfo is not None
    validity = dovecot.imap(user).status("INBOX", "(UIDVALIDITY)")[1][0].split()[-1][:-1]
    assert cursors == {"INBOX": f"{validity.decode()}:3"}
    assert "EXAMINE" in p.commands() and "SELECT" not in p.commands()

    # Nothing new: STATUS only, no EXAMINE/SELECT/SEARCH/FETCH (SPEC §8).
    p.client_bytes.clear()
    assert fetch_all(cfg, cursors) == []
    assert [c for c in p.commands() if c not in ("CAPABILITY", "LOGIN", "LOGOUT")] == ["STATUS"]

    dovecot.append(user, [message(3)])
    again = fetch_all(cfg, cursors)
    assert bodies(again) == ["3"]
    assert again[-1].items[-1].source_ref == "INBOX:4"
    assert cursors["INBOX"].endswith(":4")


def test_highest_uid_is_not_fetched_again_without_uidnext(
        dovecot: Dovecot, user: str, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that omits UIDNEXT forces the search path, where `n:*`
    still names the highest message (RFC 3501 §6.4.8): it must be dropped."""
    dovecot.append(user, [message(k) for k in range(2)])
    cursors: dict[str, str] = {}
    fetch_all(account(), cursors)
    real = imap._status_number
    monkeypatch.setattr(imap, "_status_number",
                        lambda data, key: None if key == "UIDNEXT" else real(data, key))
    monkeypatch.setattr(imap, "_first_number", lambda data: None)
    assert [i for b in fetch_all(account(), cursors) for i in b.items] == []


def test_uidvalidity_change_refetches_the_folder(dovecot: Dovecot, user: str,
                                                 account: Account) -> None:
    dovecot.append(user, [message(k) for k in range(2)])
    cursors: dict[str, str] = {}
    fetch_all(account(), cursors)
    dovecot.set_uidvalidity(user, 777)
    batches = fetch_all(account(), cursors)
    assert bodies(batches) == ["0", "1"]  # ingest dedupes them by Message-ID
    assert cursors["INBOX"] == "777:2"
    assert fetch_all(account(), cursors) == []


def test_fetch_never_changes_flags(dovecot: Dovecot, user: str, account: Account) -> None:
    dovecot.append(user, [message(0)])
    dovecot.append(user, [message(1)], flags="\\Seen")
    dovecot.append(user, [message(2)], flags="\\Flagged")
    before = dovecot.flags(user)
    assert "\\Seen" not in before[1] and "\\Seen" in before[2]
    batches = fetch_all(account(), {})
    assert bodies(batches) == ["0", "1", "2"]  # read mail is fetched too (R9)
    assert dovecot.flags(user) == before


def test_since_narrows_the_first_sync_only(dovecot: Dovecot, user: str, account: Account) -> None:
    old = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
    dovecot.append(user, [message("old1"), message("old2")], date=old)
    dovecot.append(user, [message("new1")])
    cursors: dict[str, str] = {}
    since = datetime(2023, 1, 1, tzinfo=timezone.utc)
    assert bodies(fetch_all(account(), cursors, since=since)) == ["new1"]
    assert cursors["INBOX"].endswith(":3")
    # Later runs go by UID: an old-dated message that arrives now is new.
    dovecot.append(user, [message("old3")], date=old)
    assert bodies(fetch_all(account(), cursors, since=since)) == ["old3"]


def test_since_with_nothing_in_the_window_still_records_the_position(
        dovecot: Dovecot, user: str, account: Account) -> None:
    old = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
    dovecot.append(user, [message("old1")], date=old)
    cursors: dict[str, str] = {}
    assert bodies(fetch_all(account(), cursors, since=datetime(2023, 1, 1, tzinfo=timezone.utc))) == []
    assert cursors["INBOX"].endswith(":1")
    assert fetch_all(account(), cursors) == []


def test_internaldate_is_received_at(dovecot: Dovecot, user: str, account: Account) -> None:
    when = datetime(2024, 3, 5, 14, 30, 0, tzinfo=timezone.utc)
    dovecot.append(user, [message(0)], date=when.timestamp())
    (batch,) = fetch_all(account(), {})
    assert batch.items[0].received_at == when


def test_empty_folder_records_uidvalidity(dovecot: Dovecot, user: str, account: Account) -> None:
    dovecot.append(user, [message(0)], folder="Other")  # creates the user's INBOX too
    cursors: dict[str, str] = {}
    batches = fetch_all(account(), cursors)
    assert [b.items for b in batches] == [[]]
    assert cursors["INBOX"].endswith(":0")


def test_batches_are_bounded_and_ordered(dovecot: Dovecot, user: str, account: Account,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dovecot.append(user, [message(k) for k in range(5)])
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 2)
    batches = fetch_all(account(), {})
    assert [len(b.items) for b in batches] == [2, 2, 1]
    assert [b.cursor.split(":")[1] for b in batches if b.cursor] == ["2", "4", "5"]
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 100)
    monkeypatch.setattr(imap, "BATCH_BYTES", 10)  # each message is bigger: one a batch
    assert [len(b.items) for b in fetch_all(account(), {})] == [1, 1, 1, 1, 1]


def test_several_folders_are_separate_sources(dovecot: Dovecot, user: str,
                                              account: Account) -> None:
    dovecot.append(user, [message("a")])
    dovecot.append(user, [message("b")], folder="Support/Ärger & Co")
    assert "Support/Ärger & Co" in dovecot.folders(user)  # modified UTF-7 got through
    cursors: dict[str, str] = {}
    batches = fetch_all(account(folders=["INBOX", "Support/Ärger & Co"]), cursors)
    assert {b.source for b in batches} == {"INBOX", "Support/Ärger & Co"}
    assert [i.source_ref for b in batches for i in b.items] == ["INBOX:1", "Support/Ärger & Co:1"]
    assert set(cursors) == {"INBOX", "Support/Ärger & Co"}


def test_uncommitted_batch_is_fetched_again(dovecot: Dovecot, user: str,
                                            account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after a batch is handed out but before it is committed: the
    next run, from the committed cursor, fetches that batch again."""
    dovecot.append(user, [message(k) for k in range(4)])
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 2)
    cursors: dict[str, str] = {}
    ch = ImapChannel(account())
    gen = ch.fetch(dict(cursors))
    first = next(gen)
    cursors[first.source] = first.cursor or ""
    second = next(gen)  # handed out, never committed: "crash"
    gen.close()
    ch.close()
    assert bodies([second]) == ["2", "3"]
    assert bodies(fetch_all(account(), cursors)) == ["2", "3"]


# -- dropped and broken connections ------------------------------------------


def test_dropped_connection_mid_fetch_resumes(dovecot: Dovecot, user: str, account: Account,
                                              proxy: Callable[..., Proxy],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * 10_000 + "\r\n"
    dovecot.append(user, [message(k, body=f"contract message {k}\r\n{big}") for k in range(6)])
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 1)
    p = proxy(cut_after=25_000)  # inside the third message
    cursors: dict[str, str] = {}
    got = bodies(fetch_all(account(port=p.port), cursors))
    assert p.cuts == 1 and p.connections == 2
    assert got == ["0", "1", "2", "3", "4", "5"]
    assert cursors["INBOX"].endswith(":6")


def test_connection_that_keeps_dropping_fails_temporary_and_loses_nothing(
        dovecot: Dovecot, user: str, account: Account, proxy: Callable[..., Proxy],
        monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * 10_000 + "\r\n"
    dovecot.append(user, [message(k, body=f"contract message {k}\r\n{big}") for k in range(8)])
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 1)
    p = proxy(cut_after=25_000, cut_connections=100)
    cursors: dict[str, str] = {}
    committed: list[Batch] = []
    ch = ImapChannel(account(port=p.port))
    with pytest.raises(ChannelError) as err:
        for batch in ch.fetch(dict(cursors)):
            committed.append(batch)
            cursors[batch.source] = batch.cursor or ""
    ch.close()
    assert err.value.temporary
    assert "\n" not in str(err.value)
    first_part = bodies(committed)
    assert first_part == [str(k) for k in range(len(first_part))] and len(first_part) < 8
    rest = bodies(fetch_all(account(), cursors))
    assert first_part + rest == [str(k) for k in range(8)]


def test_wrong_password_is_an_auth_error(account: Account) -> None:
    ch = ImapChannel(account(password="not-the-password"))
    with pytest.raises(AuthError) as err:
        list(ch.fetch({}))
    message_ = str(err.value)
    assert "support-mail" in message_ and "check username and password" in message_
    assert "not-the-password" not in message_
    assert not err.value.temporary


def test_refused_port_is_temporary(account: Account) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    ch = ImapChannel(account(port=port))
    with pytest.raises(ChannelError) as err:
        list(ch.fetch({}))
    assert err.value.temporary
    assert "refused" in str(err.value).lower()


def test_silent_server_times_out(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts and never greets must not hang a cron job."""
    monkeypatch.setattr(imap, "TIMEOUT", 0.5)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    try:
        ch = ImapChannel(account(port=lsock.getsockname()[1]))
        started = time.monotonic()
        with pytest.raises(ChannelError) as err:
            list(ch.fetch({}))
        assert err.value.temporary
        assert time.monotonic() - started < 10
    finally:
        lsock.close()


# -- IDLE and check ------------------------------------------------------------


def test_wait_returns_when_mail_arrives(dovecot: Dovecot, user: str, account: Account) -> None:
    dovecot.append(user, [message(0)])
    cursors: dict[str, str] = {}
    ch = ImapChannel(account())
    try:
        drain(ch, cursors)
        timer = threading.Timer(0.5, lambda: dovecot.append(user, [message(1)]))
        started = time.monotonic()
        timer.start()
        ch.wait(20)
        elapsed = time.monotonic() - started
        timer.join()
        print("ELAPSED", elapsed)
        assert 0.3 < elapsed < 10
        assert bodies(drain(ch, cursors)) == ["1"]
    finally:
        ch.close()


def test_wait_times_out_quietly(dovecot: Dovecot, user: str, account: Account) -> None:
    dovecot.append(user, [message(0)])
    ch = ImapChannel(account())
    try:
        drain(ch, {})
        started = time.monotonic()
        ch.wait(1.0)
        assert 0.8 < time.monotonic() - started < 5
    finally:
        ch.close()


def test_close_ends_even_when_an_interrupt_left_imaplib2_locked(
        dovecot: Dovecot, user: str, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """imaplib2 takes its command lock without try/finally: a Ctrl-C or
    SIGTERM landing inside a command (EXAMINE, IDLE: most of a ``sync
    --watch``) leaves it held, and the LOGOUT that ``close`` sends on the
    way out then waited for ever, so the interrupted run never ended. The
    goodbye is bounded: the connection is dropped instead."""
    monkeypatch.setattr(imap, "LOGOUT_SECONDS", 0.5)
    dovecot.append(user, [message(0)])
    ch = ImapChannel(account())
    drain(ch, {})
    conn = ch._session()
    conn.commands_lock.acquire()  # as an interrupted command leaves it
    closed = threading.Event()
    threading.Thread(target=lambda: (ch.close(), closed.set()), daemon=True).start()
    assert closed.wait(60), "close() waits for ever on imaplib2's lock"
    assert conn.Terminate  # dropped, its threads told to stop


def test_check_logs_in_to_imap_and_smtp(dovecot: Dovecot, user: str, account: Account) -> None:
    dovecot.append(user, [message(0)])
    ch = ImapChannel(account())
    assert ch.check() == "IMAP ok (1 folder), SMTP ok"
    ch.close()
    ch = ImapChannel(account(folders=["INBOX", "Nope"]))
    with pytest.raises(ChannelError) as err:
        ch.check()
    assert "Nope" in str(err.value)
    ch.close()


@pytest.mark.parametrize("tls", [False, True])
def test_raw_bytes_arrive_exactly(dovecot: Dovecot, user: str, account: Account,
                                  cert: Any, tls: bool) -> None:
    """Literals of every size and ending reach ``raw`` byte for byte (the
    reader hands literal chunks to imaplib2's handler, also through TLS)."""
    import random

    rng = random.Random(7)
    big = "".join(rng.choice("abcdef{}*()\r\n ") for _ in range(300_000)).replace("\r\n", "\n")
    raws = [
        message(0, body="no newline at the end"),
        message(1, body=big.replace("\n", "\r\n")),
        message(2, body="literal lookalike {12}\r\n* 3 FETCH (UID 9)\r\n)\r\n"),
        message(3, body="x" * 70_000),
    ]
    dovecot.append(user, raws)
    cfg = account(host="localhost", port=dovecot.ssl_port, security="ssl",
                  ca_file=str(cert[0])) if tls else account()
    items = [i for b in fetch_all(cfg, {}) for i in b.items]
    stored = [raw for _, _, raw in dovecot.messages(user)]  # read by stdlib imaplib
    assert len(stored[1]) > 300_000
    assert [i.raw for i in items] == stored
