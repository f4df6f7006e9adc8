"""Bounded retry with backoff for network channels (SPEC §9, sync-rules R70).

``retry(call, ...)`` retries ``ChannelError``s marked ``temporary`` up to
``attempts`` times, sleeping ``Retry-After`` when the server gave one
(capped) and exponential backoff with jitter otherwise. A send must pass
``idempotent=False`` unless the provider dedupes on a key: then an error
with ``unknown_outcome`` is never retried."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from supportctl.errors import ChannelError, ChannelTimeout

T = TypeVar("T")

#: Tests shrink this to keep the suite fast.
BASE_DELAY = 0.5
MAX_DELAY = 30.0


class RetryAfter(ChannelError):
    """A temporary error with the server's requested delay in seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message, temporary=True)
        self.delay = delay


def retry(
    call: Callable[[], T],
    *,
    attempts: int = 4,
    idempotent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ChannelError as exc:
            if not exc.temporary or attempt == attempts or isinstance(exc, ChannelTimeout):
                raise
            if exc.unknown_outcome and not idempotent:
                raise
            if isinstance(exc, RetryAfter):
                delay = min(max(exc.delay, 0.0), MAX_DELAY)
            else:
                delay = min(BASE_DELAY * 2 ** (attempt - 1), MAX_DELAY)
                delay *= 0.5 + random.random() / 2
            sleep(delay)
    raise AssertionError("unreachable")
