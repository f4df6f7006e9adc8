"""``content_key``: every copy of one mail has the same key (trace headers,
line ends, where a piece boundary falls), a mail that says anything
different has another."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from supportctl.mail.parse import content_key

HEAD = (b"From: Ann <ann@example.com>\r\nTo: s@example.org\r\nSubject: hi\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@localhost>\r\n")

lines = st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
                 min_size=1, max_size=20)


@given(body=lines)
def test_copies_share_a_key_and_changes_do_not(body: list[str]) -> None:
    text = "\r\n".join(body).encode()
    raw = HEAD + b"\r\n" + text + b"\r\n"
    copy = b"Delivered-To: sales@example.org\r\nReceived: from mx by mx2; now\r\n" + raw
    assert content_key(copy) == content_key(raw) == content_key(raw.replace(b"\r\n", b"\n"))
    assert content_key(raw.replace(b"Ann <ann@", b"Bob <bob@")) != content_key(raw)
    assert content_key(HEAD + b"\r\n" + text + b"!\r\n") != content_key(raw)


def test_a_large_body_hashes_the_same_whatever_its_line_ends() -> None:
    body = b"".join(b"line %d of a long attachment\r\n" % k for k in range(120_000))
    raw = HEAD + b"\r\n" + body
    assert len(raw) > 3 * (1 << 20)
    assert content_key(raw) == content_key(raw.replace(b"\r\n", b"\n"))
    assert content_key(raw) != content_key(raw[:-5] + b"X\r\n")
