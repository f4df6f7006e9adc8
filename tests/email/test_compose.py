"""Outgoing message bytes (no servers needed)."""

from __future__ import annotations

import email
from email import policy

import pytest

from supportctl.mail.compose import build_email, clean_id, message_id_of, new_message_id
from supportctl.models import Address, AttachmentData, Outbound

FROM = Address("support@example.org", "Support")


def out(**kw: object) -> Outbound:
    base: dict[str, object] = dict(medium="email", to=[Address("c@example.com")], text="hi",
                                   subject="Re: hi [#1]", message_id="m1@example.org")
    base.update(kw)
    return Outbound(**base)  # type: ignore[arg-type]


def headers(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_new_message_id_has_no_brackets_and_is_unique() -> None:
    a, b = new_message_id("example.org"), new_message_id("example.org")
    assert a != b and a.endswith("@example.org") and "<" not in a
    assert new_message_id("exämple.org").endswith("@xn--exmple-cua.org")
    assert new_message_id("").endswith("@supportctl.invalid")


def test_long_ids_are_never_encoded_words() -> None:
    long_id = "x" * 120 + "@mail.example.com"
    refs = [f"{k:040d}@example.com" for k in range(12)] + [long_id]
    raw = build_email(out(in_reply_to=long_id, references=refs), from_addr=FROM)
    head = headers(raw)
    assert "=?" not in head
    assert f"In-Reply-To: <{long_id}>" in head
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert str(msg["References"]).split() == [f"<{r}>" for r in refs]


def test_references_are_bounded_and_keep_the_root() -> None:
    refs = [f"r{k}@example.com" for k in range(40)]
    msg = email.message_from_bytes(build_email(out(references=refs), from_addr=FROM),
                                   policy=policy.default)
    got = str(msg["References"]).split()
    assert len(got) == 20 and got[0] == "<r0@example.com>" and got[-1] == "<r39@example.com>"


def test_in_reply_to_is_added_to_references() -> None:
    msg = email.message_from_bytes(build_email(out(in_reply_to="<p@x.com>"), from_addr=FROM),
                                   policy=policy.default)
    assert msg["In-Reply-To"] == "<p@x.com>" and msg["References"] == "<p@x.com>"


@pytest.mark.parametrize("bad", ["", "a b@x", "a\r\nBcc: x@y", "<>", "é@x.com"])
def test_unsafe_ids_are_dropped(bad: str) -> None:
    assert clean_id(bad) == "" or "\n" not in clean_id(bad)
    raw = build_email(out(in_reply_to=bad, references=[bad]), from_addr=FROM)
    assert b"Bcc" not in raw.split(b"\r\n\r\n")[0]


def test_non_ascii_is_encoded_and_7bit_clean() -> None:
    raw = build_email(out(subject="Re: Rückerstattung 💶 [#7]", text="Grüße\n" + "é" * 300,
                          to=[Address("c@example.com", "Zoë Ünal")],
                          attachments=[AttachmentData("Квитанция.pdf", "application/pdf", b"x")]),
                      from_addr=FROM)
    raw.decode("ascii")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Re: Rückerstattung 💶 [#7]"
    assert msg["To"] == "Zoë Ünal <c@example.com>"
    body = msg.get_body(("plain",))
    # base64 text carries canonical CRLF line ends (RFC 2046 §4.1.1)
    assert body is not None and body.get_content().replace("\r\n", "\n").startswith("Grüße\n")
    assert [a.get_filename() for a in msg.iter_attachments()] == ["Квитанция.pdf"]


def test_message_id_of_reads_back_our_id() -> None:
    assert message_id_of(build_email(out(), from_addr=FROM)) == "m1@example.org"


def test_the_date_header_reads_the_one_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC §10: a pinned clock dates the message too (it comes back on sync
    as the reply's sent_at)."""
    monkeypatch.setenv("SUPPORTCTL_NOW", "2026-12-02T10:00:00Z")
    assert "Date: Wed, 02 Dec 2026 10:00:00 +0000" in headers(build_email(out(), from_addr=FROM))


def test_from_given_as_one_string() -> None:
    raw = build_email(out(), from_addr=Address("Help Desk <help@example.org>"))
    assert "From: Help Desk <help@example.org>" in headers(raw)


def test_no_recipient_or_bad_address_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        build_email(out(to=[]), from_addr=FROM)
    with pytest.raises(ValueError):
        build_email(out(to=[Address("not an address")]), from_addr=FROM)
    with pytest.raises(ValueError):
        build_email(out(to=[Address("a@x.com, b@y.com")]), from_addr=FROM)
