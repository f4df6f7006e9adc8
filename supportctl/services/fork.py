"""A pure computation over many items, split between this process and one
forked child: the machines this runs on have two cores, and a report over a
whole store spends a third of its time on groups that do not depend on one
another.

The contract: ``split_map(work, items, weights)`` returns exactly
``[work(item) for item in items]``. The child computes its share from the
parent's memory as it was at the fork (nothing is copied or pickled on the
way in) and hands its results back through a pipe as ``marshal`` data, so
``work`` must return plain values (dicts, lists, tuples, str, int, float,
bool, None), which come back equal, floats to the bit. Anything that goes
wrong in the child (an exception, a signal, a result marshal cannot write)
costs only time: the parent then computes the child's share itself.

The child never touches what the parent holds open (store connections,
sockets, stdout's buffer) and leaves by ``os._exit``, which runs no
finalizer and flushes nothing. It is only forked from a process with one
thread (a fork copies only the calling thread, and a lock another thread
held would stay locked in the child), on a machine with more than one CPU
and when the work is large enough to pay for the fork.
"""

from __future__ import annotations

import marshal
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: Below this total weight the work is done here: a fork and its
#: copy-on-write faults cost a few milliseconds.
LEAST_WEIGHT = 20_000


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def forkable() -> bool:
    """Whether this process may fork a child to share work with."""
    return (hasattr(os, "fork") and threading.active_count() == 1 and _usable_cpus() > 1
            and os.environ.get("SUPPORTCTL_NO_FORK", "") in ("", "0"))


def _halves(weights: Sequence[int]) -> tuple[list[int], list[int]]:
    """Indexes split in two of about equal weight, heaviest first to the
    lighter side; each half in index order."""
    mine: list[int] = []
    theirs: list[int] = []
    load = [0, 0]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(i)
        load[side] += weights[i]
    return sorted(mine), sorted(theirs)


def split_map(work: Callable[[T], Any], items: Sequence[T], weights: Sequence[int], *,
              least: int | None = None) -> list[Any]:
    """``[work(item) for item in items]``, about half of the ``weights``
    computed by a forked child when their sum is at least ``least``
    (``LEAST_WEIGHT`` unless given) and this process may fork
    (``forkable``)."""
    if len(items) < 2 or sum(weights) < (LEAST_WEIGHT if least is None else least) \
            or not forkable():
        return [work(item) for item in items]
    mine, theirs = _halves(weights)
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return [work(item) for item in items]
    if pid == 0:  # the child: compute, write, leave without any clean-up
        code = 1
        try:
            os.close(read_end)
            data = marshal.dumps([work(items[i]) for i in theirs])
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    out: list[Any] = [None] * len(items)
    reaped = False
    try:
        for i in mine:
            out[i] = work(items[i])
        chunks = []
        while chunk := os.read(read_end, 1 << 20):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        reaped = True
        done: Any = None
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                done = marshal.loads(b"".join(chunks))
            except (EOFError, ValueError, TypeError):
                done = None
        if not isinstance(done, list) or len(done) != len(theirs):
            done = [work(items[i]) for i in theirs]
        for i, value in zip(theirs, done, strict=True):
            out[i] = value
        return out
    finally:
        os.close(read_end)
        if not reaped:  # the parent's own share raised: the child's is not wanted
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
