"""``unicode61.py``'s tables (what PostgreSQL's ``supportctl_words`` reads
names and addresses with) say what SQLite's FTS5 tokenizer does, for every
character of the Basic Multilingual Plane: the engines' ``from:`` and
``to:`` find the same messages."""

from __future__ import annotations

import re
import sqlite3

from supportctl.store import unicode61


def test_the_tables_read_text_as_sqlites_unicode61_does() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, instance)")
    points = [c for c in range(0x21, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    con.executemany("INSERT INTO f (rowid, x) VALUES (?, ?)", [(c, f"q{chr(c)}q") for c in points])
    tokens: dict[int, list[str]] = {}
    for doc, term in con.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
        tokens.setdefault(doc, []).append(term)
    separator = re.compile("[" + unicode61.SEPARATORS + "]")
    fold = dict(zip(unicode61.FOLD_FROM, unicode61.FOLD_TO.ljust(len(unicode61.FOLD_FROM), "\0"),
                    strict=True))
    wrong = []
    for c in points:
        ch = chr(c)
        if separator.match(ch):
            ok = tokens.get(c) == ["q", "q"]
        else:
            want = fold.get(ch, ch.lower() if ch.isascii() else ch).replace("\0", "")
            ok = tokens.get(c) == [f"q{want}q"]
        if not ok:
            wrong.append(f"U+{c:04X}: {tokens.get(c)}")
    assert wrong == []
