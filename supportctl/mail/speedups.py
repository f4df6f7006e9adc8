"""Four of the stdlib ``email`` package's costs, paid only where needed.

A first sync parses every mail of a mailbox (issue 11). Measured per mail
on a generated 5 000-mail mailbox (bench/RESULTS.md), these costs of the
stdlib were a fifth of a parsing worker's time and buy nothing for the
common mail:

- ``email.parser`` feeds a mail through its feed parser line by line, body
  included, even when the body is one part whose text is simply the rest
  of the mail. ``single_part`` builds the same ``Message`` (compat32) for
  a mail whose header block is plain (every line a field or a
  continuation, ended by an empty line, no lone CR, no Unix ``From``
  line) and whose type is neither ``multipart/*`` nor ``message/*``; None
  for anything else, which the feed parser reads as before.

- ``email.feedparser`` compiles a regular expression for every multipart's
  boundary (0.17 ms each: boundaries are unique, so ``re``'s cache never
  hits). ``install_boundary_matcher`` gives the feed parser a ``re`` whose
  ``compile`` answers that one pattern with ``Boundary``, which matches
  exactly as the compiled pattern does (a literal prefix, then a fixed
  tail compiled once); any other pattern, or one not in the expected
  shape (another Python's feed parser), goes to ``re.compile`` as before.
- ``email.utils.getaddresses`` walks every character in Python (0.05 ms an
  address). ``simple_addresses`` reads the shapes nearly all mail uses
  (``Name <local@domain>``, ``local@domain``, comma-separated) with one
  regular expression, and returns None for anything else, which then goes
  to ``getaddresses``. Its answer, when it gives one, is ``getaddresses``'
  (a property test checks it against the stdlib on generated values).
- ``Message.get_payload(decode=True)`` of a base64 part runs a validating
  regular expression over it before decoding (0.3 ms for a 30 KB PDF).
  ``base64_payload`` decodes a well-formed base64 body with binascii's
  strict mode, which refuses whatever that expression refuses, and returns
  None for anything else (the stdlib then decodes, and records defects).
"""

from __future__ import annotations

import binascii
import re
from email.message import Message
from typing import Any

# -- single-part mail -------------------------------------------------------

#: A header field's first line as the feed parser accepts it (a name of
#: printable characters but ":", then ":").
_FIELD = re.compile(r"[\041-\071\073-\176]+:")


def single_part(raw: bytes) -> Message | None:
    """``email.message_from_bytes(raw, policy=compat32)`` for a plain
    single-part mail (see the module docstring); None otherwise."""
    from email import policy

    text = raw.decode("ascii", "surrogateescape")
    fields: list[list[str]] = []
    pos = 0
    while True:
        end = text.find("\n", pos)
        if end < 0:
            return None  # no empty line ends the header block
        line = text[pos:end + 1]
        pos = end + 1
        if line == "\n" or line == "\r\n":
            break
        if "\r" in (line[:-2] if line.endswith("\r\n") else line):
            return None  # a lone CR ends a line for the feed parser
        if line[0] in " \t":
            if not fields:
                return None  # a first line that continues nothing: a defect
            fields[-1].append(line)
        elif _FIELD.match(line) and not line.startswith("From "):
            fields.append([line])
        else:
            return None
    msg = Message(policy=policy.compat32)
    for lines in fields:
        msg.set_raw(*policy.compat32.header_source_parse(lines))
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(text[pos:])
    return msg


# -- the feed parser's boundaries -----------------------------------------

#: The pattern ``email.feedparser`` compiles per multipart, around the
#: escaped separator (CPython 3.8-3.13).
_HEAD = "(?P<sep>"
_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEP = re.compile(_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.S)


class Boundary:
    """``re.compile(_HEAD + re.escape(sep) + _TAIL)`` for the feed parser:
    ``match(line)`` gives a match with the same ``end``, ``ws`` and
    ``linesep`` groups, or None. The separator is a literal, so where it
    ends does not depend on the rest: a prefix test then the tail's match
    at that position is the same match."""

    __slots__ = ("sep", "size")

    def __init__(self, sep: str) -> None:
        self.sep = sep
        self.size = len(sep)

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.sep):
            return None
        return _AFTER_SEP.match(line, self.size)


class _FeedParserRe:
    """The ``re`` module as ``email.feedparser`` sees it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if flags == 0 and isinstance(pattern, str) and pattern.startswith(_HEAD) \
                and pattern.endswith(_TAIL):
            escaped = pattern[len(_HEAD):-len(_TAIL)]
            sep = _ESCAPED.sub(r"\1", escaped)
            if re.escape(sep) == escaped:
                return Boundary(sep)
        return re.compile(pattern, flags)


def install_boundary_matcher() -> None:
    """Give ``email.feedparser`` the ``re`` above (once per process)."""
    from email import feedparser

    if not isinstance(feedparser.re, _FeedParserRe):
        feedparser.re = _FeedParserRe()  # type: ignore[assignment]


# -- addresses --------------------------------------------------------------

#: An atom as ``email._parseaddr`` reads one: no specials, no white space,
#: no control character; here also nothing outside letters, digits and
#: ``'+-_`` (the fast path needs no more, and every such character is
#: plainly an atom character to the stdlib).
_ATOM = r"[\w'+-]+"
_DOTTED = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR = rf"{_DOTTED}@{_DOTTED}"
#: White space as ``email._parseaddr`` skips it (a folded header keeps
#: its line breaks).
_WS = r"[ \t\r\n]"
_ONE = re.compile(
    rf"{_WS}*(?:(?P<name>{_ATOM}(?:{_WS}+{_ATOM})*){_WS}*<(?P<routed>{_ADDR})>|(?P<bare>{_ADDR})){_WS}*")
_SPACES = re.compile(rf"{_WS}+")


def simple_addresses(values: list[str]) -> list[tuple[str, str]] | None:
    """``email.utils.getaddresses(values)`` when every address in them is
    one of the simple shapes; None otherwise (the caller then asks the
    stdlib)."""
    out: list[tuple[str, str]] = []
    for value in values:
        for piece in value.split(","):
            m = _ONE.fullmatch(piece)
            if m is None:
                return None
            name = m.group("name")
            if name is None:
                out.append(("", m.group("bare")))
            else:
                out.append((_SPACES.sub(" ", name), m.group("routed")))
    return out


# -- base64 bodies ----------------------------------------------------------


def base64_payload(part: Message) -> bytes | None:
    """``part.get_payload(decode=True)`` of a well-formed base64 body;
    None for any other part or body (ask the stdlib)."""
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str) or not payload.isascii():
        return None  # a multipart, bytes, or 8-bit data: the stdlib's paths
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    data = b"".join(payload.encode("ascii").splitlines())
    if len(data) % 4:
        return None  # padding the stdlib fixes, and records as a defect
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        return None
