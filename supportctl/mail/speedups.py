"""Two of the stdlib ``email`` package's costs, paid only where needed.

A first sync parses every mail of a mailbox (issue 11). Measured per mail
on a generated 5 000-mail mailbox (bench/RESULTS.md), two costs of the
stdlib were a tenth of a parsing worker's time and buy nothing for the
common mail:

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
"""

from __future__ import annotations

import re
from typing import Any

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
