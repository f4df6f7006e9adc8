"""Learning that others changed the store (SPEC §13: ``sync --watch`` and
``triage`` learn of new tickets and replies).

- SQLite polls ``PRAGMA data_version``, which moves only when another
  connection commits: a poll costs one statement and reads no table.
- PostgreSQL is told at once: PG step 3's triggers ``pg_notify`` on
  commit of a new ticket, a new message (a customer's, another agent's
  reply or note) or a ticket whose facts changed (``updated_at``), and
  ``Listener`` LISTENs on a connection of its own in a thread, so
  neither a screen's event loop nor the store's connection ever blocks
  on it. What this process's store connection commits itself is left
  out (the notification names the backend that sent it), as SQLite's
  ``data_version`` leaves a connection's own writes out.

``watch(store)`` gives either as a ``Changes``: ``marker()`` moves when
others committed; ``wait(seconds)`` returns once others committed since
it last returned (since the watch began, the first time), at once if
they did meanwhile (a pass of ``sync --watch`` misses nothing that came
while it ran), on PostgreSQL as soon as they do, on SQLite when the time
is up (callers keep their poll interval);
``on_change(callback)`` is called from the listening thread (PostgreSQL
only: a screen wakes its event loop with it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from supportctl.store.db import Store


def others_changed_marker(store: Store) -> int:
    """A number that changes whenever another connection (another agent,
    cron's ``sync``) commits to the store; this connection's own writes
    leave it alone (SQLite)."""
    return int(store.conn.execute("PRAGMA data_version").fetchone()[0])


class Changes:
    """SQLite: ``PRAGMA data_version``, polled."""

    #: Whether others' commits are announced (no need to poll often).
    instant = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waited = self.marker()

    def marker(self) -> int:
        return others_changed_marker(self.store)

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; whether others committed since the last wait."""
        time.sleep(seconds)
        now = self.marker()
        changed, self._waited = now != self._waited, now
        return changed

    def on_change(self, callback: Callable[[], None]) -> None:
        """Never called on SQLite: callers poll."""

    def close(self) -> None:
        pass


class Listener(Changes):
    """PostgreSQL: LISTEN on a connection of its own, in a daemon thread."""

    instant = True
    #: How often the thread looks up from waiting to see whether to stop.
    TICK = 0.5

    def __init__(self, store: Store) -> None:
        import psycopg

        from supportctl.store.pg_schema import CHANGES_CHANNEL

        self.store = store
        self._store_conn: Any = store.conn  # a PgConnection
        self._conn = psycopg.connect(store.url, autocommit=True,  # type: ignore[attr-defined]
                                     connect_timeout=10)
        self._conn.execute(f"LISTEN {CHANGES_CHANNEL}")
        self._count = self._waited = 0
        self._cond = threading.Condition()
        self._callbacks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="supportctl-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        import psycopg

        try:
            while not self._stop.is_set():
                for note in self._conn.notifies(timeout=self.TICK):
                    if note.pid == self._own_pid():
                        continue
                    with self._cond:
                        self._count += 1
                        self._cond.notify_all()
                    for callback in list(self._callbacks):
                        try:
                            callback()
                        except RuntimeError:  # a screen's loop that has ended
                            pass
        except psycopg.Error:
            # The server went away: say so as a change, and let callers
            # fall back on their own interval (a poll finds what is new).
            with self._cond:
                self._count += 1
                self._cond.notify_all()

    def _own_pid(self) -> int:
        """The backend of the store's own connection (its commits are
        ours), read each time: the store opens a new connection when the
        server dropped the old one."""
        try:
            return int(self._store_conn.raw.info.backend_pid)
        except Exception:
            return -1

    def marker(self) -> int:
        with self._cond:
            return self._count

    def wait(self, seconds: float) -> bool:
        """Until others have committed since the last wait, or ``seconds`` pass."""
        with self._cond:
            changed = self._cond.wait_for(lambda: self._count != self._waited, timeout=seconds)
            self._waited = self._count
            return changed

    def on_change(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.TICK * 4)
        try:
            self._conn.close()
        except Exception:
            pass


def watch(store: Store) -> Changes:
    """What tells this process that others changed ``store``."""
    if store.sql.name == "postgresql":
        return Listener(store)
    return Changes(store)
