"""Every message in the flanker corpus survives the parser; the traps of
research/sync-rules.md §3 each have a test."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.errors import ParseError
from supportctl.mail.parse import parse_email
from supportctl.mail.quotes import fold
from tests.conftest import CORPUS

FILES = sorted((CORPUS / "flanker").rglob("*.eml"))
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS / "flanker")))
def test_corpus_message_ingests_readably(path: Path) -> None:
    raw = path.read_bytes()
    item = parse_email(raw, received_at=WHEN)
    assert item.raw == raw and item.external_id
    assert item.text.strip() or item.attachments, "no readable content"
    assert "\ufffd" * 3 not in item.text
    assert "\x1b" not in item.text
    assert "\n" not in item.subject and "\r" not in item.subject
    assert item.sent_at is not None and item.sent_at.tzinfo is not None
    kind = path.parent.name
    if kind == "complaints":
        assert item.report_state == "failed" and item.report_error.startswith("complaint")
        assert item.reports_on
    if kind == "bounce" and path.name != "no-mx.eml":
        assert item.report_state == "failed", item.report_error
    if path.name == "no-mx.eml":  # "still being retried": a warning, not a failure
        assert item.report_state == ""


def test_corpus_is_fast() -> None:
    start = time.perf_counter()
    for path in FILES:
        parse_email(path.read_bytes())
    assert time.perf_counter() - start < 10  # generous: measured ≈ 0.3 s for 47 files


def test_known_bodies() -> None:
    item = parse_email((CORPUS / "flanker" / "8bitmime.eml").read_bytes())
    assert "Превел" in item.text
    item = parse_email((CORPUS / "flanker" / "outlook-express.eml").read_bytes())
    assert "текстовое" in item.text
    signed = parse_email((CORPUS / "flanker" / "signed.eml").read_bytes())
    assert "pöstal" in signed.text


def msg(headers: str, body: bytes = b"hello\r\n") -> bytes:
    return headers.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body


def test_charset_liar_falls_back_to_the_real_charset() -> None:
    raw = msg("From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=us-ascii\n",
              "Größe: 42 € — grazie".encode("cp1252"))
    assert parse_email(raw).text.strip() == "Größe: 42 € — grazie"
    raw = msg("From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=bogus-8\n",
              "naïve café".encode())
    assert parse_email(raw).text.strip() == "naïve café"
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=iso-8859-1\n",
              "Grüße aus München, die Bestellung ist nicht angekommen".encode())
    assert "Grüße" in parse_email(raw).text


def test_rfc2047_and_folding() -> None:
    raw = msg("From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\n"
              "Subject: =?iso-8859-1?q?R=E9clamation?= commande\n =?utf-8?b?4oSWIDQy?=\n")
    item = parse_email(raw)
    assert item.sender is not None and item.sender.name == "José Pérez"
    assert item.subject == "Réclamation commande № 42"


def test_encoded_newline_in_subject_and_name_is_one_line() -> None:
    raw = msg("From: =?utf-8?q?Eve=0D=0ABcc:_x@evil.example?= <eve@example.com>\n"
              "Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.com?=\n")
    item = parse_email(raw)
    assert "\n" not in item.subject and "\r" not in item.subject
    assert item.sender is not None and "\n" not in item.sender.name


def test_missing_message_id_gets_a_stable_hash() -> None:
    raw = msg("From: a@example.com\nSubject: no id\n")
    a, b = parse_email(raw), parse_email(raw)
    assert a.external_id == b.external_id and a.external_id.startswith("sha256:")


def test_outlook_style_ids_and_broken_to() -> None:
    raw = msg('From: a@example.com\nTo: "\nMessage-ID: <[abc-123]@microsoft.com>\n'
              "In-Reply-To: <[x]@microsoft.com>\nReferences: <r1@x> <[x]@microsoft.com>\n")
    item = parse_email(raw)
    assert item.external_id == "[abc-123]@microsoft.com"
    assert item.in_reply_to == "[x]@microsoft.com"
    assert item.references == ["r1@x", "[x]@microsoft.com"]


def test_broken_date_falls_back_to_internaldate() -> None:
    raw = msg("From: a@example.com\nDate: Yesterday at noon\n")
    assert parse_email(raw, received_at=WHEN).sent_at == WHEN


def test_html_only_mail_is_readable_and_escape_free() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/html; charset=utf-8\n",
              b"<html><body><p>Order <b>42</b>&#27;[2J</p><p><a href='https://x.example'>track</a>"
              b"</p></body></html>")
    text = parse_email(raw).text
    assert "Order 42" in text and "track (https://x.example)" in text and "\x1b" not in text


@pytest.mark.parametrize("header,expected", [
    ("Auto-Submitted: auto-replied", "auto-submitted"),
    ("Auto-Submitted: no", ""),
    ("Precedence: bulk", "precedence"),
    ("List-Id: <news.example.com>", "List-Id"),
    ("List-Unsubscribe: <mailto:u@example.com>", "List-Unsubscribe"),
    ("X-Auto-Response-Suppress: All", "suppress"),
    ("X-Autoreply: yes", "x-autoreply"),
    ("Return-Path: <>", "return-path"),
])
def test_loop_headers(header: str, expected: str) -> None:
    item = parse_email(msg(f"From: a@example.com\n{header}\n"))
    if expected:
        assert expected.lower() in item.auto_reason.lower()
    else:
        assert item.auto_reason == ""


def test_mailer_daemon_sender_is_automatic() -> None:
    item = parse_email(msg("From: MAILER-DAEMON@mx.example.com\nSubject: hello\n"))
    assert "mailer-daemon" in item.auto_reason


def test_spam_flag() -> None:
    assert parse_email(msg("From: a@example.com\nX-Spam-Flag: YES\n")).spam
    assert not parse_email(msg("From: a@example.com\nX-Spam-Flag: NO\n")).spam


def test_garbage_is_a_parse_error() -> None:
    for raw in (b"", b"   \r\n", b"\x00\x01\x02 just bytes, no headers"):
        with pytest.raises(ParseError):
            parse_email(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_parse_error(raw: bytes) -> None:
    try:
        item = parse_email(raw)
    except ParseError:
        return
    assert item.external_id and "\x1b" not in item.text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=3000))
def test_arbitrary_headers_never_crash(text: str) -> None:
    raw = ("From: a@example.com\r\n" + text.replace("\n", "\r\n")).encode("utf-8", "replace")
    try:
        parse_email(raw)
    except ParseError:
        pass


@pytest.mark.parametrize("reply,quoted", [
    ("Thanks, that works.\n\nOn Mon, 1 Jan 2024 at 10:00, Shop <help@shop.example> wrote:\n> old", "old"),
    ("Danke!\n\nAm 01.01.2024 um 10:00 schrieb Shop <help@shop.example>:\n> alt", "alt"),
    ("Merci\n\nLe lun. 1 janv. 2024 à 10:00, Shop <help@shop.example> a écrit :\n> vieux", "vieux"),
    ("Grazie\n\nIl giorno lun 1 gen 2024 alle ore 10:00 Shop ha scritto:\n> vecchio", "vecchio"),
    ("Sure\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nTo: me\n\nold text", "old text"),
    ("Yes please\n\nFrom: Shop <help@shop.example>\nSent: Monday, 1 January\nSubject: x\n\nold", "old"),
    ("See you\n-- \nAnn Smith\n+1 555", "Ann Smith"),
])
def test_fold_hides_history_and_signatures(reply: str, quoted: str) -> None:
    shown, folded = fold(reply)
    assert folded and quoted not in shown and shown.strip()


def test_interleaved_answers_are_not_folded() -> None:
    text = "> question one\nanswer one\n> question two\nanswer two\n> q3\nanswer three"
    assert fold(text) == (text, False)


def test_fold_is_linear_on_hostile_input() -> None:
    hostile = ("> x\ny\n" * 40_000) + ("On " + "a" * 50_000 + "\n")
    start = time.perf_counter()
    fold(hostile)
    assert time.perf_counter() - start < 2
