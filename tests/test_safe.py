"""Customer text never reaches the terminal with live escapes or markup."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.safe import clean, header_value, one_line
from tests.terminal import run_on_pty

HOSTILE = (
    "hi \x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x1b]0;pwned\x07 [bold red]FAKE[/] "
    "[link=http://evil]x[/link] :smile: \u202eevil\r\noverwrite\x08\x08 \x9b31m C1 \x1bP1$q\x1b\\"
    " \x1b]52;c;aGVsbG8=\x07"
)


def test_clean_removes_escapes_keeps_text() -> None:
    out = clean(HOSTILE)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out and "\x08" not in out
    assert "[bold red]FAKE[/]" in out and "[link=http://evil]x[/link]" in out
    assert "\u202e" not in out and "\\u202e" in out
    assert "click" in out


@given(st.text())
def test_clean_never_leaves_controls(s: str) -> None:
    out = clean(s)
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in out)
    line = one_line(s)
    assert "\n" not in line and "\r" not in line


@given(st.text())
def test_header_value_has_no_line_breaks(s: str) -> None:
    v = header_value(s)
    assert "\n" not in v and "\r" not in v


def run_tty(args: list[str], env: dict[str, str] | None = None) -> bytes:
    """Run the CLI with stdout on a pseudo-terminal; returns what it drew."""
    return run_on_pty(args, env, stdin_tty=False, stderr_tty=False).screen


def test_table_and_show_print_customer_markup_literally(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("new", "--channel", "phone", "--to", "[bold]Mallory[/bold]", "--subject", HOSTILE,
            "-m", HOSTILE)
    assert r.code == 0, r
    db = str(cli.db)
    for args in (["list"], ["show", "1"], ["search", "click"]):
        drawn = run_tty(["--db", db, *args], env={"NO_COLOR": "1"})
        assert b"\x1b]" not in drawn and b"\x1b[2J" not in drawn and b"\x9b" not in drawn, drawn
        assert b"\x1bP" not in drawn
        text = drawn.decode("utf-8", "replace")
        assert "[bold" in text, text
    colour = run_tty(["--db", db, "show", "1"])
    # our own colours may appear (SGR), nothing else from the customer
    import re

    foreign = re.findall(rb"\x1b(?!\[[0-9;]*m)", colour)
    assert foreign == [], colour
    assert b"[link=http://evil]" in colour


@settings(max_examples=2000)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=("Cs",)), max_size=40))
def test_clean_of_printable_text_is_the_text_and_the_fast_path_changes_nothing(text: str) -> None:
    """``clean`` returns printable text as it is, without its patterns; the
    patterns themselves must agree: they never touch printable text, on
    any character (emoji joiners, bidi marks, C1 controls included)."""
    from supportctl.safe import _controls, _escapes, _visible

    slow = _controls().sub(_visible, _escapes().sub("", text.replace("\r\n", "\n")))
    assert clean(text) == (slow if text else "")
    if text.isprintable():
        assert slow == text
