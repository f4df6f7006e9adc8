"""Large MIME parts kept out of Python's ``email`` package.

Contract:
- ``elide(raw)`` finds leaf parts whose body is at least ``LARGE_PART``
  bytes and that are not text (``text/*`` and S/MIME's ``application/plain``
  are read as the message's text; ``message/*`` holds a message): attachments. It returns a copy of the
  message with each such body emptied and a marker header put on its part,
  plus one ``LargePart`` per body, which decodes it straight from ``raw``
  in pieces. The ``email`` package then builds a small tree: a 50 MB
  attachment no longer costs its lines as a million Python strings, the
  joined text and the decoded bytes (650 MB at peak, 13 × the part).
- The scan only elides what it can read for sure: a multipart with its
  closing delimiter, a known transfer encoding (base64, quoted-printable,
  7bit, 8bit, binary), at most ``MAX_DEPTH`` levels. The caller checks that
  every marker was read back as an attachment and parses the message
  whole otherwise, so a structure the scan misread costs memory, never
  content.
- The marker header's name holds a random token: a customer cannot forge it.
- Decoding matches the ``email`` package for well-formed bodies: base64
  ignores characters outside its alphabet, quoted-printable is
  ``binascii.a2b_qp``, the others are the bytes as they are.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

#: Bodies this large (encoded) are decoded in pieces, outside ``email``.
LARGE_PART = 1 << 20
#: Bytes of encoded input per decoded piece.
CHUNK = 1 << 20
#: Nesting followed by the scan (as ``parse.MAX_DEPTH``).
MAX_DEPTH = 30

_ENCODINGS = ("", "base64", "quoted-printable", "7bit", "8bit", "binary")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)


@dataclass
class LargePart:
    """One elided body: ``raw[start:end]`` in transfer encoding ``encoding``."""

    raw: bytes
    start: int
    end: int
    encoding: str

    def chunks(self) -> Iterator[bytes]:
        """The decoded content, a piece at a time."""
        view = memoryview(self.raw)
        pos = self.start
        if self.encoding == "base64":
            carry = b""
            while pos < self.end:
                stop = min(pos + CHUNK, self.end)
                data = carry + bytes(view[pos:stop]).translate(None, _NOT_B64)
                pos = stop
                cut = len(data) - len(data) % 4 if pos < self.end else len(data)
                carry = data[cut:]
                if cut:
                    yield _b64(data[:cut])
            return
        while pos < self.end:
            stop = min(pos + CHUNK, self.end)
            if stop < self.end:
                # Cut after a line end: a quoted-printable soft break ("=" at
                # the end of a line) then stays whole within one piece.
                nl = self.raw.rfind(b"\n", pos, stop)
                stop = nl + 1 if nl >= pos else stop
            piece = bytes(view[pos:stop])
            pos = stop
            yield binascii.a2b_qp(piece) if self.encoding == "quoted-printable" else piece


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        # Stray padding inside: decode what each run of quanta holds.
        out = []
        for run in re.findall(rb"[^=]+=*", data):
            try:
                out.append(binascii.a2b_base64(run + b"=" * (-len(run) % 4)))
            except binascii.Error:
                continue
        return b"".join(out)


def elide(raw: bytes, *, threshold: int = LARGE_PART) -> tuple[bytes, str, list[LargePart]]:
    """``(message to parse, marker header name, elided parts)``; the raw
    message itself and no parts when nothing is large."""
    if len(raw) < threshold:
        return raw, "", []
    found: list[tuple[int, int, int, str]] = []
    try:
        _scan(raw, 0, len(raw), 0, threshold, found)
    except Exception:  # an odd structure: let the email package have it all
        return raw, "", []
    if not found:
        return raw, "", []
    marker = "X-Supportctl-Large-" + secrets.token_hex(8)
    pieces: list[bytes] = []
    parts: list[LargePart] = []
    pos = 0
    for n, (head, body, end, encoding) in enumerate(found):
        pieces += [raw[pos:head], f"{marker}: {n}\r\n".encode(), raw[head:body]]
        parts.append(LargePart(raw, body, end, encoding))
        pos = end
    pieces.append(raw[pos:])
    return b"".join(pieces), marker, parts


def _header_end(raw: bytes, start: int, end: int) -> int | None:
    """Where the body of the entity at ``start`` begins (after the blank
    line), or None when it has no header block."""
    if raw.startswith((b"\r\n", b"\n"), start):
        return None
    ends = [i for i in (raw.find(b"\n\n", start, end), raw.find(b"\n\r\n", start, end)) if i >= 0]
    if not ends:
        return None
    i = min(ends)
    return i + (2 if raw.startswith(b"\n\n", i) else 3)


def _scan(raw: bytes, start: int, end: int, depth: int, threshold: int,
          found: list[tuple[int, int, int, str]]) -> None:
    if depth > MAX_DEPTH:
        return
    body = _header_end(raw, start, end)
    if body is None:
        return
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[start:body])
    ctype = head.get_content_type().lower()
    if ctype.startswith("multipart/"):
        boundary = head.get_boundary()
        if boundary:
            for s, e in _parts(raw, body, end, boundary):
                _scan(raw, s, e, depth + 1, threshold, found)
        return
    # application/plain is S/MIME's text: parse's fallback reads it as such.
    if ctype.startswith(("text/", "message/")) or ctype == "application/plain" \
            or end - body < threshold:
        return
    encoding = str(head.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding in _ENCODINGS:
        found.append((start, body, end, encoding))


def _parts(raw: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """The (start, end) of each part of a multipart body, or none at all
    when its closing delimiter is missing."""
    try:
        sep = boundary.encode("ascii")
    except UnicodeEncodeError:
        return []
    line = re.compile(rb"^--" + re.escape(sep) + rb"(--)?[ \t]*\r?$", re.MULTILINE)
    marks = list(line.finditer(raw, start, end))
    close = next((k for k, m in enumerate(marks) if m.group(1)), None)
    if close is None:
        return []
    out = []
    for m, nxt in zip(marks[:close], marks[1:close + 1], strict=True):
        s = m.end() + 1  # past the delimiter line's "\n"
        e = nxt.start()
        e -= 2 if raw[e - 2:e] == b"\r\n" else 1 if raw[e - 1:e] == b"\n" else 0
        if s <= e:
            out.append((s, e))
    return out
