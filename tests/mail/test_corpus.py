"""Every message of the flanker corpus (tests/data/flanker, Apache-2.0)
ingests readably: text or attachments, its sender and date where it has
them, no replacement-character soup, reports recognised.

Which bounce files are failures was checked by reading them: both
``delayed*.eml`` carry ``Action: failed`` (the MTA gave up after retrying),
so they are failures despite their names; ``no-mx.eml`` is a warning
("Delayed Mail (still being retried)") and is not.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from supportctl.mail.parse import parse_email
from supportctl.models import Inbound
from tests.conftest import CORPUS

ROOT = CORPUS / "flanker"
FILES = sorted(ROOT.rglob("*.eml"))
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
#: Messages with no body and no attachment at all (a multipart without parts).
EMPTY = {"false-multipart.eml"}
NOT_FAILED_BOUNCES = {"no-mx.eml"}


def _header(raw: bytes, name: str) -> str:
    head = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    for line in head.split(b"\n"):
        if line.lower().startswith(name.lower().encode() + b":"):
            return line.split(b":", 1)[1].strip().decode("latin-1")
    return ""


def test_corpus_is_there() -> None:
    assert len(FILES) >= 45
    assert {p.parent.name for p in FILES} >= {"flanker", "bounce", "complaints", "spam"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_corpus_message_ingests_readably(path: Path) -> None:
    raw = path.read_bytes()
    item = parse_email(raw, received_at=WHEN, source_ref="INBOX:1")
    assert item.medium == "email" and item.raw == raw and not item.needs_parse
    assert item.source_ref == "INBOX:1" and item.received_at == WHEN
    assert item.external_id and len(item.external_id) < 1000
    if path.name not in EMPTY:
        assert item.text.strip() or item.attachments, "no readable content"
    # No replacement soup: at most the one broken byte a message really has
    # (two corpus headers are UTF-8 cut inside a character).
    soup = [item.text, item.subject, item.sender.name if item.sender else ""]
    soup += [a.filename for a in item.attachments]
    if b"\xef\xbf\xbd" not in raw:
        assert all(s.count("\ufffd") <= 1 for s in soup), soup
    assert "\x1b" not in item.text and "\x00" not in item.text
    assert "\n" not in item.subject and "\r" not in item.subject
    # The sender where the message names one.
    if "@" in _header(raw, "From"):
        assert item.sender is not None and "@" in item.sender.address
    # The date where the message has a readable one, else arrival time.
    assert item.sent_at is not None and item.sent_at.tzinfo is not None
    try:
        stated = parsedate_to_datetime(_header(raw, "Date"))
    except (TypeError, ValueError):
        stated = None
    if stated is not None and stated.tzinfo is not None and stated.year >= 1980:
        assert item.sent_at == stated.astimezone(timezone.utc)
    elif not _header(raw, "Date"):
        assert item.sent_at == WHEN

    assert item.spam == _header(raw, "X-Spam-Flag").upper().startswith("YES")

    kind = path.parent.name
    if kind == "complaints":
        assert item.report_state == "failed" and item.report_error == "complaint: abuse"
        assert item.reports_on
    elif kind == "bounce" and path.name not in NOT_FAILED_BOUNCES:
        assert item.report_state == "failed" and item.report_error
    else:
        assert item.report_state == "" and item.report_error == ""


@pytest.mark.parametrize("name,error,reports_on", [
    ("gmail-invalid-address.eml", "550 5.1.0 Recipient rejected",
     "CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com"),
    ("mailbox-full.eml", "552 5.2.2", "4E326A95.3010907@example.com"),
    ("office365.eml", "550 5.1.10 RESOLVER.ADR.RecipientNotFound",
     "20171013111011.20866.254C2F3A4D7AA526@ninomail.com"),
    ("zed.eml", "550-5.1.1", "20090708054735.GC7578@example.com"),
    ("delayed.eml", "4.0.0 426 connection timed out", None),
    ("gmail-no-dns.eml", "DNS Error: Domain name not found", None),
])
def test_bounce_details(name: str, error: str, reports_on: str | None) -> None:
    item = parse_email((ROOT / "bounce" / name).read_bytes())
    assert item.report_state == "failed"
    assert item.report_error.startswith(error), item.report_error
    if reports_on:
        assert item.reports_on == [reports_on]
    # The enclosed original is ours: it is linked, not shown as the report's text.
    assert "Forwarded message" not in item.text


def test_delay_warning_is_not_a_failure() -> None:
    item = parse_email((ROOT / "bounce" / "no-mx.eml").read_bytes())
    assert item.report_state == "" and item.auto_reason


def test_complaints_name_the_original() -> None:
    aol = parse_email((ROOT / "complaints" / "aol.eml").read_bytes())
    assert aol.reports_on == ["20101117174130.28884.55421@luna"]
    yahoo = parse_email((ROOT / "complaints" / "yahoo.eml").read_bytes())
    assert yahoo.reports_on == ["20120711015015.4A8BE2E088E@www.example.com"]


def test_known_bodies_and_names() -> None:
    def parse(name: str) -> Inbound:
        return parse_email((ROOT / name).read_bytes())

    assert "Превел" in parse("8bitmime.eml").text
    assert "pöstal" in parse("signed.eml").text
    assert parse("encoded-header.eml").sender.name == "Foo, Bar"  # type: ignore[union-attr]
    assert parse("from-encoding.eml").sender.name == "Ingo Lütkebohle"  # type: ignore[union-attr]
    assert parse("long-header.eml").subject.startswith("Die heiße Zypernsonne quälte")
    # Raw UTF-8 in a header, cut inside a character: still UTF-8, not mojibake.
    pic = parse("russian-attachment-yahoo.eml").attachments[0]
    assert pic.filename.startswith("Картинка с очень, очень длинным") and pic.content_type == "image/png"
    broken = parse("mailformed-headers.eml")
    assert broken.sender is not None and broken.sender.name.startswith("Юникод запрещен")
    # An inline photo from an iPhone is an inline attachment.
    photo = parse("iphone.eml").attachments[0]
    assert (photo.filename, photo.content_type, photo.inline) == ("photo.JPG", "image/jpeg", True)
    # A single-part attachment with no body: the attachment is the content.
    oe = parse("outlook-express.eml")
    assert oe.attachments and oe.attachments[0].data.decode() == "текстовое вложение"


def test_forwarded_messages_are_shown_with_their_headers() -> None:
    item = parse_email((ROOT / "enclosed.eml").read_bytes())
    assert item.text.startswith("Hello")
    assert "---------- Forwarded message ----------\nFrom: Kirk Douglas <dan@example.com>" in item.text
    assert "Subject: Thanks!" in item.text and "kicking ass" in item.text
    assert item.html == ""  # the enclosed message's HTML is not this message's


def test_endless_and_torture_messages_are_bounded() -> None:
    for name in ("enclosed-endless.eml", "torture.eml", "long-header.eml"):
        raw = (ROOT / name).read_bytes()
        start = time.process_time()
        item = parse_email(raw)
        assert time.process_time() - start < 2, name  # measured ≈ 0.1 s at worst
        assert item.text


def test_whole_corpus_is_fast() -> None:
    raws = [p.read_bytes() for p in FILES]
    start = time.process_time()
    for raw in raws:
        parse_email(raw)
    # Generous bound (CI machines vary); measured ≈ 0.2 s for 48 files,
    # median 0.4 ms a mail, most of it in the enclosed-endless 3 MB mail.
    assert time.process_time() - start < 10
