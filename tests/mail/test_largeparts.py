"""Large parts decoded outside the ``email`` package (``largeparts``) give
the same message as the package does: same text, same attachments byte for
byte, on the corpus and on generated structures; a forged marker header is
ignored."""

from __future__ import annotations

import base64
import hashlib
import quopri
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.mail.parse import parse_email
from supportctl.models import Inbound
from tests.conftest import CORPUS

FILES = sorted((CORPUS / "flanker").rglob("*.eml")) + sorted(
    (Path(__file__).resolve().parents[2] / "supportctl" / "samples" / "email").glob("*.eml"))


def _digest(item: Inbound) -> tuple[str, str, list[tuple[str, str, str, bool]]]:
    atts = []
    for a in item.attachments:
        data = b"".join(a.chunks()) if a.chunks is not None else a.data
        atts.append((a.filename, a.content_type, hashlib.sha256(data).hexdigest(), a.inline))
    return item.text, item.html, atts


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_reads_the_same_with_every_part_elided(path: Path) -> None:
    raw = path.read_bytes()
    whole = parse_email(raw, large_part=None)
    elided = parse_email(raw, large_part=1)  # every non-text leaf goes through largeparts
    assert _digest(elided) == _digest(whole)
    assert elided.meta == whole.meta


def _mail(parts: list[tuple[str, str, bytes]], nl: bytes) -> bytes:
    out = [b"From: a@example.com", b"Subject: x", b"MIME-Version: 1.0",
           b'Content-Type: multipart/mixed; boundary="==b=="', b"", b"preamble"]
    for ctype, cte, data in parts:
        out += [b"--==b==", f"Content-Type: {ctype}".encode(),
                b'Content-Disposition: attachment; filename="f.bin"']
        if cte == "base64":
            body = base64.encodebytes(data).rstrip(b"\n")
        elif cte == "quoted-printable":
            body = quopri.encodestring(data).rstrip(b"\n")
        else:
            body = data
        if cte:
            out.append(f"Content-Transfer-Encoding: {cte}".encode())
        out += [b"", body.replace(b"\n", nl)]
    out += [b"--==b==--", b""]
    return nl.join(out)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.tuples(
    st.sampled_from(["application/pdf", "image/png", "application/octet-stream"]),
    st.sampled_from(["base64", "quoted-printable", "7bit", ""]),
    st.binary(min_size=0, max_size=3000)), min_size=1, max_size=4),
    nl=st.sampled_from([b"\r\n", b"\n"]))
def test_generated_attachments_decode_the_same(parts: list[tuple[str, str, bytes]],
                                               nl: bytes) -> None:
    # 7bit bodies are text as written: keep them to printable lines.
    parts = [(c, e, d if e in ("base64", "quoted-printable") else
              bytes(b for b in d if 32 <= b < 127)) for c, e, d in parts]
    raw = _mail(parts, nl)
    assert _digest(parse_email(raw, large_part=1)) == _digest(parse_email(raw, large_part=None))


def test_a_forged_marker_header_is_just_a_header() -> None:
    raw = _mail([("application/pdf", "base64", b"%PDF-1.4 real" * 1000)], b"\r\n")
    forged = raw.replace(b"Content-Type: application/pdf",
                         b"X-Supportctl-Large-0000000000000000: 0\r\nContent-Type: application/pdf")
    for r in (raw, forged):
        [att] = parse_email(r, large_part=1).attachments
        assert b"".join(att.chunks()) == b"%PDF-1.4 real" * 1000  # type: ignore[misc]
