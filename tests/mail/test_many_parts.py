"""Parts past the parser's bounds (``MAX_PARTS``, ``MAX_DEPTH``) are not
dropped silently: the message says how many were not extracted, in `show`
and its JSON, and the original keeps them."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _mail(n: int) -> bytes:
    parts = ["--b\r\nContent-Type: text/plain\r\n\r\nSee the attached files.\r\n"]
    parts += [f"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
              f"filename=\"f{k}.txt\"\r\n\r\nfile {k}\r\n" for k in range(n)]
    return (b"From: a@example.com\r\nSubject: many files\r\nMessage-ID: <many@x>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + "".join(parts).encode() + b"--b--\r\n")


def _nested(depth: int) -> bytes:
    head = b"From: a@example.com\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\nMIME-Version: 1.0\r\n"
    body = b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"deep.txt\"\r\n\r\nbottom\r\n"
    for k in reversed(range(depth)):
        body = (f"Content-Type: multipart/mixed; boundary=b{k}\r\n\r\n--b{k}\r\n".encode() + body
                + f"\r\n--b{k}--\r\n".encode())
    return head + body


def test_a_mail_with_600_parts_says_how_many_were_not_extracted(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "many.eml"
    src.write_bytes(_mail(600))
    assert cli("import", str(src)).code == 0
    [m] = cli("show", "1", "--format", "json").json()["messages"]
    kept = len(m["attachments"])
    assert 0 < kept < 600
    [notice] = m["notices"]
    assert notice.startswith(f"MIME parts not extracted: {600 - kept} ")
    assert f"MIME parts not extracted: {600 - kept} " in cli("show", "1").out
    raw = cli("export", "--format", "jsonl", "--messages", "--raw").jsonl()[0]["messages"][0]["raw"]
    import base64

    assert base64.b64decode(raw) == src.read_bytes()  # the original keeps them all


def test_parts_nested_too_deep_are_counted_and_a_small_mail_has_no_notice(
        cli: Any, tmp_path: Path) -> None:
    (tmp_path / "deep.eml").write_bytes(_nested(40))
    (tmp_path / "few.eml").write_bytes(_mail(3))
    assert cli("import", str(tmp_path), "--format", "eml").code == 0
    by_subject = {t["subject"]: t["id"] for t in cli("list", "--format", "json").json()}
    [deep] = cli("show", str(by_subject["deep"]), "--format", "json").json()["messages"]
    assert deep["notices"] and deep["notices"][0].startswith("MIME parts not extracted: 1 ")
    [few] = cli("show", str(by_subject["many files"]), "--format", "json").json()["messages"]
    assert few["notices"] == [] and len(few["attachments"]) == 3
