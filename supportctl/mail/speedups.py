"""Four of the stdlib ``email`` package's costs, paid only where needed.

A first sync parses every mail of a mailbox (issue 11). Measured per mail
on a generated 5 000-mail mailbox (callgrind, bench/RESULTS.md), these
costs of the stdlib were 1.6 M of a parsing worker's 4.2 M instructions a
mail and buy nothing for the common mail:

- ``email.parser`` feeds a mail through its feed parser line by line, with
  a generator, a boundary test and a look at every enclosing boundary per
  line: 1.5 M instructions a mail, most of it in the 76-column lines of
  base64 attachments. ``plain_mail`` builds the same ``Message`` tree
  (compat32) for a plain mail: every header block plain (each line a
  field or a continuation, ended by an empty line, no Unix ``From``
  line), no lone CR, no ``message/*`` part, every multipart with its start
  and close boundaries and nothing odd between them. None for anything
  else, which the feed parser reads as before, defects and all. Bodies
  are found with ``str.find`` on their boundaries: 0.43 M instructions a
  mail instead of 1.54 M.
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

# -- plain mail, single-part or multipart -----------------------------------

#: A header field's first line as the feed parser accepts it (a name of
#: printable characters but ":", then ":").
_FIELD = re.compile(r"[\041-\071\073-\176]+:")
#: Multiparts nested deeper than this go to the feed parser (each level
#: adds a boundary every line of the levels inside is checked against).
MAX_NESTING = 8
_LONE_CR = re.compile(r"\r(?!\n)")
_EOL_AT_START = re.compile(r"(\r\n|\r|\n)")


def _strip_eol(text: str) -> str:
    """``text`` without the one line end it ends with (the feed parser's
    ``NLCRE_eol``, whose search tries every position of a long body)."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text


class _NotPlain(Exception):
    """The mail is not in the shape ``plain_mail`` reads: the feed parser's."""


def plain_mail(raw: bytes) -> Message | None:
    """``email.message_from_bytes(raw, policy=compat32)`` for a plain mail
    (see the module docstring); None otherwise. Bodies are found with
    ``str.find`` on their boundaries, never walked line by line."""
    text = raw.decode("ascii", "surrogateescape")
    if _LONE_CR.search(text):
        return None  # a lone CR ends a line for the feed parser
    try:
        msg, at = _part(text, 0, [])
    except Exception:  # noqa: BLE001 - _NotPlain, or anything unforeseen: the feed parser reads it
        return None
    return msg if at == len(text) else None


def _line(text: str, at: int) -> str:
    """The line starting at ``at``, its line end included."""
    end = text.find("\n", at)
    return text[at:] if end < 0 else text[at:end + 1]


def _boundary_at(text: str, at: int, seps: list[Boundary]) -> tuple[int, Boundary | None]:
    """Where the first line at or after ``at`` (a line start) that is a
    boundary of one of ``seps`` starts, and whose it is; (len(text), None)
    when there is none (the feed parser's input ends there)."""
    best, whose = len(text), None
    for b in seps:
        find = at
        while True:
            k = text.find(b.sep, find, best)
            if k < 0:
                break
            if (k == 0 or text[k - 1] == "\n") and b.match(_line(text, k)):
                best, whose = k, b
                break
            find = k + 1
    return best, whose


def _part(text: str, at: int, seps: list[Boundary]) -> tuple[Message, int]:
    """The part starting at ``at`` (a line start) inside multiparts whose
    boundaries are ``seps``, and where the text after it starts."""
    from email import policy

    fields: list[list[str]] = []
    while True:
        if at == len(text):
            raise _NotPlain  # no empty line ends the header block
        line = _line(text, at)
        if _ends(line, seps):
            raise _NotPlain
        at += len(line)
        if line == "\n" or line == "\r\n":
            break
        if line[0] in " \t":
            if not fields:
                raise _NotPlain  # a first line that continues nothing: a defect
            fields[-1].append(line)
        elif _FIELD.match(line) and not line.startswith("From "):
            fields.append([line])
        else:
            raise _NotPlain
    msg = Message(policy=policy.compat32)
    for group in fields:
        msg.set_raw(*policy.compat32.header_source_parse(group))
    kind = msg.get_content_maintype()
    if kind == "message":
        raise _NotPlain
    if kind == "multipart":
        return _multipart(msg, text, at, seps)
    end, _ = _boundary_at(text, at, seps)
    msg.set_payload(text[at:end])
    return msg, end


def _ends(line: str, seps: list[Boundary]) -> bool:
    """Whether ``line`` is a boundary of an enclosing multipart (where the
    feed parser's input ends for the part inside it)."""
    return any(b.match(line) for b in seps)


def _multipart(msg: Message, text: str, at: int, seps: list[Boundary]) -> tuple[Message, int]:
    """The feed parser's reading of a multipart body that has its start and
    close boundaries, parts with header blocks, and nothing odd between."""
    boundary = msg.get_boundary()
    if len(seps) >= MAX_NESTING or boundary is None or msg.get_content_type() == "multipart/digest" or str(
            msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        raise _NotPlain
    ours = Boundary("--" + boundary)
    inner = [*seps, ours]
    start, whose = _boundary_at(text, at, inner)
    if whose is not ours:
        raise _NotPlain  # no start boundary
    opening = ours.match(_line(text, start))
    if opening is None or opening.group("end"):
        raise _NotPlain
    if start > at:
        msg.preamble = _strip_eol(text[at:start])
    at = start + len(_line(text, start))
    while True:
        if ours.match(_line(text, at)):
            raise _NotPlain  # boundaries one after another
        part, at = _part(text, at, inner)
        msg.attach(part)
        found = ours.match(_line(text, at)) if at < len(text) else None
        if found is None:
            raise _NotPlain  # the close boundary is missing
        # The newline before a boundary belongs to the boundary (RFC 2046).
        if part.is_multipart():
            if part.epilogue == "":
                part.epilogue = None
            elif part.epilogue is not None:
                part.epilogue = _strip_eol(part.epilogue)
        else:
            # (the payload itself: get_payload would decode 8-bit data)
            part._payload = _strip_eol(part._payload)  # type: ignore[attr-defined]
        at += len(_line(text, at))
        if found.group("end"):
            break
    end, _ = _boundary_at(text, at, seps)
    epilogue = text[at:end]
    if found.group("linesep"):
        msg.epilogue = epilogue
    else:
        first = _EOL_AT_START.match(epilogue)
        msg.epilogue = epilogue[first.end():] if first else epilogue
    return msg, end


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

    if not isinstance(getattr(feedparser, "re", None), _FeedParserRe):
        setattr(feedparser, "re", _FeedParserRe())  # noqa: B010 - the module's global


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


def getaddresses(values: list[str]) -> list[tuple[str, str]]:
    """``email.utils.getaddresses(values)``, by ``simple_addresses`` when
    it can."""
    simple = simple_addresses(values)
    if simple is not None:
        return simple
    from email.utils import getaddresses as stdlib_getaddresses

    return stdlib_getaddresses(values)


# -- base64 bodies ----------------------------------------------------------


def base64_payload(part: Message) -> bytes | None:
    """``part.get_payload(decode=True)`` of a well-formed base64 body;
    None for any other part or body (ask the stdlib)."""
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str) or not payload.isascii():
        return None  # a multipart, bytes, or 8-bit data: the stdlib's paths
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    # b"".join(data.splitlines()), as the stdlib does, in one pass: bytes
    # lines end at CR, LF or CR LF, and nothing else.
    data = payload.encode("ascii").translate(None, b"\r\n")
    if len(data) % 4:
        return None  # padding the stdlib fixes, and records as a defect
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        return None
