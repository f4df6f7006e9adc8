"""IMAP sync budgets (SPEC §8): whole processes against a private Dovecot,
each beside mbsync on the same mailbox in the same minute. Medians.

    python bench/imap_bench.py [--count 5571] [--runs 5] [--json bench/out/imap.json]

Measured:
- ``mbsync first`` / ``mbsync nothing new``: mbsync pulling the INBOX into
  a fresh Maildir, then again with nothing new (the references).
- ``channel first`` / ``channel nothing new``: a process that imports the
  imap channel and drains ``fetch`` (bytes kept in memory, not stored):
  the IMAP part of a sync, start-up included.
- ``sync first`` / ``sync nothing new``: ``supportctl sync`` with a config
  for this mailbox and a fresh store (parse, threading, SQLite included),
  when the CLI and config module are present.

Budgets: first sync <= 1.0 x mbsync; nothing new <= 0.45 s per account.
Needs dovecot-imapd and isync (mbsync); run as root or as the user that
owns the temp directory.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_mailbox import generate  # noqa: E402
from tests.email.servers import PASSWORD, Dovecot  # noqa: E402

USER = "bench"

CHILD = """
import sys, json
from supportctl.channels.imap import ImapChannel
cfg = json.loads(sys.argv[1]); cursors = json.loads(sys.argv[2])
ch = ImapChannel(cfg)
n = 0
for batch in ch.fetch(cursors):
    n += len(batch.items)
    if batch.cursor:
        cursors[batch.source] = batch.cursor
ch.close()
print(json.dumps({"n": n, "cursors": cursors}))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def seed_mailbox(dovecot: Dovecot, count: int, user: str = USER) -> int:
    """Fill a fresh INBOX for ``user`` (Dovecot's indexes built, so no
    contender pays for them); returns the largest message in bytes."""
    home = dovecot.dir / "home" / user
    if home.exists():
        shutil.rmtree(home)
    maildir = home / "Maildir"
    generate(maildir, count, max(count * 3000 // 5571, 1), 1)
    largest = max(p.stat().st_size for p in (maildir / "cur").iterdir())
    if os.geteuid() == 0:
        pw = pwd.getpwnam("dovenull")
        for path in [home, *home.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid)
    dovecot.doveadm("index", "-u", user, "INBOX")
    dovecot.doveadm("mailbox", "status", "-u", user, "messages", "INBOX")
    return largest


def mbsync_config(work: Path, port: int, target: Path, user: str = USER) -> Path:
    """mbsync's config pulling ``user``'s INBOX into the Maildir ``target``."""
    conf = work / "mbsyncrc"
    conf.write_text(f"""\
IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {target}/
Inbox {target}/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    return conf


def mbsync_run(work: Path, port: int, fresh: bool) -> float:
    target = work / "mbsync-mail"
    if fresh and target.exists():
        shutil.rmtree(target)
    target.mkdir(exist_ok=True)
    conf = mbsync_config(work, port, target)
    elapsed, _ = timed(["mbsync", "-q", "-c", str(conf), "-a"])
    return elapsed


def channel_run(port: int, cursors: dict[str, str]) -> tuple[float, dict[str, str], int]:
    cfg = {"name": "bench", "type": "imap", "host": "127.0.0.1", "port": port,
           "security": "none", "username": USER, "password": PASSWORD}
    elapsed, out = timed([sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(cursors)],
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(out)
    return elapsed, result["cursors"], result["n"]


def cli_available() -> bool:
    return (ROOT / "supportctl" / "config.py").exists()


def sync_env(work: Path, port: int, user: str = USER) -> dict[str, str]:
    """The environment of a ``supportctl sync`` of ``user``'s INBOX into
    ``work/store.db``: one ``bench`` entry, config and XDG dirs in ``work``."""
    cfg = work / "config.yaml"
    cfg.write_text(f"""\
channels:
  - name: bench
    type: imap
    host: 127.0.0.1
    port: {port}
    security: none
    username: {user}
    password: {PASSWORD}
    addresses: [support@example.org]
""")
    return {**os.environ, "SUPPORTCTL_CONFIG": str(cfg), "SUPPORTCTL_DB": str(work / "store.db"),
            "XDG_CONFIG_HOME": str(work / "xdg-config"), "XDG_DATA_HOME": str(work / "xdg-data")}


def sync_run(work: Path, port: int, fresh: bool) -> float:
    if fresh:
        for p in work.glob("store.db*"):
            p.unlink()
    env = sync_env(work, port)
    elapsed, _ = timed([sys.executable, "-m", "supportctl", "sync", "-q"], env=env)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5571)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not shutil.which("mbsync"):
        raise SystemExit("mbsync not found: apt-get install isync")

    dovecot = Dovecot().start()
    work = Path(tempfile.mkdtemp(prefix="supportctl-bench-"))
    results: dict[str, list[float]] = {}
    try:
        seed_mailbox(dovecot, args.count)
        # Warm the page cache and Dovecot once.
        mbsync_run(work, dovecot.port, fresh=True)
        for _ in range(args.runs):
            results.setdefault("mbsync first", []).append(mbsync_run(work, dovecot.port, True))
            results.setdefault("mbsync nothing new", []).append(
                mbsync_run(work, dovecot.port, False))
            t, cursors, n = channel_run(dovecot.port, {})
            assert n == args.count, n
            results.setdefault("channel first", []).append(t)
            t, _, n = channel_run(dovecot.port, cursors)
            assert n == 0, n
            results.setdefault("channel nothing new", []).append(t)
            if cli_available():
                results.setdefault("sync first", []).append(sync_run(work, dovecot.port, True))
                results.setdefault("sync nothing new", []).append(
                    sync_run(work, dovecot.port, False))
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)

    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.count} messages, median of {args.runs} runs")
    for k, v in medians.items():
        print(f"  {k:22} {v:7.3f} s")
    ref = medians["mbsync first"]
    for k in ("channel first", "sync first"):
        if k in medians:
            print(f"  {k} / mbsync first = {medians[k] / ref:.2f} (budget 1.0)")
    for k in ("channel nothing new", "sync nothing new"):
        if k in medians:
            print(f"  {k} = {medians[k]:.3f} s (budget 0.45 s; mbsync "
                  f"{medians['mbsync nothing new']:.3f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"count": args.count, "runs": args.runs,
                                         "medians": medians, "samples": results}, indent=2))


if __name__ == "__main__":
    main()
