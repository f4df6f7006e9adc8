"""Semantic suggestions without the model: a small stand-in embedder (the
same word in five languages is one direction) drives the index and the
rank fusion, so these run whether or not ``supportctl[semantic]`` is
installed. The real model is exercised in tests/cli/test_suggest_semantic.py."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.services import answers, semantic
from supportctl.store.db import Store
from tests.cli.test_suggest import HISTORY, load, ticket

#: Words that mean the same across languages: one direction each.
CONCEPTS = [
    ("refund", "rimborso", "erstattet", "erstattung", "remboursement", "reembolso"),
    ("shoes", "scarpe", "schuhe", "chaussures", "zapatos"),
    ("password", "passwort", "login", "einloggen", "contraseña"),
]


class StandIn:
    """Unit vectors: a strong component per concept a text names, a weak
    one per other word (hashed), so unrelated texts are far apart."""

    name = semantic.MODEL

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str]) -> Any:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), semantic.DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in answers.words(text):
                hit = [i for i, forms in enumerate(CONCEPTS) if word in forms]
                if hit:
                    out[row, hit[0]] += 1.0
                else:
                    out[row, 16 + zlib.crc32(word.encode()) % (semantic.DIM - 16)] += 0.15
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out


def index_for(store: Store, model: StandIn, name: str = semantic.MODEL) -> semantic.SemanticIndex:
    return semantic.SemanticIndex(store, model_factory=lambda: model, model_name=name)


GERMAN = ticket(8, "new", "Sie haben mir die Schuhe noch nicht erstattet, die ich zurückschickte", [])


def test_index_embeds_only_what_is_new_or_changed(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    store = Store(cli.db)
    model = StandIn()
    idx = index_for(store, model)
    done = idx.update([])
    # Solved or closed with an answer: 1, 2, 3, 6 (4 is open, 5 new).
    assert (done.tickets, done.unchanged) == (4, 0)
    assert idx.update([]).tickets == 0 and model.texts == 4
    # A tag changes the ticket, not the text embedded: checked, not embedded.
    assert cli("tag", "vip", "1").code == 0
    again = idx.update([])
    assert (again.tickets, again.unchanged) == (0, 1) and model.texts == 4
    # Reopened and answered anew: embedded again.
    assert cli("reopen", "2").code == 0
    store.execute("UPDATE messages SET text = 'A new refund was issued.' WHERE ticket_id = 2"
                  " AND direction = 'out'")
    assert cli("solve", "2").code == 0
    assert idx.update([]).tickets == 1
    # A deleted ticket takes its vector along; a reopened one keeps it but
    # is no candidate.
    assert cli("delete", "3", "--yes").code == 0
    assert store.scalar("SELECT count(*) FROM ticket_vectors WHERE ticket_id = 3") == 0
    assert cli("reopen", "6").code == 0
    assert {h.ticket_id for h in idx.similar("rimborso scarpe", [], exclude_ticket=None)} == {1, 2}
    # Another model's vectors are never compared: all embedded again.
    assert index_for(store, StandIn(), "another-model").update([]).tickets == 2
    idx.rebuild()
    assert idx.update([]).tickets == 2
    store.close()


def test_articles_follow_the_folder(cli: Any, tmp_path: Path) -> None:
    from supportctl.services import kb

    folder = tmp_path / "kb"
    kb.write_new(folder, "Password reset", "en", ["login"], "Use the reset link.")
    kb.write_new(folder, "Draft", "en", [], "Password login secret", extra={"draft": True})
    store = Store(cli.db)
    idx = index_for(store, StandIn())
    assert idx.update(kb.load(folder)).articles == 1  # drafts are never suggested
    assert idx.update(kb.load(folder)).articles == 0
    path = folder / "password-reset.md"
    path.write_text(path.read_text().replace("reset link", "reset link we mail you"))
    assert idx.update(kb.load(folder)).articles == 1
    hits = idx.similar("Ich kann mich nicht einloggen, Passwort vergessen", kb.load(folder),
                       exclude_ticket=None)
    assert [(h.kind, h.article) for h in hits] == [("article", "password-reset")]
    path.unlink()
    idx.update(kb.load(folder))
    assert store.scalar("SELECT count(*) FROM article_vectors") == 0
    store.close()


def test_fusion_finds_by_meaning_and_says_which_method(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, [*HISTORY, GERMAN])
    store = Store(cli.db)
    idx = index_for(store, StandIn())
    idx.update([])
    # Full text alone: no German answer, and the words are not shared.
    assert answers.suggest(store, 8, []) == []
    found = answers.suggest(store, 8, [], semantic=idx)
    assert {s.ticket_id for s in found} <= {1, 2, 6} and found
    assert all(s.method == "semantic" and s.matched == [] and s.similarity for s in found)
    # Found both ways, near the top of both: first, its matched words kept.
    both = answers.suggest(store, 5, [], semantic=idx)
    assert both[0].ticket_id in (1, 6) and both[0].method == "full-text+semantic"
    assert both[0].score > 0.95 and "rimborso" in both[0].matched
    assert both[0].to_json()["method"] == "full-text+semantic"
    # Without the index: today's suggestions, and no method in the JSON.
    plain = answers.suggest(store, 5, [])
    assert "method" not in plain[0].to_json() and plain[0].method is None
    store.close()


class Recording(StandIn):
    """The stand-in, keeping what it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> Any:
        self.seen += texts
        return super().encode(texts)


def test_a_long_mails_query_is_cut_as_stored_parts_are(cli: Any, tmp_path: Path) -> None:
    # A query costs about 9 ms of CPU per 100 tokens to embed: it is cut
    # where each stored part is (the subject, then the mail's opening),
    # whether the mail is a little or a lot longer than that.
    mail = ("Buongiorno, ho restituito le scarpe e non ho ancora ricevuto il rimborso. "
            + " ".join(f"word{n}" for n in range(600)))
    load(cli, tmp_path, [*HISTORY, *(ticket(tid, "new", mail[:length], [], subject="Rimborso scarpe")
                                     for tid, length in ((9, 1500), (10, 5000)))])
    for tid in (9, 10):
        store = Store(cli.db)
        model = Recording()
        idx = index_for(store, model)
        idx.update([])
        model.seen.clear()
        found = answers.suggest(store, tid, [], semantic=idx)
        assert len(model.seen) == 1
        query = model.seen[0]
        assert len(query) == semantic.MAX_CHARS
        assert query.startswith("Rimborso scarpe Buongiorno, ho restituito le scarpe")
        # Its point is at the start: the refund tickets are still found by meaning.
        assert {s.ticket_id for s in found if s.method and "semantic" in s.method} & {1, 2}
        store.close()


KEYS = st.sampled_from([("ticket", n) for n in range(1, 9)] + [("article", s) for s in "abc"])
LANGS = st.sampled_from(["it", "en", None])


def _fusion_inputs(fts: list[Any], near: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Three articles, and the full-text suggestions and meaning hits the
    strategies below describe."""
    articles = [type("A", (), {"slug": s, "title": s, "body": s, "language": "en",
                               "draft": False, "tags": []})() for s in "abc"]
    found = [answers.Suggestion(kind=k, ticket_id=i if k == "ticket" else None,
                                article=i if k == "article" else None, score=sc,
                                matched=["w"], question="q", answer="a", language=lang)
             for (k, i), sc, lang in fts]
    hits = [semantic.Hit(k, sim, ticket_id=i if k == "ticket" else None,
                         article=i if k == "article" else None) for (k, i), sim in near]
    return articles, found, hits


@settings(max_examples=200, deadline=None)
@given(fts=st.lists(st.tuples(KEYS, st.floats(0.12, 1.0), LANGS), max_size=8,
                    unique_by=lambda x: x[0]),
       near=st.lists(st.tuples(KEYS, st.floats(0.2, 1.0)), max_size=8, unique_by=lambda x: x[0]),
       language=LANGS, limit=st.integers(0, 5))
def test_fusion_invariants(fts: list[Any], near: list[Any], language: str | None,
                           limit: int) -> None:
    """Every suggestion once, at most ``limit``, scores in (0, 1] and in
    order (the customer's language first), methods true to where each came
    from; a candidate first in both rankings scores 1."""
    articles, found, hits = _fusion_inputs(fts, near)
    terms = answers.Terms(stems=[], idf={}, language=language)
    store = _FakeStore()
    ranked = answers.rank(list(found), language, len(found))
    top = (ranked[0].kind, ranked[0].ticket_id or ranked[0].article) if ranked else None
    out = answers.fuse(store, terms, found, hits, articles, limit)  # type: ignore[arg-type]
    keys = [(s.kind, s.ticket_id or s.article) for s in out]
    assert len(keys) == len(set(keys)) <= limit
    assert all(0 < s.score <= 1 for s in out)
    order = [(language is not None and s.language == language, s.score) for s in out]
    assert order == sorted(order, reverse=True)
    in_fts = {k for k, _, _ in fts}
    in_near = {k for k, _ in near}
    for s, k in zip(out, keys, strict=True):
        assert s.method == ("full-text+semantic" if k in in_fts and k in in_near
                            else "full-text" if k in in_fts else "semantic")
        assert (s.similarity is not None) == (k in in_near)
        assert (s.matched == ["w"]) == (k in in_fts)
        if k == top and near and near[0][0] == top:
            assert s.score == 1.0


class _FakeStore:
    """What ``fuse`` reads for a candidate only meaning found (the
    question and answer of a solved ticket)."""

    class conn:  # noqa: N801
        pass

    def one(self, sql: str, params: Any = ()) -> Any:
        if "FROM tickets" in sql:
            return {"id": params[0], "subject": "s", "status": "solved"}
        return ("text",)

    def execute(self, sql: str, params: Any = ()) -> Any:
        return iter(())


class _LanguagesStore(_FakeStore):
    """Solved tickets whose question is Italian (odd ids) or English, and
    a count of the tickets read."""

    def __init__(self) -> None:
        self.read: list[int] = []

    def one(self, sql: str, params: Any = ()) -> Any:
        if "FROM tickets" in sql:
            self.read.append(params[0])
            return {"id": params[0], "subject": "s", "status": "solved"}
        return (("Il mio rimborso non è arrivato e la carta" if params[0] % 2
                 else "The refund has not arrived and my card is"),)


@settings(max_examples=300, deadline=None)
@given(fts=st.lists(st.tuples(KEYS, st.floats(0.12, 1.0), LANGS), max_size=8,
                    unique_by=lambda x: x[0]),
       near=st.lists(st.tuples(KEYS, st.floats(0.2, 1.0)), max_size=10, unique_by=lambda x: x[0]),
       language=LANGS, limit=st.integers(0, 5))
def test_fusion_reads_only_what_can_make_the_list(fts: list[Any], near: list[Any],
                                                  language: str | None, limit: int) -> None:
    """The first ``limit`` suggestions are the first ``limit`` of all of
    them (every candidate read), and a ticket only meaning found is read
    only when it could still be among them."""
    def run(n: int) -> tuple[list[Any], list[int]]:
        articles, found, hits = _fusion_inputs(fts, near)
        store = _LanguagesStore()
        out = answers.fuse(store, answers.Terms(stems=[], idf={}, language=language),  # type: ignore[arg-type]
                           found, hits, articles, n)
        return [(s.kind, s.ticket_id, s.article, s.score, s.method, s.language) for s in out], \
            store.read

    everything, read_all = run(100)
    first, read = run(limit)
    assert first == everything[:limit]
    only_meaning = {i for (k, i), _ in near if k == "ticket"} - {i for (k, i), _, _ in fts}
    assert sorted(read_all) == sorted(only_meaning)
    assert set(read) <= only_meaning
    if limit == 0:
        assert read == []
