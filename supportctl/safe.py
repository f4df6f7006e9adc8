"""The one place untrusted text is made safe for a terminal (SPEC §9).

Customer text (subjects, names, bodies, file names, exception messages) can
hold ESC sequences (CSI, OSC 8 links, OSC 52 clipboard, title changes),
8-bit C1 controls, bidi overrides and rich markup. rich strips only BEL, BS,
VT, FF and CR, so everything else is ours: ``clean`` removes whole escape
sequences and replaces stray controls with a visible ``\\xNN`` so tampering
shows; ``one_line`` also folds line breaks for table cells and headers.
Rich markup is neutralised by the renderer, which only ever hands customer
text to rich as ``Text`` objects (never parsed as markup).
"""

from __future__ import annotations

import re
from functools import cache

# ECMA-48: CSI (7- and 8-bit), OSC/DCS/SOS/PM/APC strings up to ST or BEL,
# and two-byte ESC sequences.
_ESCAPES_RE = (
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?            # CSI ... final
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])      # OSC DCS SOS PM APC
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?      #   ... up to BEL or ST
  | \x1b[ -/]*[0-~]?                             # two-byte ESC x
    """
)
# Controls, bidi marks and overrides, and zero-width characters (which make
# two names or file names look alike); a zero-width joiner stays where it
# joins emoji (a family, a flag), since that is what it is for.
_CONTROLS_RE = (
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200c\u200e\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u2069\ufeff]"
    r"|(?<![\u2600-\u27bf\ufe0f\U0001f000-\U0001faff])\u200d"
)


# Compiled on first use: `list --format json` prints no text for a terminal
# and must not pay for compiling these at start-up.
@cache
def _escapes() -> re.Pattern[str]:
    return re.compile(_ESCAPES_RE, re.VERBOSE)


@cache
def _controls() -> re.Pattern[str]:
    return re.compile(_CONTROLS_RE)


@cache
def invisible() -> re.Pattern[str]:
    """Everything ``clean`` marks, and tabs and line breaks: for file names."""
    return re.compile(r"[\t\n]|" + _CONTROLS_RE)


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\r":
        return ""
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str | None) -> str:
    """Text safe to print: no escape sequences, no controls but ``\\n``/``\\t``."""
    if not text:
        return ""
    if text.isprintable():
        # Every character either pattern matches is a control (Cc) or a
        # format character (Cf), and neither is printable: most names,
        # subjects and cells end here, without a regular expression.
        return text
    text = text.replace("\r\n", "\n")
    text = _escapes().sub("", text)
    return _controls().sub(_visible, text)


def one_line(text: str | None, limit: int = 0) -> str:
    """``clean`` folded to one line, optionally cut to ``limit`` characters."""
    out = " ".join(clean(text).split())
    if limit and len(out) > limit:
        out = out[: max(limit - 1, 0)] + "…"
    return out


def is_label(text: str) -> bool:
    """A tag or an assignee: not blank, one line, nothing invisible."""
    return bool(text.strip()) and not invisible().search(text) and "\x1b" not in text


def header_value(text: str | None) -> str:
    """A value safe to put in a header we build: no CR/LF (CVE-2024-6923),
    no controls."""
    return " ".join(_controls().sub(" ", _escapes().sub("", text or "")).split())
