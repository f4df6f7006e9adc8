"""A real PgBouncer (Debian's ``pgbouncer``) in front of a PostgreSQL
server on a Unix socket (the tests' ``server.PostgresServer``, or the
bench's), on a socket of its own, in session mode and with its default of
refusing start-up parameters it does not track (``options`` among them):
how a team's pooler is usually set up. PgBouncer refuses to run as root,
so as root it runs as ``postgres``."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PORT = 6439


def pgbouncer_bin() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None)


class Pooler:
    """``with Pooler(server.socket, server.user) as pool: pool.url("dbname")``:
    the server's socket directory, the system user its programs run as
    (None: oneself), and the role every pooled connection logs in as."""

    def __init__(self, socket_dir: Path, user: pwd.struct_passwd | None,
                 role: str = "supportctl") -> None:
        found = pgbouncer_bin()
        if found is None:
            raise RuntimeError("PgBouncer is not installed: apt-get install pgbouncer")
        self.bin = found
        self.socket_dir, self.user, self.role = socket_dir, user, role
        self.base = Path(tempfile.mkdtemp(prefix="supportctl-pgbouncer-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Pooler:
        ini = self.base / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={self.socket_dir} user={self.role}\n"
            "[pgbouncer]\n"
            "listen_addr =\n"
            f"unix_socket_dir = {self.base}\n"
            f"listen_port = {PORT}\n"
            "auth_type = any\n"
            "pool_mode = session\n"
            f"logfile = {self.base / 'log'}\n")
        user = self.user
        if user is not None:
            os.chown(self.base, user.pw_uid, user.pw_gid)
            os.chown(ini, user.pw_uid, user.pw_gid)

        def drop() -> None:
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        self.proc = subprocess.Popen([self.bin, str(ini)], preexec_fn=drop,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = self.base / f".s.PGSQL.{PORT}"
        deadline = time.monotonic() + 20
        while not sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.base / "log").read_text() if (self.base / "log").exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {log[-500:]}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.role}@/{dbname}?host={self.base}&port={PORT}"
