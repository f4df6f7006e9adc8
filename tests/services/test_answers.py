"""The word folding of suggestions agrees with the store's full-text
tokenizer: every word a customer writes, folded and cut to its stem, finds
the message it came from (else a suggestion silently misses)."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.services import answers

LETTERS = st.characters(categories=["Lu", "Ll", "Nd"], exclude_characters="_")


def fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(text,"
                 " tokenize='unicode61 remove_diacritics 2')")
    return conn


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(LETTERS, min_size=1, max_size=14), min_size=1, max_size=6))
def test_every_stem_finds_its_message(ws: list[str]) -> None:
    conn = fts()
    text = " ".join(ws)
    conn.execute("INSERT INTO f(rowid, text) VALUES (1, ?)", [text])
    for w in answers.words(text):
        s = answers.stem(w)
        hit = conn.execute("SELECT rowid FROM f WHERE f MATCH ?",
                           ['"' + s.replace('"', '""') + '"*']).fetchall()
        assert hit == [(1,)], (w, s)


def test_inflections_share_a_stem() -> None:
    for a, b in (("rimborso", "rimborsare"), ("refund", "refunded"), ("livraison", "livraisons"),
                 ("Rückerstattung", "rückerstatten"), ("suscripción", "suscripciones"),
                 ("remboursement", "rembourser")):
        sa, sb = answers.stem(answers.fold(a)), answers.stem(answers.fold(b))
        assert sb.startswith(sa) or sa.startswith(sb), (a, b, sa, sb)


def test_language_detection_needs_clear_evidence() -> None:
    assert answers.detect_language("Buongiorno, non ho ancora ricevuto il rimborso") == "it"
    assert answers.detect_language("Je n'ai toujours pas reçu mon remboursement, merci") == "fr"
    assert answers.detect_language("Ich habe noch keine Erstattung bekommen") == "de"
    assert answers.detect_language("Todavía no he recibido el reembolso, gracias") == "es"
    assert answers.detect_language("I have not received my refund yet") == "en"
    assert answers.detect_language("rimborso?") is None  # one word: not sure
