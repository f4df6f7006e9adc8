"""A page of search results (``--limit``/``--offset``) is the same slice of
the whole answer on both engines; on PostgreSQL the newest matching
messages are fetched from a cursor a batch at a time
(``search._pg_newest_tickets``), here two at a time so that tickets span
batches, walked newest first (a common term) or sorted from the text
index (a rare one)."""

from __future__ import annotations

from typing import Any

import pytest

from supportctl.store import search as search_mod
from supportctl.store.search import search
from tests.store.test_engines import NOW, _pinned_clock, mail, put  # noqa: F401  (fixture)


@pytest.mark.parametrize("common", [0, 10**9], ids=["walked", "sorted from the index"])
def test_pages_are_slices_of_the_whole_answer(any_store: Any, common: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "_PG_FETCH", 2)
    monkeypatch.setattr(search_mod, "_PG_COMMON", common)
    for n in range(24):
        # Five customers writing again and again: a ticket's newest match
        # is far from its older ones.
        sender = f"c{n % 5}@example.com"
        word = "parcel" if n % 3 else "refund"
        put(any_store, mail(f"m{n}@x", sender=sender, subject=f"Order {n % 5}",
                            text=f"my {word} number {n}", irt=f"m{n - 5}@x" if n >= 5 else ""))
    for query in ("parcel", "refund", "number", "number -refund"):
        every = [tid for tid, _ in search(any_store, query, NOW)]
        assert every, query
        for limit in (1, 2, 3, 10):
            for offset in (0, 1, 4):
                got = [tid for tid, _ in search(any_store, query, NOW, limit=limit, offset=offset)]
                assert got == every[offset:offset + limit], (query, limit, offset)
