"""Suggested answers (SPEC §11): solved tickets and knowledge-base articles
like the ticket at hand, for the agent only. Nothing here sends anything.

How a ticket is matched, the same for a two-word SMS and a long email:
- its words (subject, first and last customer message, quoted lines and
  the contact's own name left out) are folded as the store's full-text
  index folds them (lower case, no diacritics) and cut to a prefix, a
  cheap stemmer that works the same in the five languages we see most
  ("rimborso" and "rimborsare", "refund" and "refunded" share "rimbo*",
  "refun*");
- function words of English, Italian, French, German and Spanish are
  dropped; the same lists tell the customer's language (the one with the
  most of them, when it is clear);
- for each prefix the index gives the newest messages holding it (all of
  them for a rare word, the newest 2 000 for a common one: bounded work on
  any store, and how far back those reach tells how common the word is);
  messages sharing the most rarity-weighted words are the candidates;
- each candidate, ticket (its subject, question and our answer) or
  article, gets one score in [0, 1]: half how much of the ticket's
  informative words (weighted by rarity) it covers, half how much of its
  own words the ticket covers. Candidates in the
  customer's language come first, then by score.

With the optional semantic extra (``services/semantic.py``) the ticket's
nearest solved tickets and articles by meaning join in: the two rankings
are merged by reciprocal rank fusion (each candidate scores the sum of
1 / (60 + its rank) over the rankings that hold it, the usual constant),
so a candidate both find comes first, and one only meaning finds (another
language, other words) can still make the list. Each suggestion then says
which method found it; full-text ones keep their matched words. Without
the extra nothing here changes.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from supportctl.store import answers as q
from supportctl.store.db import Store


def _w(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Function words (and greetings, sign-offs) per language: never topic
#: words, and what tells the language of a text.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _w("""
        the a an and or but if of to in on at for from by with about as is are was were be
        been being have has had do does did not no yes my your our their his her its it this
        that these those there here what which who whom when where why how can could would
        should will shall may might must i you he she we they me him us them am so than then
        too very just also please thanks thank hello hi dear regards best kind cheers
        any some all into out up down again still get got would like need help know"""),
    "it": _w("""
        il lo la i gli le un uno una di del dello della dei degli delle da dal dalla in nel
        nella con su sul sulla per tra fra e ed o ma se che chi cui non si mi ti ci vi ne
        sono sei siamo siete ho hai ha abbiamo avete hanno era essere avere mio mia miei
        mie tuo tua suo sua nostro vostro loro questo questa quello quella come quando dove
        perche anche ancora gia piu molto buongiorno buonasera salve ciao grazie cordiali
        saluti gentile vorrei potete potreste sto stato stata fatto al alla ai alle"""),
    "fr": _w("""
        le la les un une des de du et ou mais si que qui quoi ne pas plus je tu il elle nous
        vous ils elles me te se mon ma mes ton ta tes son sa ses notre votre nos vos leur
        leurs ce cet cette ces est sont suis es sommes etes ai as avons avez ont etait etre
        avoir dans sur avec pour par en au aux comme quand ou pourquoi aussi encore deja tres
        bonjour bonsoir merci cordialement salutations madame monsieur voudrais pouvez
        pourriez fait"""),
    "de": _w("""
        der die das den dem des ein eine einen einem einer eines und oder aber wenn dass
        nicht kein keine ich du er sie es wir ihr mich dich sich uns euch mein meine meinen
        dein sein ihre unser euer ist sind bin bist war waren sein haben habe hast hat hatte
        in im an am auf aus bei mit nach von vom zu zum zur fur uber unter vor wie wann wo
        warum auch noch schon sehr hallo guten tag danke vielen gruss grusse freundlichen
        sehr geehrte damen herren bitte konnen konnten mochte wurde kann muss will soll
        meinem meiner meines ihrem ihren ihrer unserem unsere"""),
    "es": _w("""
        el la los las un una unos unas de del al y o pero si que quien no ni me te se nos os
        le les lo mi mis tu tus su sus nuestro vuestro este esta estos estas ese esa es son
        soy eres somos estoy esta estan era ser estar he ha han hemos tengo tiene en con por
        para sin sobre entre como cuando donde porque tambien todavia ya muy hola buenos
        buenas dias tardes gracias saludos atentamente estimado estimada quisiera pueden
        podrian hecho"""),
}
ALL_STOP = frozenset().union(*STOPWORDS.values())

#: How many of the newest messages holding a word are read per word: every
#: message of a rare word, the newest of a common one (cost is bounded
#: whatever the store; recent answers are the current ones anyway).
POSTINGS = 2000
MAX_TERMS = 16
#: Index reads stop after this much CPU time; the words read so far decide.
#: CPU, not wall time: on a loaded machine the same question gets the same
#: suggestions, only later.
WORK_SECONDS = 0.08
CANDIDATES = 300
FINALISTS = 10  # candidate tickets whose question and answer are read and scored
#: A word in fewer messages than this is looked up by its prefix too.
RARE = 200
MIN_SCORE = 0.12


def fold(text: str) -> str:
    """Lower case without diacritics (article names, the FAQ site's index);
    words for matching come from ``words``, the index's own tokenizer."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Folded words, as the store's full-text index tokenizes them."""
    return q.tokenize(text)


def stem(word: str) -> str:
    """A prefix shared by the word's inflections in the Romance and
    Germanic languages we see (suffixes of three or four letters)."""
    n = len(word)
    if n <= 5:
        return word
    return word[: max(5, n - (4 if n >= 10 else 3))]


def content_words(text: str) -> list[str]:
    return [w for w in words(text)
            if len(w) >= 3 and w not in ALL_STOP and not any(c.isdigit() for c in w)]


def detect_language(text: str) -> str | None:
    """The language whose function words the text uses most, when clearly
    so (two hits at least, and more than any other language); else None."""
    counts = dict.fromkeys(STOPWORDS, 0)
    for w in words(text[:4000]):
        for lang, stop in STOPWORDS.items():
            if w in stop:
                counts[lang] += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    (best, n1), (_, n2) = ranked[0], ranked[1]
    if n1 >= 2 and n1 > n2:
        return best
    return None


def strip_quotes(text: str) -> str:
    """The customer's own words: quoted lines (``>``) of earlier mail out."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def answer_text(text: str) -> str:
    """Our reply as an answer to offer again: its quotes out, and the
    signature under the last ``-- `` line (the agent who sends it again
    signs with their own: ``signature.sign`` would add theirs below)."""
    lines = strip_quotes(text).splitlines()
    for n in range(len(lines) - 1, 0, -1):
        if lines[n].rstrip() == "--" and "\n".join(lines[:n]).strip():
            lines = lines[:n]
            break
    return "\n".join(lines).strip()


@dataclass
class Terms:
    """The informative word prefixes of a ticket, with their weights."""

    stems: list[str]
    idf: dict[str, float]
    words_of: dict[str, str] = field(default_factory=dict)  # stem -> a word it came from
    language: str | None = None
    postings: dict[str, list[int]] = field(default_factory=dict)  # stem -> newest message ids
    text: str = ""  # what was read of the ticket (the semantic query)

    def weight(self) -> float:
        return sum(self.idf[s] for s in self.stems) or 1.0


def terms_for(store: Store, text: str, *, exclude: frozenset[str] = frozenset()) -> Terms:
    """The ticket's word prefixes, weighted by rarity in the store. The
    document frequency of a common word is estimated from how far back its
    newest ``POSTINGS`` messages reach (ids grow with time)."""
    import time

    found: dict[str, str] = {}
    forms: dict[str, list[str]] = {}
    for w in content_words(text):
        if w not in exclude:
            found.setdefault(stem(w), w)
            if w not in forms.setdefault(stem(w), []):
                forms[stem(w)].append(w)
    # Longer words first: in every language here the rarer, topical ones.
    stems = sorted(found, key=lambda s: -len(found[s]))[:MAX_TERMS]
    total = max(q.message_count(store), 1)
    deadline = time.process_time() + WORK_SECONDS
    postings: dict[str, list[int]] = {}
    df: dict[str, float] = {}
    for s in stems:
        if time.process_time() > deadline:
            break
        # The words as written (cheap); for a rare one also its inflections
        # (a prefix query, cheap when the family is rare too).
        ids = q.recent_postings(store, forms[s], POSTINGS)
        if len(ids) < RARE and len(s) >= 5:
            ids = q.recent_postings(store, [s], POSTINGS, prefix=True)
        postings[s] = ids
        if len(ids) < POSTINGS:
            df[s] = len(ids)
        else:
            df[s] = min(total, POSTINGS * total / max(total - ids[-1] + 1, 1))
    idf = {s: math.log(1 + total / (n + 1)) for s, n in df.items()}
    # Words in more than a fifth of all messages say nothing about the topic.
    keep = [s for s in df if df[s] <= total / 5 or total < 50]
    keep.sort(key=lambda s: df[s])
    return Terms(stems=keep, idf=idf, words_of=found, language=detect_language(text),
                 postings={s: postings[s] for s in keep})


def score(terms: Terms, text: str) -> tuple[float, list[str]]:
    """How well ``text`` answers to ``terms``, in [0, 1], and the words
    that matched (as the ticket wrote them)."""
    cand = content_words(text)
    if not cand or not terms.stems:
        return 0.0, []
    cand_stems = {stem(w) for w in cand}
    matched = [s for s in terms.stems if s in cand_stems or any(w.startswith(s) for w in cand_stems)]
    if not matched:
        return 0.0, []
    covered = sum(terms.idf[s] for s in matched) / terms.weight()
    own = sum(1 for w in cand if any(w.startswith(s) for s in matched)) / len(cand)
    return round(0.5 * covered + 0.5 * own, 3), [terms.words_of[s] for s in matched]


@dataclass
class Suggestion:
    kind: str  # ticket | article
    score: float
    matched: list[str]
    question: str
    answer: str
    ticket_id: int | None = None
    article: str | None = None
    language: str | None = None
    title: str = ""
    url: str | None = None
    #: With semantic suggestions on: full-text, semantic or full-text+semantic,
    #: and the cosine similarity when meaning found it (else both None, and
    #: the JSON is as without the extra).
    method: str | None = None
    similarity: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "ticket_id": self.ticket_id, "article": self.article,
               "score": self.score, "matched": self.matched, "question": self.question,
               "answer": self.answer, "language": self.language, "title": self.title,
               "url": self.url}
        if self.method is not None:
            out["method"] = self.method
            out["similarity"] = self.similarity
        return out


def ticket_terms(store: Store, ticket_id: int) -> Terms | None:
    info = q.ticket_query_text(store, ticket_id)
    if info is None:
        return None
    text = "\n".join([info["subject"], *(strip_quotes(t) for t in info["texts"])])
    terms = terms_for(store, text, exclude=frozenset(words(info["contact_name"])))
    terms.text = text
    return terms


def rank(items: list[Suggestion], language: str | None, limit: int) -> list[Suggestion]:
    items = [s for s in items if s.score >= MIN_SCORE]
    items.sort(key=lambda s: (language is not None and s.language == language, s.score),
               reverse=True)
    return items[:limit]


def from_tickets(store: Store, terms: Terms, exclude_ticket: int | None) -> list[Suggestion]:
    """Solved tickets whose customer messages share the most (rarity-
    weighted) words with the ticket."""
    import heapq

    acc: dict[int, float] = {}
    for s in terms.stems:
        w = terms.idf[s]
        for mid in terms.postings.get(s, ()):
            acc[mid] = acc.get(mid, 0.0) + w
    best = heapq.nlargest(CANDIDATES, acc.items(), key=lambda kv: (kv[1], kv[0]))
    solved = q.solved_inbound(store, [mid for mid, _ in best], exclude_ticket=exclude_ticket)
    out: list[Suggestion] = []
    seen: set[int] = set()
    for mid, _ in best:
        tid = solved.get(mid)
        if tid is None or tid in seen:
            continue
        seen.add(tid)
        qa = q.question_and_answer(store, tid, mid, tags=False)
        if qa is None:
            continue
        question = strip_quotes(qa["question"])
        # The case is the question and our answer: an answer names the
        # remedy ("replacement", "refund") the next customer asks for.
        answer = answer_text(qa["answer"])
        sc, matched = score(terms, f"{qa['subject']}\n{question}\n{answer}")
        out.append(Suggestion(kind="ticket", ticket_id=tid, score=sc, matched=matched,
                              question=question.strip(), answer=answer,
                              language=detect_language(question), title=qa["subject"]))
        if len(seen) >= FINALISTS:
            break
    return out


def from_articles(terms: Terms, articles: list[Any]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for a in articles:
        if a.draft:
            continue
        s, matched = score(terms, f"{a.title}\n{' '.join(a.tags)}\n{a.body}")
        out.append(Suggestion(kind="article", article=a.slug, score=s, matched=matched,
                              question=a.title, answer=a.body.strip(), language=a.language,
                              title=a.title))
    return out


RRF_K = 60


def fuse(store: Store, terms: Terms, found: list[Suggestion], hits: list[Any],
         articles: list[Any], limit: int) -> list[Suggestion]:
    """The full-text ranking and the semantic neighbours (``semantic.Hit``,
    nearest first) merged by reciprocal rank fusion. ``score`` becomes the
    fused score over its largest value (first in both rankings: 1.0; first
    in one only: 0.5); the customer's language still comes first. A ticket
    only meaning found is read (question, answer, language) only when it
    could still be among the first ``limit``."""
    full = rank(found, terms.language, len(found))

    def key(kind: str, ticket_id: int | None, article: str | None) -> tuple[str, Any]:
        return (kind, ticket_id if kind == "ticket" else article)

    fused: dict[tuple[str, Any], float] = {}
    by_key = {key(s.kind, s.ticket_id, s.article): s for s in full}
    for r, item in enumerate(full, 1):
        k = key(item.kind, item.ticket_id, item.article)
        fused[k] = fused.get(k, 0.0) + 1 / (RRF_K + r)
    near = {}
    for r, h in enumerate(hits, 1):
        k = key(h.kind, h.ticket_id, h.article)
        near[k] = h
        fused[k] = fused.get(k, 0.0) + 1 / (RRF_K + r)
    by_slug = {a.slug: a for a in articles}

    def order(language: str | None, score: float, position: int) -> tuple[bool, float, int]:
        # The customer's language first, then the score; ties keep the
        # fusion's order (full text's ranking, then the neighbours').
        return (terms.language is not None and language == terms.language, score, -position)

    built: list[tuple[tuple[bool, float, int], Suggestion]] = []
    waiting: list[tuple[tuple[bool, float, int], tuple[str, Any], float]] = []
    for position, (k, value) in enumerate(fused.items()):
        h = near.get(k)
        score = round(value * (RRF_K + 1) / 2, 3)
        s = by_key.get(k)
        if s is None and h is not None and h.kind == "ticket":
            # Reading a ticket only meaning found costs a query and a
            # language guess: done below, only if it can still make the list.
            waiting.append((order(terms.language, score, position), k, value))
            continue
        s = s or _by_meaning(store, h, by_slug)
        if s is not None:
            built.append((order(s.language, score, position), _found_by(s, k in by_key, h, value)))
    # Best first: once the best place a waiting ticket could take is below
    # the limit-th suggestion in hand, no ticket after it can do better.
    for best, k, value in sorted(waiting, reverse=True):
        if limit <= 0 or (len(built) >= limit and best < sorted(b[0] for b in built)[-limit]):
            break
        s = _by_meaning(store, near[k], by_slug)
        if s is not None:
            built.append((order(s.language, best[1], -best[2]),
                          _found_by(s, False, near[k], value)))
    built.sort(key=lambda b: b[0], reverse=True)
    return [s for _, s in built[:limit]]


def _found_by(s: Suggestion, by_text: bool, hit: Any, value: float) -> Suggestion:
    s.method = ("full-text+semantic" if hit else "full-text") if by_text else "semantic"
    s.similarity = round(hit.similarity, 3) if hit is not None else None
    s.score = round(value * (RRF_K + 1) / 2, 3)
    return s


def _by_meaning(store: Store, hit: Any, by_slug: dict[str, Any]) -> Suggestion | None:
    """A suggestion for a candidate only the semantic side found."""
    if hit.kind == "article":
        a = by_slug.get(hit.article)
        if a is None:
            return None
        return Suggestion(kind="article", article=a.slug, score=0.0, matched=[], question=a.title,
                          answer=a.body.strip(), language=a.language, title=a.title)
    qa = q.question_and_answer(store, hit.ticket_id, tags=False)
    if qa is None:
        return None
    question = strip_quotes(qa["question"]).strip()
    return Suggestion(kind="ticket", ticket_id=hit.ticket_id, score=0.0, matched=[],
                      question=question, answer=answer_text(qa["answer"]),
                      language=detect_language(question), title=qa["subject"])


def suggest(store: Store, ticket_id: int, articles: list[Any], *, limit: int = 3,
            semantic: Any = None) -> list[Suggestion]:
    """Up to ``limit`` suggestions for a ticket, best first (NotFound when
    there is no such ticket). ``semantic``, a ``semantic.SemanticIndex``,
    adds the nearest tickets and articles by meaning (rank fusion)."""
    from supportctl.errors import NotFound

    terms = ticket_terms(store, ticket_id)
    if terms is None:
        raise NotFound(f"no ticket #{ticket_id}: see `supportctl list --status all`")
    found = from_tickets(store, terms, ticket_id) + from_articles(terms, articles)
    if semantic is None:
        return rank(found, terms.language, limit)
    hits = semantic.similar(terms.text, articles, exclude_ticket=ticket_id)
    return fuse(store, terms, found, hits, articles, limit)
