"""Progress of long jobs (first sync, import, export, quarantine retry),
reported through a ``Progress`` the caller passes in. Services never draw:
the CLI hands them a rich display on a terminal (``cli.render.progress``)
and ``NO_PROGRESS`` otherwise, so nothing extra is printed off a terminal
or with ``-q``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    def start(self, key: str, label: str, total: int | None, *, note: str = "") -> None:
        """A job (one folder of one entry, one import) begins; ``total``
        is what it will handle when known; ``note`` says more (resuming)."""
        ...

    def advance(self, key: str, n: int = 1) -> None: ...

    def finish(self, key: str) -> None: ...


class NoProgress:
    def start(self, key: str, label: str, total: int | None, *, note: str = "") -> None:
        return None

    def advance(self, key: str, n: int = 1) -> None:
        return None

    def finish(self, key: str) -> None:
        return None


NO_PROGRESS: Progress = NoProgress()


def counted(items: Iterable[T], progress: Progress, key: str, *, every: int = 100) -> Iterator[T]:
    """``items`` unchanged, advancing ``key`` as they pass (in steps of
    ``every``, so a million lines cost a few thousand updates)."""
    n = 0
    for item in items:
        yield item
        n += 1
        if n == every:
            progress.advance(key, n)
            n = 0
    if n:
        progress.advance(key, n)
