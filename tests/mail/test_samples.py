"""The demo's sample mails (supportctl/samples/email) parse to what the
demo promises: a thread, a non-UTF-8 Italian mail, an HTML-only mail, an
attachment, an out-of-office reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportctl.mail.parse import parse_email
from supportctl.mail.quotes import fold
from supportctl.models import Inbound
from tests.conftest import ROOT

SAMPLES = ROOT / "supportctl" / "samples" / "email"


def parse(name: str) -> Inbound:
    return parse_email((SAMPLES / name).read_bytes())


def test_samples_are_there_and_fictional() -> None:
    files = sorted(SAMPLES.glob("*.eml"))
    assert 4 <= len(files) <= 8
    for path in files:
        item = parse_email(path.read_bytes())
        addresses = [item.sender] + item.to if item.sender else item.to
        assert all(a.address.split("@")[1].endswith(("example.com", "example.org", "example.it",
                                                      "example.fr", "example.de"))
                   for a in addresses if a)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_each_sample_parses_cleanly(path: Path) -> None:
    item = parse_email(path.read_bytes())
    assert item.sender is not None and item.subject and item.text
    assert "\ufffd" not in item.text + item.subject + item.sender.name
    assert not item.external_id.startswith("sha256:")


def test_thread_and_follow_up() -> None:
    first, follow = parse("01-parcel.eml"), parse("04-parcel-followup.eml")
    assert follow.in_reply_to == first.external_id and follow.references == [first.external_id]
    shown, folded = fold(follow.text)
    assert folded and "label" in shown and "leather bag" not in shown


def test_italian_latin1_mail() -> None:
    item = parse("02-reso.eml")
    assert item.sender is not None and item.sender.name == "Giulia Ròssi"
    assert item.subject == "Reso ordine 1038 – taglia sbagliata"
    assert "la taglia è sbagliata" in item.text


def test_html_only_mail() -> None:
    item = parse("03-html-only.eml")
    assert "facture" in item.text and "1040 (https://shop.example.com/orders/1040)" in item.text
    assert "<p>" not in item.text and item.html


def test_attachment_mail() -> None:
    item = parse("05-photo.eml")
    assert item.subject == "Beschädigte Lieferung"
    [photo] = item.attachments
    assert (photo.filename, photo.content_type) == ("vase.png", "image/png")
    assert photo.data.startswith(b"\x89PNG")


def test_out_of_office_is_automatic() -> None:
    assert parse("06-out-of-office.eml").auto_reason == "auto-submitted: auto-replied"
    assert parse("01-parcel.eml").auto_reason == ""
