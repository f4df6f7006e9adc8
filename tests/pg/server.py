"""A real PostgreSQL server for the tests, started from Debian's
``postgresql`` package on a temporary directory and a Unix socket (no TCP
port, nothing shared with the machine's own cluster).

``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` user (the package creates it) and its programs run as that
user; as anyone else they run as oneself."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path | None:
    """The newest installed server's programs, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """``with PostgresServer() as pg: pg.url("dbname")``"""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="supportctl-pg-"))
        self.data = self.base / "data"
        self.socket = self.base / "run"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.socket.mkdir()
        if self.user:
            os.chown(self.socket, self.user.pw_uid, self.user.pw_gid)
        self.databases = 0

    def _run(self, *args: str) -> None:
        def drop() -> None:
            if self.user is not None:
                os.setgid(self.user.pw_gid)
                os.setuid(self.user.pw_uid)

        res = subprocess.run([str(self.bin / args[0]), *args[1:]], preexec_fn=drop,
                             capture_output=True, text=True, cwd=self.base, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {res.stderr or res.stdout}")

    def __enter__(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "supportctl",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # Durability is the server's business, not the tests': no fsync.
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.base / "log"),
                  "-o", f"-k {self.socket} -c listen_addresses='' -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off", "start")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://supportctl@/{dbname}?host={self.socket}"

    def new_database(self) -> str:
        """A fresh, empty database's URL (one per test)."""
        import psycopg

        self.databases += 1
        name = f"t{os.getpid()}_{self.databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
