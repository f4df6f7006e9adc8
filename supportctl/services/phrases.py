"""Phrases of ticket subjects, for the report's trending phrases (SPEC §11).

A phrase is two or three words that stand next to each other in a subject
with no stop word, number or punctuation between them ("wrong size",
"cannot log", "tracking number missing"), lower-cased, in any of the
languages the shop answers in (English, Italian, French, German, Spanish
stop words). Reply and forward prefixes ("Re:", "AW:", "R:") and ticket
tokens ("[#123]") are not words. Each phrase counts once per ticket.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\S", re.UNICODE)

_STOP_TEXT = """
a about after again all also am an and any are as at be been before being but by can
could did do does doing for from had has have having he her here his how i if in into
is it its just me more my no nor not of off on once only or other our out over own
please same she so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who why will
with would you your yours hi hello dear thanks thank regards re fw fwd
il lo la i gli le un una uno di da del della dei delle dal nel nella con su per tra fra
che chi non mi ti si ci vi ne se ma ed o e è sono sei siamo ho hai ha abbiamo avete hanno
al alla ai agli alle mio mia miei mie suo sua vostro vostra nostro nostra buongiorno
salve ciao grazie cordiali saluti gentile come quando dove perché anche ancora già r rif
le la les un une des du de d l au aux et ou mais donc ni car je tu il elle nous vous ils
elles mon ma mes ton ta tes son sa ses notre votre leur est suis es sommes êtes sont ai
as avons avez ont ce cet cette ces qui que quoi dans sur pour par avec sans pas ne plus
bonjour merci madame monsieur cordialement tr
der die das den dem des ein eine einen einem einer und oder aber ich du er sie es wir
ihr mein meine dein sein ihre unser ist bin bist sind war hat habe haben mit von zu zum
zur im in am an auf für bei aus nach nicht kein keine wie was wo wann hallo danke bitte
grüße gruß sehr geehrte geehrter aw wg
el los las unos unas y u pero mi mis tu tus su sus nuestro es soy eres somos son está
estoy he han con sin por para del al en lo que como cuando donde hola gracias saludos
señor señora muy
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
#: The rules' version: a store keeps each subject's phrases as ``report``
#: found them (m027), under this number. Raise it with any change to the
#: rules (stop words, what a word is), so that none found before is read.
VERSION = 1


@lru_cache(maxsize=65536)
def subject_phrases(subject: str) -> tuple[str, ...]:
    """The distinct phrases of one subject (cached: subjects repeat)."""
    out: dict[str, None] = {}
    run: list[str] = []
    for w in (*_WORD.findall(subject.casefold()), ""):
        if len(w) > 1 and w[0].isalpha() and w not in STOP_WORDS:
            run.append(w)
            continue
        n = len(run)
        if n > 1:
            for i in range(n - 1):
                out[run[i] + " " + run[i + 1]] = None
                if i < n - 2:
                    out[run[i] + " " + run[i + 1] + " " + run[i + 2]] = None
        run = []
    return tuple(out)
