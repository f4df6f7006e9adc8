"""HTML to text: readable links, no markdown noise, no escape sequences
(converters decode ``&#27;``), never blank, linear on hostile input."""

from __future__ import annotations

import time

import pytest

from supportctl.mail.html import CONVERT_MAX, html_to_text, strip_controls


def test_readable_text_and_links() -> None:
    text = html_to_text(
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<h1>Order</h1><p>Your <b>order</b> <i>42</i> has shipped.</p>"
        "<p><a href='https://shop.example/track?id=42'>Track it</a> or "
        "<a href='https://shop.example/x'>https://shop.example/x</a></p>"
        "<ul><li>one</li><li>two</li></ul><img src='x.png' alt='logo'>"
        "<script>document.write('no')</script></body></html>")
    assert "Your order 42 has shipped." in text
    assert "Track it (https://shop.example/track?id=42)" in text
    assert "https://shop.example/x (" not in text  # a bare URL is not doubled
    assert "one" in text and "two" in text
    assert "**" not in text and "_42_" not in text and "![" not in text
    assert "no')" not in text and "color" not in text


def test_url_with_brackets_reads_plainly() -> None:
    assert html_to_text("<a href='https://x.example/a(b)'>t</a>") == "t (https://x.example/a(b))"


def test_mentions_and_hashtags_keep_their_text() -> None:
    text = html_to_text('<p><a href="https://m.example/@ann">@ann</a> hi '
                        '<a href="https://m.example/tags/shop">#shop</a></p>')
    assert text == "@ann hi #shop"


@pytest.mark.parametrize("html", [
    "<p>a&#27;[2Jb</p>", "<p>a&#x1b;]8;;http://evil/&#x1b;\\b</p>", "<p>a\x1b[31mb</p>",
    "<p>a&#155;31mb</p>", "<p>a&#7;&#8;b</p>",
])
def test_escape_sequences_are_removed_after_converting(html: str) -> None:
    text = html_to_text(html)
    assert text.startswith("a") and text.endswith("b")
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in text)


def test_strip_controls_keeps_newlines_and_tabs() -> None:
    assert strip_controls("a\r\nb\tc\x1b[2Jd\x00e\x9b1mf\x85g") == "a\nb\tcdefg"


def test_never_blank_and_never_raises() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<div>" * 100_000 + "deep" + "</div>" * 100_000) == "deep"
    assert html_to_text("<p>unclosed <b>bold <i>and") == "unclosed bold and"
    assert html_to_text("plain text, no tags") == "plain text, no tags"


def test_large_input_goes_to_the_linear_stripper() -> None:
    big = "<p>" + "word " * (CONVERT_MAX // 5) + "</p><script>x()</script><p>end &amp; more</p>"
    text = html_to_text(big)
    assert text.startswith("word word") and text.endswith("end & more") and "x()" not in text


@pytest.mark.parametrize("hostile", [
    "<script>" * 200_000,
    "<" * 1_000_000,
    "<a href='x'>" * 100_000,
    "&#27;[2J" * 100_000,
    "[" * 200_000,
    "<table><tr><td>" * 30_000,
    "<style>" + "a" * 500_000,
])
def test_hostile_html_is_bounded(hostile: str) -> None:
    start = time.process_time()
    text = html_to_text(hostile)
    assert time.process_time() - start < 10  # generous; measured ≤ 2.5 s for the worst here
    assert "\x1b" not in text
