"""A mail with a 50 MB attachment is ingested in a few times its size of
memory (SPEC §8), by import (eml, mbox) and by IMAP sync: attachments are
decoded in pieces straight to their files. Peak RSS of the whole process
is read with ``resource.getrusage`` in a subprocess; memory is not time,
so a generous bound is asserted (6 × the message)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.email.servers import PASSWORD, Dovecot

MB = 1024 * 1024


def big_mail(size: int = 50 * MB, seed: bytes = b"x") -> tuple[bytes, str]:
    """A mail with one ``size``-byte attachment (base64, 76-column lines),
    and the attachment's SHA-256."""
    block = hashlib.sha256(seed).digest() * (MB // 32)
    data = (block * (size // len(block) + 1))[:size]
    data = bytes(b ^ (i & 0xFF) for i, b in enumerate(data[:256])) + data[256:]
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    raw = (b"From: Ann <ann@example.com>\r\nTo: support@example.org\r\nSubject: the scans\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <big-" + seed + b"@example.com>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe scans are attached.\r\n"
           b"--b1\r\nContent-Type: application/pdf; name=\"scans.pdf\"\r\n"
           b"Content-Disposition: attachment; filename=\"scans.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b1--\r\n")
    return raw, hashlib.sha256(data).hexdigest()


def peak_rss(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """(peak RSS in bytes, stderr) of ``supportctl ARGS`` as its own process."""
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "sys.stderr.write(p.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "supportctl", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, **(env or {})})
    kb, code = proc.stdout.split()
    assert code == "0", proc.stderr
    return int(kb) * 1024, proc.stderr


def _check(cli: Any, sha: str, env: dict[str, str] | None = None) -> None:
    [att] = cli("attachments", "1", "--format", "json", env=env).json()
    assert att["size"] == 50 * MB and att["sha256"] == sha and att["filename"] == "scans.pdf"
    [m] = cli("show", "1", "--format", "json", env=env).json()["messages"]
    assert m["text"] == "The scans are attached."


@pytest.mark.parametrize("fmt", ["eml", "mbox"])
def test_import_of_a_50_mb_attachment_stays_within_a_few_times_the_message(
        cli: Any, tmp_path: Path, fmt: str) -> None:
    raw, sha = big_mail()
    src = tmp_path / f"big.{fmt}"
    if fmt == "mbox":
        src.write_bytes(b"From ann@example.com Mon Jan  1 10:00:00 2024\n" + raw.replace(b"\r\n", b"\n")
                        + b"\n")
    else:
        src.write_bytes(raw)
    peak, err = peak_rss(["--db", str(cli.db), "import", str(src), "--format", fmt])
    print(f"import {fmt}: message {len(raw) / MB:.0f} MB, peak RSS {peak / MB:.0f} MB "
          f"({peak / len(raw):.1f} x)")
    assert "1 new tickets" in err, err
    assert peak < 6 * len(raw)
    _check(cli, sha)
    got = Path(str(cli.db).removesuffix(".db") + ".files") / sha[:2] / sha[2:]
    assert hashlib.sha256(got.read_bytes()).hexdigest() == sha


def test_imap_sync_of_a_50_mb_attachment_stays_within_a_few_times_the_message(
        cli: Any, tmp_path: Path, dovecot: Dovecot, user: str) -> None:
    raw, sha = big_mail()
    dovecot.append(user, [raw])
    cfg = tmp_path / "config.yaml"
    cfg.write_text("channels:\n  - name: support-mail\n    type: imap\n    host: 127.0.0.1\n"
                   f"    port: {dovecot.port}\n    security: none\n    username: {user}\n"
                   "    password_env: PW\n")
    env = {"SUPPORTCTL_CONFIG": str(cfg), "PW": PASSWORD}
    peak, err = peak_rss(["--db", str(cli.db), "sync"], env)
    print(f"imap sync: message {len(raw) / MB:.0f} MB, peak RSS {peak / MB:.0f} MB "
          f"({peak / len(raw):.1f} x)")
    assert "1 new" in err, err
    assert peak < 6 * len(raw)
    _check(cli, sha, env)
    exported = cli("export", "--format", "jsonl", "--messages", "--raw", env=env).jsonl()
    assert base64.b64decode(exported[0]["messages"][0]["raw"]) == raw
    json.dumps(exported)  # the original is kept whole


def test_memory_of_an_import_is_flat_in_the_number_of_large_mails(cli: Any, tmp_path: Path) -> None:
    """Six 27 MB mails in one mbox cost what one does: batches are bounded
    in bytes, not only in count. (Measured against an import of one such
    mail: the language model is mapped, so a process holds only the pages
    its texts walked, and a tiny mail is no baseline for a large one.)"""
    mails = [big_mail(20 * MB, seed=bytes([k]))[0] for k in range(6)]

    def mbox(path: Path, raws: list[bytes]) -> Path:
        with path.open("wb") as fh:
            for raw in raws:
                fh.write(b"From ann@example.com Mon Jan  1 10:00:00 2024\n"
                         + raw.replace(b"\r\n", b"\n") + b"\n")
        return path

    single = mbox(tmp_path / "one.mbox", mails[:1])
    box = mbox(tmp_path / "six.mbox", mails)
    one = len(mails[0])
    del mails
    base, _ = peak_rss(["--db", str(tmp_path / "base.db"), "import", str(single), "--format", "mbox"])
    peak, err = peak_rss(["--db", str(cli.db), "import", str(box), "--format", "mbox"])
    print(f"import of 6 mails of {one / MB:.0f} MB: peak RSS {peak / MB:.0f} MB, "
          f"{base / MB:.0f} MB for one of them")
    assert "6 new tickets" in err, err
    assert peak - base < 3 * one  # holding all six would be 5 * one more
