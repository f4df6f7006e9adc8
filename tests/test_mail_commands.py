"""Commands that come with mail, through the CLI: attachments with safe
names, quarantine, spam, and the noise rules on import."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any


def eml(tmp_path: Path, name: str, headers: str, body: bytes = b"hello\r\n") -> Path:
    p = tmp_path / name
    p.write_bytes(headers.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return p


def test_attachments_are_saved_with_safe_names(cli: Any, tmp_path: Path) -> None:
    payload = base64.b64encode(b"secret data").decode()
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="../../.bashrc"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{payload}\r\n"
        "--b\r\nContent-Type: text/plain\r\n"
        'Content-Disposition: attachment; filename="inv\x1b[2Joice.txt"\r\n\r\nline\r\n--b--\r\n'
    ).encode()
    src = eml(tmp_path, "a.eml", "From: a@example.com\nSubject: files\nMessage-ID: <f@x>\n"
              "Content-Type: multipart/mixed; boundary=b\n", body)
    assert cli("import", str(src)).code == 0
    listed = cli("attachments", "1", "--format", "json").json()
    assert [a["size"] for a in listed] == [11, 4]
    out = tmp_path / "out"
    r = cli("attachments", "1", "--save", str(out))
    assert r.code == 0, r
    saved = sorted(p.name for p in out.iterdir())
    assert saved == ["bashrc", "invoice.txt"]  # no path, no leading dot, no escape sequence
    assert all(p.parent == out for p in out.iterdir())
    assert (out / saved[0]).read_bytes() == b"secret data"
    assert not (tmp_path.parent / ".bashrc").exists()


def test_attachments_format_ids_is_a_usage_error_not_a_crash(cli: Any, tmp_path: Path) -> None:
    # Before: "internal error (KeyError: 'id')", exit 1.
    body = (b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
            b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n"
            b"\r\nline\r\n--b--\r\n")
    src = eml(tmp_path, "a.eml", "From: a@example.com\nSubject: files\nMessage-ID: <f@x>\n"
              "Content-Type: multipart/mixed; boundary=b\n", body)
    assert cli("import", str(src)).code == 0
    r = cli("attachments", "1", "--format", "ids")
    assert r.code == 2, r
    assert "--format json, jsonl or csv" in r.err and "internal error" not in r.err
    assert cli("attachments", "1", "--format", "csv").out.startswith("message_id,filename")


def test_quarantine_keeps_raw_bytes_and_retries(cli: Any, tmp_path: Path) -> None:
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 this is not mail at all")
    r = cli("import", str(junk), "--format", "eml")
    assert r.code == 0 and "1 quarantined" in r.err
    held = cli("quarantine", "list", "--format", "json").json()
    assert len(held) == 1 and held[0]["reason"]
    exported = cli("quarantine", "export", str(held[0]["id"]))
    assert exported.out.encode() == junk.read_bytes()
    assert cli("quarantine", "show", str(held[0]["id"])).code == 0
    r = cli("quarantine", "retry")
    assert "0 recovered, 1 still quarantined" in r.err
    assert cli("quarantine", "show", "99").code == 3


def test_spam_closes_and_files_later_mail(cli: Any, tmp_path: Path) -> None:
    first = eml(tmp_path, "1.eml", "From: spammer@junk.example\nSubject: buy\nMessage-ID: <s1@x>\n")
    cli("import", str(first))
    assert cli("spam", "1").code == 0
    t = cli("show", "1", "--format", "json").json()
    assert t["status"] == "closed" and "spam" in t["tags"]
    later = eml(tmp_path, "2.eml", "From: Spammer@junk.example\nSubject: buy now\nMessage-ID: <s2@x>\n")
    cli("import", str(later))
    assert cli("list", "--format", "ids").out == ""
    spam = cli("search", "tag:spam", "--format", "json").json()
    assert len(spam) == 2 and all(s["status"] == "closed" for s in spam)


def test_x_spam_flag_is_tagged(cli: Any, tmp_path: Path) -> None:
    src = eml(tmp_path, "f.eml", "From: x@example.com\nX-Spam-Flag: YES\nMessage-ID: <sf@x>\n")
    cli("import", str(src))
    assert cli("show", "1", "--format", "json").json()["tags"] == ["spam"]


def test_mbox_import_threads_like_sync(cli: Any, tmp_path: Path) -> None:
    box = tmp_path / "old.mbox"
    box.write_bytes(
        b"From a@example.com Mon Jan  1 10:00:00 2024\n"
        b"From: a@example.com\nSubject: Order 9\nMessage-ID: <o9@x>\n\nwhere is it\n\n"
        b"From a@example.com Mon Jan  1 11:00:00 2024\n"
        b"From: a@example.com\nSubject: Re: Order 9\nMessage-ID: <o9b@x>\nIn-Reply-To: <o9@x>\n\n"
        b"still waiting\n"
    )
    r = cli("import", str(box), "--format", "mbox")
    assert r.code == 0, r
    [t] = cli("list", "--format", "json").json()
    assert t["message_count"] == 2 and t["created_at"].startswith("20")


def test_from_and_to_search_use_words_of_names_and_addresses(cli: Any, tmp_path: Path) -> None:
    a = eml(tmp_path, "a.eml", "From: Ann Becker <ann.becker@example.com>\nTo: sales@shop.example\n"
            "Subject: one\nMessage-ID: <fa@x>\n")
    b = eml(tmp_path, "b.eml", "From: Giulia Rossi <giulia@example.it>\nTo: help@shop.example\n"
            "Subject: two\nMessage-ID: <fb@x>\n")
    cli("import", str(a))
    cli("import", str(b))

    def ids(*q: str) -> list[int]:
        return [t["id"] for t in cli("search", *q, "--format", "json").json()]

    assert ids("from:ann.becker@example.com") == [1]
    assert ids("from:becker") == [1]
    assert ids("from:giu") == [2]  # a word's beginning
    assert ids("from:example.it") == [2]
    assert ids("to:sales@shop.example") == [1]
    assert sorted(ids("to:shop.example")) == [1, 2]
    assert ids("-from:ann", "to:shop") == [2]
    cli("contact", "forget", "1", "--yes")
    assert ids("from:becker") == []  # the index forgets with the person
