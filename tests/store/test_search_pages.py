"""A page of search results (``--limit``/``--offset``) is the same slice of
the whole answer on both engines; on PostgreSQL the newest matching
messages are fetched from a cursor a batch at a time
(``search._pg_newest_tickets``), here one to three at a time so that
tickets span batches, walked newest first (a common term) or sorted from
the text index (a rare one)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportctl.store import search as search_mod
from supportctl.store.search import search
from tests.store.test_engines import NOW, _pinned_clock, mail, put  # noqa: F401  (fixture)


@pytest.mark.parametrize("common", [0, 10**9], ids=["walked", "sorted from the index"])
def test_pages_are_slices_of_the_whole_answer(any_store: Any, common: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "_PG_FETCH", 2)
    monkeypatch.setattr(search_mod, "_PG_FETCH_MIN", 1)
    monkeypatch.setattr(search_mod, "_PG_FETCH_MAX", 3)
    monkeypatch.setattr(search_mod, "_PG_COMMON", common)
    for n in range(24):
        # Five customers writing again and again: a ticket's newest match
        # is far from its older ones.
        sender = f"c{n % 5}@example.com"
        word = "parcel" if n % 3 else "refund"
        put(any_store, mail(f"m{n}@x", sender=sender, subject=f"Order {n % 5}",
                            text=f"my {word} number {n}", irt=f"m{n - 5}@x" if n >= 5 else ""))
    for query in ("parcel", "refund", "number", "number -refund", "from:c1@example.com number",
                  "from:c2 parcel -refund"):
        every = [tid for tid, _ in search(any_store, query, NOW)]
        assert every, query
        for limit in (1, 2, 3, 10):
            for offset in (0, 1, 4):
                got = [tid for tid, _ in search(any_store, query, NOW, limit=limit, offset=offset)]
                assert got == every[offset:offset + limit], (query, limit, offset)


@pytest.mark.parametrize("common", [0, 10**9], ids=["walked", "sorted from the index"])
def test_each_message_matches_in_its_own_language(pg_url: str, common: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk checks each message against the query read in its language's
    configuration only; the index finds them through every configuration's
    reading first: the same tickets either way, and as without a page."""
    from supportctl.store.db import open_store

    monkeypatch.setattr(search_mod, "_PG_COMMON", common)
    store: Any = open_store(pg_url)
    try:
        store.execute("INSERT INTO tickets (id, channel, created_at, updated_at) SELECT g, 'sms',"
                      " 'x', 'x' FROM generate_series(1, 5) g")
        store.execute(
            "INSERT INTO messages (ticket_id, direction, channel, text, sent_at, created_at,"
            " language) VALUES (1, 'in', 'sms', 'Deux livraisons perdues', 'x', 'x', 'fr'),"
            " (2, 'in', 'sms', 'Die Pakete sind verloren', 'x', 'x', 'de'),"
            " (3, 'in', 'sms', 'Two parcels went missing', 'x', 'x', 'en'),"
            " (4, 'in', 'sms', 'parcels pakete livraisons', 'x', 'x', NULL),"
            " (5, 'in', 'sms', 'Due pacchi persi', 'x', 'x', 'IT')")
        for query, want in [("livraison", [1]), ("Paket", [2]), ("parcel", [3]),
                            ("parcels", [4, 3]), ("parcels -missing", [4]), ("pacco", [5]),
                            ('"went missing"', [3]), ("persi -pacchi", [])]:
            assert [t for t, _ in search(store, query, NOW, limit=3)] == want, query
            assert [t for t, _ in search(store, query, NOW)] == want, query
    finally:
        store.close()


@pytest.mark.parametrize("query", ["parcel", '"parcel number"', "parcel -refund", "小包"])
@pytest.mark.parametrize("first_seen", [True, False], ids=["in the walk", "asked again"])
def test_each_ticket_shows_its_newest_matching_message(
        any_store: Any, query: str, first_seen: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread repeats its words in message after message: the snippet
    shown is the newest match's, on every page; SQLite makes it while
    walking only for each ticket's first row, and a snippet left out there
    (``first_seen=False``: as if the rows came in another order) is asked
    for on its own, with the same text."""
    if not first_seen:
        monkeypatch.setattr(search_mod, "_first_of_ticket", lambda: lambda tid: False)
    for n in range(12):
        put(any_store, mail(f"m{n}@x", sender=f"c{n % 3}@example.com", subject=f"Order {n % 3}",
                            text=f"my parcel number {n} 小包 {n}",
                            irt=f"m{n - 3}@x" if n >= 3 else ""))
    every = search(any_store, query, NOW)
    assert len(every) == 3
    for rank, (_, snippet) in enumerate(every):
        # the newest message of the ticket ranked `rank` is number 11 - rank
        assert f" {11 - rank}" in snippet, (query, rank, snippet)
    for offset in (0, 1, 2):
        assert search(any_store, query, NOW, limit=1, offset=offset) == every[offset:offset + 1]


@given(wanted=st.integers(1, 500), found=st.integers(0, 500), per=st.integers(1, 40))
def test_a_later_fetch_is_sized_for_the_tickets_still_wanted(wanted: int, found: int,
                                                             per: int) -> None:
    """At the rate the matches so far gave tickets, the next fetch holds
    every ticket still wanted (within its bounds), with a quarter to spare,
    rather than a fixed batch walking on past the page."""
    size = search_mod._next_fetch(wanted, found * per, found)
    assert search_mod._PG_FETCH_MIN <= size <= search_mod._PG_FETCH_MAX
    if found:
        assert size >= min(search_mod._PG_FETCH_MAX, wanted * per * 1.25)
        assert size <= max(search_mod._PG_FETCH_MIN, wanted * per * 1.25 + 1)
    else:
        assert size == search_mod._PG_FETCH_MAX
