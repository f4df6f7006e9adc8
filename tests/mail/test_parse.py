"""The traps of research/sync-rules.md §3, one test each: charset liars,
RFC 2047 and raw 8-bit headers, header injection, Outlook ids, keys for
mail without a Message-ID, dates, attachments, reports, hostile structure,
and Hypothesis on arbitrary bytes."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.errors import ParseError
from supportctl.mail.parse import MAX_DEPTH, parse_email
from supportctl.models import Address, Inbound

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def msg(headers: str, body: bytes = b"hello\r\n", *, encoding: str = "utf-8") -> bytes:
    return headers.replace("\n", "\r\n").encode(encoding) + b"\r\n" + body


def plain(charset: str, body: bytes) -> bytes:
    return msg(f"From: a@example.com\nContent-Type: text/plain; charset={charset}\n", body)


# -- charsets -----------------------------------------------------------------


def test_charset_liars_fall_back_to_the_real_charset() -> None:
    # Declared us-ascii, really windows-1252 (€ and dashes are not latin-1).
    assert parse_email(plain("us-ascii", "Größe: 42 € — grazie".encode("cp1252"))).text == \
        "Größe: 42 € — grazie"
    # A charset Python does not know: the bytes are UTF-8.
    assert parse_email(plain("bogus-8", "naïve café".encode())).text == "naïve café"
    # UTF-8 declared as iso-8859-1, the commonest liar: not "GrÃ¼ÃŸe".
    assert parse_email(plain("iso-8859-1", "Grüße aus München".encode())).text == "Grüße aus München"
    # gb2312 declared, GBK characters used.
    text = "你好，我的订单还没到。请帮忙查一下。"
    assert parse_email(plain("gb2312", text.encode("gbk"))).text == text


@pytest.mark.parametrize("declared", [
    "uft-8", '"utf-8 euao6y69zh2w"', "UTF8", "utf-8;", "'utf-8'",
])
def test_misspelt_utf8_labels(declared: str) -> None:
    assert parse_email(plain(declared, "Bestellung für Jürgen".encode())).text == "Bestellung für Jürgen"


@pytest.mark.parametrize("declared,codec,text", [
    ("iso-8859-8-i", "iso-8859-8", "שלום, ההזמנה לא הגיעה"),
    ("cp-850", "cp850", "Größe und Preis"),
    ("windows-874", "cp874", "สวัสดีครับ คำสั่งซื้อยังไม่มา"),
    ("_iso-2022-jp$esc", "iso-2022-jp", "こんにちは、注文がまだ届きません"),
    ("iso-2022-jp", "iso-2022-jp", "こんにちは"),
    ("utf-16", "utf-16", "héllo wörld"),
    ("ks_c_5601-1987", "cp949", "주문이 아직 도착하지 않았습니다"),
    ("shift_jis", "cp932", "ご注文ありがとうございます①"),
])
def test_charset_zoo(declared: str, codec: str, text: str) -> None:
    assert parse_email(plain(declared, text.encode(codec))).text == text


@pytest.mark.parametrize("declared", ["unknown", "1", "", "x-unknown", "unknown-8bit"])
def test_unusable_labels_are_detected(declared: str) -> None:
    text = "Здравствуйте! Мой заказ номер 1042 так и не пришёл, помогите пожалуйста разобраться."
    assert parse_email(plain(declared, text.encode("cp1251"))).text == text
    assert parse_email(plain(declared, text.encode())).text == text


def test_utf8_with_one_broken_byte_stays_utf8() -> None:
    body = "Привет, заказ не пришёл".encode() + b"\xff" + " спасибо".encode()
    text = parse_email(plain("utf-8", body)).text
    assert text.startswith("Привет, заказ не пришёл") and text.count("\ufffd") == 1


# -- headers ------------------------------------------------------------------


def test_rfc2047_words_and_folding() -> None:
    raw = msg("From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\n"
              "Subject: =?iso-8859-1?q?R=E9clamation?= commande\n =?utf-8?b?4oSWIDQy?=\n")
    item = parse_email(raw)
    assert item.sender == Address("jose@example.com", "José Pérez")
    assert item.subject == "Réclamation commande № 42"


def test_rfc2047_spacing_and_split_characters() -> None:
    # Space between encoded words is dropped (RFC 2047 §6.2), kept around text.
    item = parse_email(msg("From: a@example.com\n"
                           "Subject: =?utf-8?q?Hallo?= Welt =?utf-8?q?und?=  =?utf-8?q?_mehr?=\n"))
    assert item.subject == "Hallo Welt und mehr"
    # One UTF-8 character split over two base64 words.
    item = parse_email(msg("From: a@example.com\nSubject: =?utf-8?b?4oC?= =?utf-8?b?mWhp?=\n"))
    assert item.subject == "\u2019hi"
    # A latin-1 word that is really UTF-8, and a word with a language tag.
    item = parse_email(msg("From: a@example.com\nSubject: =?iso-8859-1?q?Gr=C3=BC=C3=9Fe?= "
                           "=?utf-8*de?q?_aus_K=C3=B6ln?=\n"))
    assert item.subject == "Grüße aus Köln"


def test_raw_8bit_headers() -> None:
    # RFC 6532: UTF-8 straight in the header.
    raw = msg("From: Jürgen Groß <jg@example.de>\nSubject: Grüße aus München\n"
              "To: Zoë <zoe@example.org>\n")
    item = parse_email(raw)
    assert item.subject == "Grüße aus München"
    assert (item.sender.name if item.sender else "") == "Jürgen Groß"
    assert item.to[0].name == "Zoë"
    # Legacy: latin-1 bytes in the header, the body says iso-8859-1.
    raw = msg("From: Jürgen Groß <jg@example.de>\nSubject: Grüße\n"
              "Content-Type: text/plain; charset=iso-8859-1\n",
              "Grüße".encode("latin-1"), encoding="latin-1")
    item = parse_email(raw)
    assert (item.subject, item.sender.name if item.sender else "", item.text) == \
        ("Grüße", "Jürgen Groß", "Grüße")


def test_encoded_specials_in_a_name_cannot_change_the_address() -> None:
    raw = msg("From: =?utf-8?q?support=40bank.example_=3Cboss=40ours.example=3E?= "
              "<evil@attacker.example>\n"
              "To: =?utf-8?q?Smith=2C_John?= <john@example.com>, b@example.com\n")
    item = parse_email(raw)
    assert item.sender is not None and item.sender.address == "evil@attacker.example"
    assert item.sender.name == "support@bank.example <boss@ours.example>"
    assert [(a.name, a.address) for a in item.to] == [("Smith, John", "john@example.com"),
                                                      ("", "b@example.com")]


def test_encoded_newline_in_subject_and_name_is_one_line() -> None:
    raw = msg("From: =?utf-8?q?Eve=0D=0ABcc:_x@evil.example?= <eve@example.com>\n"
              "Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.com=1B=5B2J?=\n")
    item = parse_email(raw)
    assert item.subject == "hi Bcc: victim@example.com"
    assert item.sender is not None and item.sender.address == "eve@example.com"
    assert "\n" not in item.sender.name and "\r" not in item.sender.name


def test_outlook_style_ids_broken_to_and_trailing_comma() -> None:
    raw = msg('From: a@example.com\nTo: "\nCc: b@example.com,\n'
              "Message-ID: <[abc-123]@microsoft.com>\n"
              "In-Reply-To: <[x]@microsoft.com>\nReferences: <r1@x>\n <[x]@microsoft.com>\n")
    item = parse_email(raw)
    assert item.external_id == "[abc-123]@microsoft.com"
    assert item.in_reply_to == "[x]@microsoft.com"
    assert item.references == ["r1@x", "[x]@microsoft.com"]
    assert [a.address for a in item.cc] == ["b@example.com"]


def test_bare_in_reply_to_without_brackets() -> None:
    item = parse_email(msg("From: a@example.com\nIn-Reply-To: abc@example.com\n"))
    assert item.in_reply_to == "abc@example.com"


@pytest.mark.parametrize("header", ["", "Message-ID: <>\n", "Message-ID: \n",
                                    "Message-ID: not an id\n", f"Message-ID: <{'x' * 2000}@y>\n"])
def test_missing_or_unusable_message_id_gets_a_stable_hash(header: str) -> None:
    raw = msg(f"From: a@example.com\nSubject: no id\n{header}")
    a, b = parse_email(raw), parse_email(raw)
    assert a.external_id == b.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    # Two different mails with the same From/Subject/Date are two keys.
    other = parse_email(raw + b"more\r\n")
    assert other.external_id != a.external_id


def test_sender_falls_back_to_sender_and_return_path() -> None:
    item = parse_email(msg("Sender: s@example.com\nSubject: x\n"))
    assert item.sender is not None and item.sender.address == "s@example.com"
    item = parse_email(msg("Return-Path: <r@example.com>\nSubject: x\n"))
    assert item.sender is not None and item.sender.address == "r@example.com"
    item = parse_email(msg("Return-Path: <>\nSubject: x\n"))
    assert item.sender is None


def test_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    item = parse_email(msg("From: a@example.com\nDate: Tue, 1 Sep 2026 10:00:00 +0200\n"), received_at=WHEN)
    assert item.sent_at == datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
    for bad in ("Yesterday at noon", "Thu, 1 Jan 1970 00:00:00 +0000", "Mon, 99 Foo 20261 99:99:99"):
        assert parse_email(msg(f"From: a@example.com\nDate: {bad}\n"), received_at=WHEN).sent_at == WHEN
    # Neither a date nor a receipt time: the one clock (SPEC §10), pinned here.
    monkeypatch.setenv("SUPPORTCTL_NOW", "2026-12-02T10:00:00Z")
    assert parse_email(msg("From: a@example.com\n")).sent_at == datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


def test_spam_flag() -> None:
    assert parse_email(msg("From: a@example.com\nX-Spam-Flag: YES\n")).spam
    assert parse_email(msg("From: a@example.com\nX-Spam-Status: Yes, score=9.1\n")).spam
    assert not parse_email(msg("From: a@example.com\nX-Spam-Flag: NO\n")).spam


def test_auto_reason_is_set() -> None:
    assert parse_email(msg("From: a@example.com\nAuto-Submitted: auto-replied\n")).auto_reason == \
        "auto-submitted: auto-replied"
    assert parse_email(msg("From: a@example.com\n")).auto_reason == ""


# -- bodies -------------------------------------------------------------------


def mime(parts: str, *, top: str = "multipart/mixed", extra: str = "") -> bytes:
    head = f"From: a@example.com\nSubject: s\n{extra}MIME-Version: 1.0\nContent-Type: {top}; boundary=\"b\"\n"
    return msg(head, parts.replace("\n", "\r\n").encode())


def test_html_only_mail_is_readable_and_escape_free() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/html; charset=utf-8\n",
              b"<html><head><style>p{}</style></head><body><p>Order <b>42</b>&#27;[2J</p>"
              b"<p><a href='https://x.example/t'>track</a></p><script>alert(1)</script></body></html>")
    item = parse_email(raw)
    assert "Order 42" in item.text and "track (https://x.example/t)" in item.text
    assert "\x1b" not in item.text and "alert" not in item.text and "p{}" not in item.text
    assert item.html.startswith("<html>")


def test_alternative_prefers_plain_and_keeps_html() -> None:
    raw = mime("--b\nContent-Type: text/plain\n\nplain words\n"
               "--b\nContent-Type: text/html\n\n<p>html words</p>\n--b--\n", top="multipart/alternative")
    item = parse_email(raw)
    assert item.text == "plain words" and "<p>html words</p>" in item.html
    # An empty plain alternative does not hide the HTML one.
    raw = mime("--b\nContent-Type: text/plain\n\n \n"
               "--b\nContent-Type: text/html\n\n<p>html words</p>\n--b--\n", top="multipart/alternative")
    assert parse_email(raw).text == "html words"


def test_html_body_beside_a_footer_part_is_not_lost() -> None:
    raw = mime("--b\nContent-Type: text/html\n\n<p>The real question</p>\n"
               "--b\nContent-Type: text/plain\n\n-- list footer\n--b--\n")
    text = parse_email(raw).text
    assert "The real question" in text and "list footer" in text


def test_attachments_inline_images_and_names() -> None:
    raw = mime(
        "--b\nContent-Type: multipart/related; boundary=\"r\"\n\n"
        "--r\nContent-Type: text/html\n\n<p>see <img src=\"cid:logo@x\"></p>\n"
        "--r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n"
        "iVBORw0KGgo=\n--r--\n"
        "--b\nContent-Type: application/pdf; name=\"=?utf-8?q?Rechnung_M=C3=A4rz.pdf?=\"\n"
        "Content-Disposition: attachment\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n"
        "--b\nContent-Type: text/plain\nContent-Disposition: attachment; "
        "filename*=UTF-8''%C3%BCbersicht%20Q3.txt\n\nnot the body\n"
        "--b\nContent-Type: application/octet-stream\n\nxyz\n--b--\n")
    item = parse_email(raw)
    got = [(a.filename, a.content_type, a.content_id, a.inline) for a in item.attachments]
    assert got == [
        ("part-1.png", "image/png", "logo@x", True),
        ("Rechnung März.pdf", "application/pdf", "", False),
        ("übersicht Q3.txt", "text/plain", "", False),
        ("part-4.bin", "application/octet-stream", "", False),
    ]
    assert item.attachments[0].data.startswith(b"\x89PNG")
    assert item.attachments[1].data == b"%PDF-"
    assert item.text == "see" and "not the body" not in item.text


def test_defective_multipart_without_boundary_shows_its_payload() -> None:
    raw = msg("From: a@example.com\nContent-Type: multipart/mixed; boundary=\"nope\"\n",
              b"just some text, the boundary never comes\r\n")
    item = parse_email(raw)
    assert "just some text" in item.text and not item.attachments


def test_dsn_with_headers_only_and_original_message_id() -> None:
    raw = mime(
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: user unknown\n"
        "--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <ours.1@help.example.com>\n"
        "Subject: Your ticket\n--b--\n",
        top="multipart/report; report-type=delivery-status",
        extra="Auto-Submitted: auto-replied\n")
    item = parse_email(raw)
    assert item.report_state == "failed"
    assert item.report_error == "550 5.1.1 <gone@example.org>: user unknown"
    assert item.reports_on == ["ours.1@help.example.com"]
    assert item.text == "Your message could not be delivered."


def test_delayed_dsn_is_not_a_failure() -> None:
    raw = mime(
        "--b\nContent-Type: text/plain\n\nStill trying.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; slow@example.org\nAction: delayed\nStatus: 4.4.7\n"
        "--b\nContent-Type: message/rfc822\n\nMessage-ID: <ours.2@help.example.com>\n\nhi\n--b--\n",
        top="multipart/report; report-type=delivery-status")
    item = parse_email(raw)
    assert item.report_state == "" and item.report_error == "" and item.reports_on == []


def test_dsn_original_message_id_field() -> None:
    raw = mime(
        "--b\nContent-Type: message/delivery-status\n\nOriginal-Message-ID: <ours.3@help.example.com>\n\n"
        "Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.2.2\n--b--\n",
        top="multipart/report; report-type=delivery-status")
    item = parse_email(raw)
    assert item.report_state == "failed" and item.report_error == "5.2.2"
    assert item.reports_on == ["ours.3@help.example.com"]


def test_arf_complaint_type() -> None:
    raw = mime(
        "--b\nContent-Type: text/plain\n\nA complaint.\n"
        "--b\nContent-Type: message/feedback-report\n\nFeedback-Type: fraud\nVersion: 1\n"
        "--b\nContent-Type: message/rfc822\n\nMessage-ID: <ours.4@help.example.com>\n\nhi\n--b--\n",
        top="multipart/report; report-type=feedback-report")
    item = parse_email(raw)
    assert (item.report_state, item.report_error, item.reports_on) == \
        ("failed", "complaint: fraud", ["ours.4@help.example.com"])


def test_non_standard_bounce() -> None:
    raw = msg("From: MAILER-DAEMON@mx.example.com\nSubject: failure notice\n",
              b"Hi. This is the qmail-send program.\r\n<gone@example.org>:\r\n"
              b"550 5.1.1 mailbox unavailable\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n"
              b"Message-ID: <ours.5@help.example.com>\r\nSubject: hi\r\n")
    item = parse_email(raw)
    assert item.report_state == "failed"
    assert item.report_error == "550 5.1.1 mailbox unavailable"
    assert item.reports_on == ["ours.5@help.example.com"]
    assert "mailer-daemon" in item.auto_reason


# -- hostile structure ----------------------------------------------------------


def test_thousands_of_nested_multiparts_still_ingest() -> None:
    # Python's email package hits RecursionError here; the mail is read
    # again with headers only and its body kept as text.
    n = 3000
    body = "".join(f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(n))
    raw = msg("From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n",
              (body + f"--b{n}\nContent-Type: text/plain\n\ndeep text\n").replace("\n", "\r\n").encode())
    start = time.process_time()
    item = parse_email(raw)
    assert time.process_time() - start < 5
    assert item.subject == "deep" and "deep text" in item.text


def test_many_parts_are_bounded() -> None:
    parts = "".join(f"--b\nContent-Type: application/octet-stream\n\nx{k}\n" for k in range(5000))
    start = time.process_time()
    item = parse_email(mime(parts + "--b--\n"))
    assert time.process_time() - start < 5
    assert 0 < len(item.attachments) <= 500


def test_deeply_forwarded_messages_are_bounded() -> None:
    raw = ("From: a@example.com\r\nSubject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" * 300
           + "From: z@example.com\r\n\r\ninner\r\n").encode()
    item = parse_email(raw)
    assert 0 < item.text.count("Forwarded message") <= MAX_DEPTH + 1


def test_garbage_is_a_parse_error() -> None:
    for raw in (b"", b"   \r\n", b"\x00\x01\x02 just bytes, no headers", b"hello world\r\n\r\nmore"):
        with pytest.raises(ParseError):
            parse_email(raw)


def test_mbox_from_line_and_headers_only() -> None:
    item = parse_email(b"From someone Mon Jan 1 00:00:00 2026\nFrom: a@example.com\nSubject: s\n\nbody\n")
    assert item.text == "body" and item.sender is not None
    item = parse_email(b"From: a@example.com\r\nSubject: only headers\r\n")
    assert item.subject == "only headers" and item.text == ""


def _check(item: Inbound) -> None:
    assert isinstance(item, Inbound) and item.external_id
    assert "\x1b" not in item.text and "\n" not in item.subject
    assert item.sent_at is not None and item.sent_at.tzinfo is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_parse_or_parse_error(raw: bytes) -> None:
    try:
        item = parse_email(raw)
    except ParseError:
        return
    _check(item)


_HEADER_NAMES = st.sampled_from([
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted",
    "Return-Path", "X-Spam-Flag", "Precedence", "Sender",
])
_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from([
        '"', "<>", "<[a]@microsoft.com>", "=?utf-8?q?=0D=0A?=", "=?bogus?b?////?=", "=?utf-8?b?",
        'multipart/mixed; boundary="b"', "multipart/report; report-type=delivery-status",
        'text/plain; charset="utf-8 junk"', "text/html; charset=uft-8", "message/rfc822",
        "base64", "quoted-printable", 'attachment; filename*=UTF-8\'\'%E2%80%AE.exe', "not a date",
    ]),
)
_BODY = st.lists(st.one_of(
    st.sampled_from(["--b", "--b--", "Content-Type: text/html", "Content-Type: message/rfc822",
                     "<p>&#27;[2J</p>", "=C3=A4=", "////", "Action: failed", "Status: 5.1.1", ""]),
    st.text(max_size=40)), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADER_NAMES, _VALUES), min_size=1, max_size=12), _BODY,
       st.sampled_from(["utf-8", "latin-1", "cp1251"]))
def test_mail_shaped_garbage_never_crashes(headers: list[tuple[str, str]], body: list[str],
                                           encoding: str) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    raw = (head + "\r\n" + "\r\n".join(body)).encode(encoding, "replace")
    try:
        item = parse_email(raw, received_at=WHEN)
    except ParseError:
        return
    _check(item)
