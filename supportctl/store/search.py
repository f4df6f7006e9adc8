"""Search queries: notmuch-style terms compiled to FTS5 plus SQL.

Syntax (SPEC §5): bare words and ``"phrases"`` match subject and text;
``subject:WORD``; ``from: to: tag: status: channel: assignee: priority:``
filter; ``has:attachment``;
``before:DATE after:DATE`` (``YYYY-MM-DD`` or ``7d``: seven days ago) bound
the last activity; ``is:unassigned`` (also ``is:assigned``,
``is:snoozed``); a leading ``-`` negates any term.

Results are tickets ordered by their newest matching message, newest first,
as notmuch does: FTS5 walks its rowids backwards, which costs milliseconds
even when a common word matches a million messages (ranking by bm25 costs
about a second there).

Terms in Chinese, Japanese, Korean or Thai (scripts whose words are not
separated by spaces, or carry particles) match as substrings: three
characters or more through the trigram index ``messages_cjk`` (migration
m011), which holds only messages with such characters; one or two
characters (a trigram index cannot find them) by ``instr`` over those same
messages, newest first, stopping at the page asked for. All positive terms
must match one message, as before; a negated term excludes the messages
it matches (or, with no positive term, the tickets).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from supportctl.errors import UsageError
from supportctl.store.db import Store
from supportctl.store.dialect import SQLITE, Dialect
from supportctl.store.migrations import UNSPACED_RANGES

FIELDS = ("from", "to", "subject", "tag", "status", "channel", "assignee", "priority", "before",
          "after", "is", "has")


class Query:
    """A parsed search: full-text terms, SQL conditions, and unspaced-script
    terms (trigram MATCH terms of 3+ characters, short substrings as
    (column or None, text)). A plain class, as every class on the read
    path: a dataclass's generated methods cost milliseconds of start-up."""

    def __init__(self) -> None:
        self.fts_pos: list[str] = []
        self.fts_neg: list[str] = []
        self.where: list[str] = []
        self.params: list[Any] = []
        self.cjk_pos: list[str] = []
        self.cjk_neg: list[str] = []
        self.sub_pos: list[tuple[str | None, str]] = []
        self.sub_neg: list[tuple[str | None, str]] = []
        # The trigram terms as (column or None, text), for PostgreSQL.
        self.grams_pos: list[tuple[str | None, str]] = []
        self.grams_neg: list[tuple[str | None, str]] = []
        # The same word terms as tsquery text, for PostgreSQL (``_pg_*``).
        self.ts_pos: list[str] = []
        self.ts_neg: list[str] = []
        self.pg = False


#: The unspaced scripts' ranges as code points. Not a regular expression:
#: compiling a character class this wide costs `search` about 15 ms.
_UNSPACED_SPANS = tuple((ord(UNSPACED_RANGES[i]), ord(UNSPACED_RANGES[i + 2]))
                        for i in range(0, len(UNSPACED_RANGES), 3))


def _unspaced(text: str) -> bool:
    """Whether ``text`` holds a character of an unspaced script."""
    if text.isascii():
        return False
    low = _UNSPACED_SPANS[0][0]
    for ch in text:
        code = ord(ch)
        if code >= low and any(a <= code <= b for a, b in _UNSPACED_SPANS):
            return True
    return False
# Trigram snippets count tokens of three characters: 24 show about as much
# text as 12 words do.
_CJK_SNIPPET = "snippet(messages_cjk, -1, '', '', '…', 24)"


def _add_text(q: Query, text: str, neg: bool, column: str | None = None) -> bool:
    """File an unspaced-script term; False when ``text`` has none of those
    characters (a word for the word index)."""
    if not _unspaced(text):
        return False
    if len(text) >= 3:
        term = _fts_quote(text)
        (q.cjk_neg if neg else q.cjk_pos).append(f"{column} : {term}" if column else term)
        (q.grams_neg if neg else q.grams_pos).append((column, text))
    else:
        (q.sub_neg if neg else q.sub_pos).append((column, text))
    return True


def _fts_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _date(value: str, now: str) -> str:
    from supportctl.timeparse import parse_since
    from supportctl.values import iso, parse_iso, utcnow

    if re.fullmatch(r"(\d+)([hdw])", value):
        return iso(parse_since(value, parse_iso(now) or utcnow())) or ""  # bounded: at most 100 years
    try:
        when = parse_iso(value)
    except (ValueError, OverflowError):
        when = None
    if when is None or not 1000 <= when.year <= 9998:
        raise UsageError(f"bad date {value!r} in search: use YYYY-MM-DD or 7d")
    return iso(when) or ""


def _ts_word(word: str, weight: str = "") -> str:
    """One word as tsquery text (quoted: nothing in it is an operator)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'" + (":" + weight if weight else "")


def parse(text: str, now: str, dialect: Dialect = SQLITE) -> Query:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"bad search query: {exc}") from None
    # shlex drops the quotes, so re-detect phrases from the raw text.
    phrases = set(re.findall(r'"([^"]+)"', text))
    q = Query()
    q.pg = dialect.name == "postgresql"
    for tok in tokens:
        neg = tok.startswith("-") and len(tok) > 1
        if neg:
            tok = tok[1:]
        name, sep, value = tok.partition(":")
        if sep and name.lower() in FIELDS and value:
            _field(q, name.lower(), value, neg, now)
            continue
        if sep and value and tok not in phrases and re.fullmatch(r"[A-Za-z_]+", name) \
                and not value.startswith("//"):
            # A typo'd field must not quietly become two words to match.
            raise UsageError(
                f"unknown search field {name}: (fields: {', '.join(f + ':' for f in FIELDS)});"
                f' quote it to search the text: \'"{tok}"\''
            )
        if tok in phrases or " " in tok:
            if _add_text(q, tok, neg):
                continue
            term = _fts_quote(tok)
            ts = " <-> ".join(_ts_word(w) for w in re.findall(r"\w+", tok)) or "''"
        else:
            words = [w for w in re.findall(r"\w+", tok) if not _add_text(q, w, neg)]
            if not words:
                continue
            term = " ".join(_fts_quote(w) for w in words)
            ts = " & ".join(_ts_word(w) for w in words)
            if len(words) > 1:
                term = f"({term})"
        (q.fts_neg if neg else q.fts_pos).append(term)
        (q.ts_neg if neg else q.ts_pos).append(f"({ts})")
    return q


def _field(q: Query, name: str, value: str, neg: bool, now: str) -> None:
    nt = "NOT " if neg else ""
    if name == "subject":
        words = [w for w in re.findall(r"\w+", value) if not _add_text(q, w, neg, "subject")]
        if words:
            term = "subject : (" + " ".join(_fts_quote(w) for w in words) + ")"
            (q.fts_neg if neg else q.fts_pos).append(term)
            ts = " & ".join(_ts_word(w, "A") for w in words)
            (q.ts_neg if neg else q.ts_pos).append(f"({ts})")
        return
    if name in ("from", "to"):
        # Words of names and addresses, as notmuch matches them: the words
        # of the value in order ("from:ann@example.com", "to:example.com").
        words = re.findall(r"\w+", value)
        if not words:
            raise UsageError(f"{name}: needs a name or an address")
        column = "sender" if name == "from" else "recipients"
        # from: is the customer (inbound mail); to: any message's recipients
        # (which support address a customer wrote to, or whom we answered).
        only_in = " AND m2.direction = 'in'" if name == "from" else ""
        phrase = '"' + " ".join(words).replace('"', "") + '"'
        prefix = "@" not in value and "." not in value
        if prefix:
            # A name or its beginning ("from:giu"); a whole address or
            # domain is matched exactly (a prefix on "com" costs 20 ms).
            phrase += "*"
        if q.pg:
            # Sender words weigh A, recipients B (pg_schema: addr_tsv); the
            # value is read into words by the database, as the index was
            # (supportctl_people_query: SQLite's tokenizer's separators
            # and folding).
            weight = "A" if name == "from" else "B"
            q.where.append(
                f"t.id {nt}IN (SELECT m2.ticket_id FROM messages m2 WHERE m2.addr_tsv @@"
                f" supportctl_people_query(?, '{weight}', {'true' if prefix else 'false'}){only_in})")
            q.params.append(value)
            return
        q.where.append(
            f"t.id {nt}IN (SELECT m2.ticket_id FROM addresses_fts a JOIN messages m2"
            f" ON m2.id = a.rowid WHERE addresses_fts MATCH ?{only_in})"
        )
        q.params.append(f"{column} : {phrase}")
    elif name == "tag":
        q.where.append(f"{nt}EXISTS (SELECT 1 FROM tags g WHERE g.ticket_id = t.id AND g.tag = ?)")
        q.params.append(value.lower())
    elif name == "priority":
        from supportctl.values import Priority

        values = [v.strip().lower() for v in value.split(",") if v.strip()]
        for v in values:
            if v not in list(Priority):
                raise UsageError(f"unknown priority:{v}: use {', '.join(Priority)}")
        q.where.append(f"t.priority {nt}IN ({', '.join('?' for _ in values)})")
        q.params += values
    elif name == "has":
        if value.lower() not in ("attachment", "attachments"):
            raise UsageError(f"unknown has:{value}: use has:attachment")
        q.where.append(
            f"{nt}EXISTS (SELECT 1 FROM attachments a JOIN messages m3 ON m3.id = a.message_id"
            " WHERE m3.ticket_id = t.id AND a.inline = 0)"
        )
    elif name == "status":
        from supportctl.values import Status

        values = [v.strip().lower() for v in value.split(",") if v.strip()]
        for v in values:
            known("status", v, list(Status))
        q.where.append(f"t.status {nt}IN ({', '.join('?' for _ in values)})")
        q.params += values
    elif name == "channel":
        # Checked against the declared media by the caller (channel_values):
        # the store does not know them.
        value = value.strip().lower()
        q.where.append(f"t.channel {'!=' if neg else '='} ?")
        q.params.append(value)
    elif name == "assignee":
        if value in ("none", "nobody"):
            q.where.append(f"t.assignee IS {nt}NULL")
        else:
            q.where.append(f"{nt}(t.assignee IS NOT NULL AND t.assignee = ?)")
            q.params.append(value)
    elif name == "before":
        q.where.append(f"{nt}(t.updated_at < ?)")
        q.params.append(_date(value, now))
    elif name == "after":
        q.where.append(f"{nt}(t.updated_at >= ?)")
        q.params.append(_date(value, now))
    elif name == "is":
        cond = {
            "unassigned": "t.assignee IS NULL",
            "assigned": "t.assignee IS NOT NULL",
            "snoozed": "(t.snoozed_until IS NOT NULL AND t.snoozed_until > ?)",
            "breached": "((t.first_response_due IS NOT NULL AND COALESCE(t.first_response_at, ?)"
            " > t.first_response_due) OR (t.resolution_due IS NOT NULL AND"
            " COALESCE(t.solved_at, ?) > t.resolution_due))",
        }.get(value)
        if cond is None:
            raise UsageError(
                f"unknown is:{value}: use is:unassigned, is:assigned, is:snoozed or is:breached"
            )
        q.where.append(f"{nt}{cond}")
        q.params += [now] * cond.count("?")


def channel_values(text: str) -> list[str]:
    """The values of a query's ``channel:`` terms, as ``parse`` reads them,
    for the command line to check against the declared media."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        return []  # parse says what is wrong
    out = []
    for tok in tokens:
        name, sep, value = tok.removeprefix("-").partition(":")
        if sep and name.lower() == "channel" and value:
            out.append(value.strip().lower())
    return out


def known(field: str, value: str, valid: Any) -> str:
    """``value`` when ``field:`` can hold it; else a usage error listing
    what it can (a typo would otherwise quietly match nothing)."""
    choices = [str(v) for v in valid]
    if value in choices:
        return value
    import difflib

    from supportctl.safe import one_line

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {field}:{close[0]}?)" if close else ""
    raise UsageError(f"unknown {field}:{one_line(value, 40)}{hint}: use one of {', '.join(choices)}")


def _match(pos: list[str], neg: list[str]) -> str:
    expr = " AND ".join(pos)
    if neg:
        expr += " NOT (" + " OR ".join(neg) + ")"
    return expr


def _instr(column: str | None, text: str, alias: str = "m") -> tuple[str, list[Any]]:
    if column:
        return f"instr({alias}.{column}, ?) > 0", [text]
    return f"(instr({alias}.subject, ?) > 0 OR instr({alias}.text, ?) > 0)", [text, text]


class _Source:
    """Where a query's matching messages ``m`` come from: the index that
    drives it (walked newest first), the conditions every such message must
    also meet, and how to show a snippet."""

    def __init__(self, from_sql: str, where: list[str], params: list[Any], snippet: str,
                 order: str) -> None:
        self.from_sql = from_sql
        self.where = where
        self.params = params
        self.snippet = snippet
        self.order = order


def _in_index(table: str, expr: str, neg: bool = False) -> tuple[str, list[Any]]:
    """Message ``m`` is (not) matched by ``expr`` in ``table``: a seek of
    the index to m's rowid, so a common word costs nothing per row (an
    ``IN (SELECT rowid …)`` would list its million matches first)."""
    return (f"{'NOT ' if neg else ''}EXISTS (SELECT 1 FROM {table} x WHERE x.{table} MATCH ?"
            " AND x.rowid = m.id)", [expr])


def _source(q: Query) -> _Source | None:
    """Messages matching every positive term and none of the negated ones;
    None when there is no positive term (then only tickets are filtered).

    A CJK term drives the walk when there is one (the trigram index, else
    the messages it holds: a small part of most stores, and a word that
    never meets a CJK term would otherwise walk every message it matches);
    else the word index does."""
    where: list[str] = []
    params: list[Any] = []
    if q.cjk_pos:
        src = _Source(
            "messages_cjk CROSS JOIN messages m ON m.id = messages_cjk.rowid",
            ["messages_cjk MATCH ?"], [_match(q.cjk_pos, q.cjk_neg)], _CJK_SNIPPET,
            "messages_cjk.rowid")
    elif q.sub_pos:
        # FTS5's own list of the messages it indexed (one %_docsize row per
        # message): the only messages a short CJK term can be in. CROSS
        # JOIN: walk that list, never every message.
        src = _Source("messages_cjk_docsize d CROSS JOIN messages m ON m.id = d.id", [], [], "",
                      "d.id")
        if q.cjk_neg:
            sql, p = _in_index("messages_cjk", " OR ".join(q.cjk_neg), neg=True)
            where.append(sql)
            params += p
    elif q.fts_pos:
        src = _Source(
            "messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid",
            ["messages_fts MATCH ?"], [_match(q.fts_pos, q.fts_neg)],
            "snippet(messages_fts, -1, '', '', '…', 12)", "messages_fts.rowid")
        if q.cjk_neg:
            sql, p = _in_index("messages_cjk", " OR ".join(q.cjk_neg), neg=True)
            where.append(sql)
            params += p
    else:
        return None
    # The cheap tests first: instr on the row in hand, then index seeks.
    cheap: list[str] = []
    cheap_params: list[Any] = []
    for column, text in q.sub_pos:
        sql, p = _instr(column, text)
        cheap.append(sql)
        cheap_params += p
    if q.fts_pos and not src.from_sql.startswith("messages_fts"):
        sql, p = _in_index("messages_fts", _match(q.fts_pos, q.fts_neg))
        where.append(sql)
        params += p
    elif q.fts_neg and not q.fts_pos:
        sql, p = _in_index("messages_fts", " OR ".join(q.fts_neg), neg=True)
        where.append(sql)
        params += p
    for column, text in q.sub_neg:
        sql, p = _instr(column, text)
        cheap.append(f"NOT {sql}")
        cheap_params += p
    src.where += cheap + where
    src.params += cheap_params + params
    return src


def _ticket_exclusions(q: Query) -> tuple[list[str], list[Any]]:
    """With no positive term: tickets none of whose messages match a
    negated term."""
    where: list[str] = []
    params: list[Any] = []
    if q.fts_neg:
        where.append("t.id NOT IN (SELECT m.ticket_id FROM messages_fts JOIN messages m"
                     " ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?)")
        params.append(" OR ".join(q.fts_neg))
    if q.cjk_neg:
        where.append("t.id NOT IN (SELECT m.ticket_id FROM messages_cjk JOIN messages m"
                     " ON m.id = messages_cjk.rowid WHERE messages_cjk MATCH ?)")
        params.append(" OR ".join(q.cjk_neg))
    if q.sub_neg:
        parts = [_instr(column, text) for column, text in q.sub_neg]
        where.append("t.id NOT IN (SELECT m.ticket_id FROM messages_cjk_docsize d JOIN messages m"
                     f" ON m.id = d.id WHERE {' OR '.join(sql for sql, _ in parts)})")
        params += [v for _, p in parts for v in p]
    return where, params


def condition(text: str, now: str, dialect: Dialect = SQLITE) -> tuple[list[str], list[Any]]:
    """``list --query``: the query as SQL conditions on tickets ``t``
    (matching ticket ids from the full-text index as a subquery, so a
    common word never turns into a list of 70 000 ids or snippets)."""
    q = parse(text, now, dialect)
    where, params = list(q.where), list(q.params)
    if q.pg:
        more, more_params = _pg_ticket_condition(q)
        return where + more, params + more_params
    src = _source(q)
    if src is None:
        more, more_params = _ticket_exclusions(q)
        return where + more, params + more_params
    where.append(f"t.id IN (SELECT m.ticket_id FROM {src.from_sql}"
                 f" WHERE {' AND '.join(src.where) or '1'})")
    return where, params + src.params


def _around(subject: str, body: str, needles: list[str]) -> str:
    """A snippet of about 30 characters around the first of ``needles``."""
    for text in (body, subject):
        for needle in needles:
            at = text.find(needle)
            if at >= 0:
                start, end = max(0, at - 12), min(len(text), at + len(needle) + 18)
                cut = " ".join(text[start:end].split())
                return ("…" if start else "") + cut + ("…" if end < len(text) else "")
    return ""


def search(
    store: Store, text: str, now: str, *, limit: int = 0, offset: int = 0,
) -> list[tuple[int, str]]:
    """Ticket ids with a snippet each, newest matching activity first."""
    q = parse(text, now, store.sql)
    where = list(q.where)
    params = list(q.params)
    where.append("t.merged_into IS NULL")
    want = (limit + offset) if limit else 0
    if q.pg:
        return _pg_search(store, q, where, params, want, limit, offset)
    found: list[int] = []
    snippets: dict[int, str] = {}
    src = _source(q)
    if src is not None:
        shown = "m.subject, m.text"
        if src.snippet:
            # A thread repeats its words message after message; only each
            # ticket's newest match is shown, so only its snippet (which
            # reads and tokenizes the message) is made: the rows come in
            # the index's order, newest first, and first_of_ticket says
            # whether a row is its ticket's first (a row whose snippet was
            # left out anyway is asked for again below).
            store.conn.create_function("supportctl_first_of_ticket", 1, _first_of_ticket())
            shown = (f"CASE WHEN supportctl_first_of_ticket(m.ticket_id) THEN {src.snippet} END,"
                     f" {src.order}")
        sql = (
            f"SELECT m.ticket_id, {shown} FROM {src.from_sql} JOIN tickets t ON t.id = m.ticket_id"
            f" WHERE {' AND '.join([*src.where, *where])} ORDER BY {src.order} DESC"
        )
        seen: set[int] = set()
        needles = [t for _, t in q.sub_pos]
        try:
            cur = store.conn.execute(sql, [*src.params, *params])
            for tid, *snip in cur:
                if tid in seen:
                    continue
                seen.add(tid)
                found.append(tid)
                if not src.snippet:
                    snippets[tid] = _around(snip[0], snip[1], needles)
                elif snip[0] is not None:
                    snippets[tid] = snip[0]
                else:
                    snippets[tid] = _snippet(store, src, snip[1])
                if want and len(found) >= want:
                    break
        except Exception as exc:  # sqlite3.OperationalError: fts5 syntax
            if "fts5" in str(exc) or "syntax" in str(exc):
                raise UsageError(f"bad search query: {exc}") from None
            raise
    else:
        more, more_params = _ticket_exclusions(q)
        where += more
        params += more_params
        cond = " AND ".join(where)
        sql = f"SELECT t.id, '' FROM tickets t WHERE {cond} ORDER BY t.updated_at DESC, t.id DESC"
        if want:
            sql += f" LIMIT {int(want)}"
        for tid, _ in store.conn.execute(sql, params):
            found.append(tid)
            snippets[tid] = ""
    page = found[offset:] if not limit else found[offset : offset + limit]
    return [(tid, snippets[tid]) for tid in page]


def _first_of_ticket() -> Any:
    """A function true the first time it sees each ticket id."""
    firsts: set[int] = set()

    def first(tid: int) -> bool:
        if tid in firsts:
            return False
        firsts.add(tid)
        return True

    return first


def _snippet(store: Store, src: _Source, rowid: int) -> str:
    """``src.snippet`` of the message at ``rowid`` of the index that drives
    ``src`` (named by its ``order``: ``TABLE.rowid``)."""
    table = src.order.split(".")[0]
    row = store.conn.execute(f"SELECT {src.snippet} FROM {table} WHERE {table} MATCH ?"
                             " AND rowid = ?", [src.params[0], rowid]).fetchone()
    return row[0] if row is not None and row[0] is not None else ""


# -- PostgreSQL: one tsvector per message in its language (pg_schema) ---------
#
# A message's words are stemmed in its own language's configuration, so a
# query is read in every configuration (their OR, which the GIN index
# answers), then checked exactly against each candidate in that message's
# configuration (an Italian stem matches Italian words; a negated word
# excludes the message whatever its language). The configurations fold
# accents before they stem (pg_schema step 7), as SQLite's index does.
#
# Terms in Chinese, Japanese, Korean or Thai: the trigram index
# ``messages_grams`` (step 7) finds the messages holding all of a term's
# trigrams, and each is checked for the term itself (``strpos``, ASCII
# case folded as FTS5's trigram index folds it); a term of one or two
# characters is looked for in the messages of those scripts
# (``messages_unspaced``), newest first. The same matches as SQLite's.

_PG_CONFIGS = tuple(f"supportctl_{c}" for c in ("simple", "english", "italian", "french", "german",
                                                "spanish", "portuguese", "dutch"))
_PG_ANY = "(" + " || ".join(f"to_tsquery('{c}', ?)" for c in _PG_CONFIGS) + ")"
#: Message ``m`` matches the query read in its own language's configuration.
#: Each branch reads it once per statement (to_tsquery of
#: ``supportctl_ts_config(m.language)`` was read again for every message
#: checked: stemmed, its accents folded), and only when a message of that
#: language is checked (a subquery, run once when first needed; OFFSET 0
#: keeps the planner from reading them all ahead, which loaded every
#: language's dictionaries into each new session: about 2 ms of a store's
#: first search when all its messages are in one language). The last
#: branch, a configuration the function may one day return beyond these,
#: reads it per message as before. ``_PG_EXACT_PARAMS`` copies of the query
#: follow it.
_PG_EXACT = ("m.tsv @@ CASE supportctl_ts_config(m.language) "
             + " ".join(f"WHEN '{c}'::regconfig THEN (SELECT to_tsquery('{c}', x.q)"
                        " FROM (SELECT ?::text AS q OFFSET 0) x)" for c in _PG_CONFIGS)
             + " ELSE to_tsquery(supportctl_ts_config(m.language), ?) END")
_PG_EXACT_PARAMS = len(_PG_CONFIGS) + 1
#: ``_PG_EXACT`` on ``message_words m`` (pg_schema step 11), which holds
#: each message's configuration worked out: a walk's narrow rows.
_PG_EXACT_WORDS = _PG_EXACT.replace("supportctl_ts_config(m.language)", "m.cfg")


_PG_UNSPACED = "supportctl_unspaced(m.subject, m.text)"
_PG_GRAMS = "supportctl_grams(m.subject, m.text) @> supportctl_grams(?, '')"


def _pg_holds(column: str | None, text: str, fold: bool) -> tuple[str, list[Any]]:
    """Message ``m`` holds ``text`` (in ``column``, else subject or text);
    ``fold``: ASCII letters in any case, as a trigram index matches."""
    cols = [column] if column else ["subject", "text"]
    if fold:
        sql = " OR ".join(f'strpos(lower(m.{c}), lower(? COLLATE "C")) > 0' for c in cols)
    else:
        sql = " OR ".join(f"strpos(m.{c}, ?) > 0" for c in cols)
    return f"({sql})", [text] * len(cols)


def _pg_unspaced_term(column: str | None, text: str, grams: bool,
                      walk: bool = False) -> tuple[str, list[Any]]:
    """Message ``m`` holds this Chinese, Japanese, Korean or Thai term:
    through the trigram index when it has three characters or more, unless
    ``walk`` (the term itself is the check; its trigrams are all among any
    message's that holds it)."""
    sql, params = _pg_holds(column, text, grams)
    if grams and not walk:
        return f"{_PG_UNSPACED} AND {sql} AND {_PG_GRAMS}", [*params, text]
    return f"{_PG_UNSPACED} AND {sql}", params


def _pg_expr(q: Query) -> str:
    expr = " & ".join(q.ts_pos)
    if q.ts_neg:
        expr += " & !(" + " | ".join(q.ts_neg) + ")"
    return expr


def _pg_walk(q: Query) -> tuple[str, str, list[Any]] | None:
    """What a walk newest first reads (``messages``, or ``message_words``
    when the text terms are all words: the same rows, narrow), and its
    conditions on that table's ``m`` (``_pg_matching``'s, walked)."""
    found = _pg_matching(q, walk=True)
    if found is None:
        return None
    if q.ts_pos and not (q.sub_pos or q.grams_pos or q.sub_neg or q.grams_neg):
        # Then the walk's condition is _PG_EXACT alone, with its parameters.
        return "message_words", _PG_EXACT_WORDS, found[1]
    return "messages", *found


def _pg_matching(q: Query, walk: bool = False) -> tuple[str, list[Any]] | None:
    """Conditions on messages ``m`` for the text terms (all positive ones
    in one message, no negated one in it), or None when none is positive.
    ``walk``: for messages read one by one, newest first: the exact checks
    alone, none that a GIN index can answer (the query read in every
    configuration, a term's trigrams: what the indexes need, and a repeat of
    the check's work on each message), so the planner never reads the
    text indexes for a walk, and may use its bitmap scans for the other
    terms (``from:``'s index)."""
    if not (q.ts_pos or q.grams_pos or q.sub_pos):
        return None
    where: list[str] = []
    params: list[Any] = []
    for column, text in q.sub_pos:
        sql, p = _pg_unspaced_term(column, text, grams=False)
        where.append(sql)
        params += p
    for column, text in q.grams_pos:
        sql, p = _pg_unspaced_term(column, text, grams=True, walk=walk)
        where.append(sql)
        params += p
    for terms, grams in ((q.sub_neg, False), (q.grams_neg, True)):
        for column, text in terms:
            sql, p = _pg_holds(column, text, grams)
            where.append(f"NOT {sql}")
            params += p
    if q.ts_pos:
        expr = _pg_expr(q)
        if walk:
            where.append(_PG_EXACT)
        else:
            where.append(f"m.tsv @@ {_PG_ANY} AND {_PG_EXACT}")
            params += [expr] * len(_PG_CONFIGS)
        params += [expr] * _PG_EXACT_PARAMS
    elif q.ts_neg:
        where.append(f"NOT {_PG_EXACT}")
        params += [" | ".join(q.ts_neg)] * _PG_EXACT_PARAMS
    return " AND ".join(where), params


def _pg_ticket_condition(q: Query) -> tuple[list[str], list[Any]]:
    found = _pg_matching(q)
    if found is not None:
        sql, params = found
        return [f"t.id IN (SELECT m.ticket_id FROM messages m WHERE {sql})"], params
    where: list[str] = []
    params = []
    if q.ts_neg:
        neg = " | ".join(q.ts_neg)
        # NOT EXISTS, an anti-join the planner may drive from either side:
        # NOT IN kept the matching messages' tickets as a subplan, which
        # past work_mem is run again for every ticket (`-support tag:vip`
        # over a million messages: 2.6-3.1 s)
        where.append(f"NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id"
                     f" AND m.tsv @@ {_PG_ANY} AND {_PG_EXACT})")
        params += [neg] * (len(_PG_CONFIGS) + _PG_EXACT_PARAMS)
    for terms, grams in ((q.sub_neg, False), (q.grams_neg, True)):
        for column, text in terms:
            sql, p = _pg_unspaced_term(column, text, grams)
            where.append(f"NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id"
                         f" AND {sql})")
            params += p
    return where, params


def _pg_search(store: Store, q: Query, where: list[str], params: list[Any], want: int,
               limit: int, offset: int) -> list[tuple[int, str]]:
    found = _pg_matching(q)
    cap = f" LIMIT {int(want)}" if want else ""
    if found is None:
        more, more_params = _pg_ticket_condition(q)
        sql = (f"SELECT t.id FROM tickets t WHERE {' AND '.join([*where, *more])}"
               f" ORDER BY t.updated_at DESC, t.id DESC{cap}")
        ids = [int(r[0]) for r in store.conn.execute(sql, [*params, *more_params])]
        page = ids[offset:] if not limit else ids[offset:offset + limit]
        return [(tid, "") for tid in page]
    match_sql, match_params = found
    if want:
        rows = _pg_newest_tickets(store, _pg_walk(q) or ("messages", *found), found, where,
                                  params, want)
    else:
        rows = store.conn.execute(
            f"SELECT m.ticket_id, max(m.id) AS newest FROM messages m JOIN tickets t"
            f" ON t.id = m.ticket_id WHERE {match_sql} AND {' AND '.join(where)}"
            f" GROUP BY m.ticket_id ORDER BY newest DESC", [*match_params, *params]).fetchall()
    hits = rows[offset:] if not limit else rows[offset:offset + limit]
    if not hits:
        return []
    # A snippet of each ticket's newest matching message, for the page only.
    if not q.ts_pos:  # a Chinese, Japanese, Korean or Thai term's
        needles = [t for _, t in q.grams_pos + q.sub_pos]
        around = {int(r[0]): _around(str(r[1]), str(r[2]), needles) for r in store.conn.execute(
            "SELECT m.id, m.subject, m.text FROM messages m"
            f" WHERE m.id IN ({', '.join(str(int(r[1])) for r in hits)})")}
        return [(int(r[0]), around.get(int(r[1]), "")) for r in hits]
    expr = _pg_expr(q)
    snippets = {int(r[0]): str(r[1] or "") for r in store.conn.execute(
        "SELECT m.id, ts_headline(supportctl_ts_config(m.language), m.text,"
        " to_tsquery(supportctl_ts_config(m.language), ?),"
        " 'StartSel=\"\",StopSel=\"\",MaxWords=12,MinWords=4,ShortWord=0') FROM messages m"
        f" WHERE m.id IN ({', '.join(str(int(r[1])) for r in hits)})", [expr])}
    return [(int(r[0]), snippets.get(int(r[1]), "")) for r in hits]


#: Matching messages fetched first by ``_pg_newest_tickets``; each later
#: fetch is sized from what the tickets found so far took (at least
#: ``_PG_FETCH_MIN``, at most ``_PG_FETCH_MAX``).
_PG_FETCH = 200
_PG_FETCH_MIN, _PG_FETCH_MAX = 25, 2000


def _next_fetch(wanted: int, fetched: int, found: int) -> int:
    """How many matching messages to fetch next for ``wanted`` more
    tickets, when ``fetched`` gave ``found``: at that rate, and a quarter
    more. A walk checks every message up to the last one fetched, so each
    match fetched past the page costs its share of the walk (threads repeat
    a phrase: ``"cannot log in"`` took 436 matches for 50 tickets on a
    million messages, and fixed fetches of 200 walked on to the 600th)."""
    per = fetched / found if found else _PG_FETCH_MAX
    return max(_PG_FETCH_MIN, min(_PG_FETCH_MAX, int(wanted * per * 1.25) + 1))


#: How ``_pg_newest_tickets`` tells a common term from a rare one: at least
#: ``_PG_COMMON`` matches among the newest ``_PG_WINDOW`` messages.
_PG_WINDOW = 2000
_PG_COMMON = 10


def _pg_newest_tickets(store: Store, walk: tuple[str, str, list[Any]],
                       indexed: tuple[str, list[Any]], where: list[str], params: list[Any],
                       want: int) -> list[tuple[int, int]]:
    """The first ``want`` tickets by newest matching message: (ticket id,
    that message's id). The matching messages, newest first, come through
    a cursor a batch at a time until ``want`` tickets are found (a cursor
    is planned for its first rows; on 1 000 000 messages a GROUP BY over
    every match cost seconds, and pages of LIMIT k were planned again each
    time). ``walk``: the table a walk reads (``_pg_walk``), the text
    terms' conditions on its rows ``m`` and their parameters, checked on
    each message of a walk; ``indexed``: the same found through the GIN
    index on messages ``m`` (``_pg_matching``); ``where``: the conditions
    on tickets ``t``, with ``params``.

    A common term walks the primary key backwards and stops early, as
    SQLite walks its index; a rare one is read from the GIN index and its
    matches sorted. Which is which is looked up here, in the newest
    ``_PG_WINDOW`` messages of the tickets the other terms allow (a common
    word from one sender, ``from:ann support``, walked every message: 22 s
    on a million; rare among that sender's, the planner starts from the
    sender's index), not left to the planner, whose estimate of a
    text match is off a hundredfold either way: a phrase is estimated as
    the product of its words' frequencies (``"cannot log in"``: 2 where
    2 010 of 100 000 messages match, so it read every match, 2.2 s on a
    million), and a word it has no statistics for as common enough to
    walk for (one that matches nothing walked every message: 250 ms on
    100 000).

    Neither plan is worth the JIT compiler or parallel workers (the
    reading commands' session turns them off, ``pq.SESSION``; this
    transaction does too, for any other connection): judged by the cost of
    walking every message, the cursor started LLVM (10-30 ms), and the look
    at 2 000 messages two workers, each loading the catalog and the text
    search dictionaries again (18 ms for 0.6 ms of rows)."""
    found: list[tuple[int, int]] = []
    seen: set[int] = set()
    with store.tx():
        store.execute("SELECT set_config('jit', 'off', true),"
                      " set_config('max_parallel_workers_per_gather', '0', true)")
        table, walk_sql, walk_params = walk
        common = store.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} m JOIN tickets t ON t.id = m.ticket_id"
            f" WHERE m.id > (SELECT max(id) FROM {table}) - {int(_PG_WINDOW)} AND {walk_sql}"
            f" AND {' AND '.join(where)} LIMIT {int(_PG_COMMON)}) x",
            [*walk_params, *params]).fetchone()[0] >= _PG_COMMON
        if common:
            match_sql, match_params = walk_sql, walk_params
            order = "m.id DESC"
        else:
            # ORDER BY m.id + 0: the index's matches sorted, never a walk.
            table, (match_sql, match_params) = "messages", indexed
            order = "m.id + 0 DESC"
        store.execute(
            "DECLARE supportctl_search NO SCROLL CURSOR FOR SELECT m.ticket_id, m.id"
            f" FROM {table} m JOIN tickets t ON t.id = m.ticket_id"
            f" WHERE {match_sql} AND {' AND '.join(where)} ORDER BY {order}",
            [*match_params, *params])
        try:
            size, fetched = _PG_FETCH, 0
            while True:
                rows = store.execute(f"FETCH {size} FROM supportctl_search").fetchall()
                fetched += len(rows)
                for tid, mid in rows:
                    if tid not in seen:
                        seen.add(tid)
                        found.append((int(tid), int(mid)))
                        if len(found) >= want:
                            return found
                if len(rows) < size:
                    return found
                size = _next_fetch(want - len(found), fetched, len(found))
        finally:
            store.execute("CLOSE supportctl_search")
