"""Hostile mail for the CLI tests: attachments with crafted names and types."""

from __future__ import annotations

import base64
from pathlib import Path

LIVE = "\x1b[?1049h\x1bc"  # switch to the alternate screen, then reset the terminal


def eml(path: Path, attachments: list[tuple[str, str, bytes]], *, msgid: str = "<a1@example.com>",
        sender: str = "Eve <eve@example.com>") -> Path:
    """An RFC 822 file with ``(filename, content_type, data)`` attachments."""
    parts = ["--BB\r\nContent-Type: text/plain\r\n\r\nplease see attached\r\n"]
    for name, ctype, data in attachments:
        parts.append(
            f"--BB\r\nContent-Type: {ctype}\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(data).decode() + "\r\n"
        )
    text = (
        f"From: {sender}\r\nTo: help@shop.example\r\nSubject: invoice\r\nMessage-ID: {msgid}\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=BB\r\n\r\n" + "".join(parts) + "--BB--\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    return path
