"""Schema migrations (append-only; a released migration is never edited:
add the next ``mNNN_`` step).

Each step runs inside one transaction together with sqlite-utils' record of
it, and sets ``PRAGMA user_version`` to its number so the read path can
tell, without importing sqlite-utils, whether anything is pending.
"""

from __future__ import annotations

from typing import Any

#: The schema version a current store has. Raise it with every step added
#: (steps merged from parallel branches carry their own, lower numbers:
#: ``Store.migrate`` sets this value once every step has run).
LATEST = 30
#: Steps merged after a higher-numbered one: a store already at LATEST
#: lacks them, and ``user_version`` cannot tell. Opening a writable store
#: looks their names up in sqlite-utils' record and runs them when missing.
LATE_STEPS = ("m021_tag_triggers_split", "m020_report_volume")

_M001 = [
    """CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        merged_into INTEGER REFERENCES contacts(id),
        forgotten_at TEXT
    )""",
    # kind is the identity namespace (an E.164 number is one identity for
    # sms, whatsapp and phone: SPEC §3); channel is the medium first seen.
    """CREATE TABLE identities (
        id INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (kind, address)
    )""",
    "CREATE INDEX identities_contact ON identities(contact_id)",
    """CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL DEFAULT 'new',
        priority TEXT NOT NULL DEFAULT 'normal',
        subject TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        account TEXT,
        contact_id INTEGER REFERENCES contacts(id),
        assignee TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        first_response_at TEXT,
        solved_at TEXT,
        closed_at TEXT,
        first_response_due TEXT,
        resolution_due TEXT,
        snoozed_until TEXT,
        merged_into INTEGER REFERENCES tickets(id),
        linked_ticket INTEGER REFERENCES tickets(id),
        last_message_at TEXT,
        last_inbound_at TEXT,
        message_count INTEGER NOT NULL DEFAULT 0,
        conversation TEXT
    )""",
    "CREATE INDEX tickets_status_updated ON tickets(status, updated_at)",
    "CREATE INDEX tickets_updated ON tickets(updated_at)",
    "CREATE INDEX tickets_contact ON tickets(contact_id)",
    "CREATE INDEX tickets_assignee ON tickets(assignee)",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        direction TEXT NOT NULL,
        channel TEXT NOT NULL,
        account TEXT,
        external_id TEXT,
        from_name TEXT NOT NULL DEFAULT '',
        from_address TEXT NOT NULL DEFAULT '',
        to_json TEXT NOT NULL DEFAULT '[]',
        cc_json TEXT NOT NULL DEFAULT '[]',
        subject TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        html TEXT,
        sent_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        in_reply_to TEXT,
        refs TEXT,
        conversation TEXT,
        author TEXT,
        delivery_state TEXT,
        delivery_error TEXT,
        auto_reason TEXT,
        source_ref TEXT,
        meta TEXT
    )""",
    # One stored copy per channel message: mail CC'd to two support
    # addresses or seen in two folders has one Message-ID (SPEC §3).
    """CREATE UNIQUE INDEX messages_external ON messages(channel, external_id)
        WHERE external_id IS NOT NULL""",
    "CREATE INDEX messages_ticket ON messages(ticket_id, id)",
    "CREATE INDEX messages_in_reply_to ON messages(in_reply_to)",
    # The original payload lives apart so that list/search/export never
    # page through megabytes of raw mail.
    """CREATE TABLE originals (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        raw BLOB NOT NULL
    )""",
    """CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        content_id TEXT,
        inline INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX attachments_message ON attachments(message_id)",
    "CREATE INDEX attachments_sha ON attachments(sha256)",
    """CREATE TABLE tags (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (ticket_id, tag)
    ) WITHOUT ROWID""",
    "CREATE INDEX tags_tag ON tags(tag)",
    # Events keep no foreign key: the audit trail outlives a deleted ticket.
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER,
        contact_id INTEGER,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        at TEXT NOT NULL
    )""",
    "CREATE INDEX events_ticket ON events(ticket_id)",
    "CREATE INDEX events_contact_action ON events(contact_id, action)",
    """CREATE TABLE cursors (
        account TEXT NOT NULL,
        source TEXT NOT NULL,
        value TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (account, source)
    ) WITHOUT ROWID""",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        ticket_id INTEGER NOT NULL,
        channel TEXT NOT NULL,
        account TEXT,
        state TEXT NOT NULL,
        error TEXT,
        temporary INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX outbox_state ON outbox(state)",
    """CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        account TEXT,
        source_ref TEXT,
        reason TEXT NOT NULL,
        raw BLOB NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        received_at TEXT,
        created_at TEXT NOT NULL,
        retried_at TEXT,
        resolved_at TEXT
    )""",
    """CREATE TABLE spam_senders (
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (kind, address)
    ) WITHOUT ROWID""",
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        subject, text, content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
    """CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
    END""",
    """CREATE TRIGGER messages_fts_au AFTER UPDATE OF subject, text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
]


# Words of a message's sender and recipients, for ``from:`` and ``to:``
# searches: a LIKE '%x%' over every message cost 1.5 s on a million messages;
# this index answers in milliseconds. Contentless (the words live in
# messages); the triggers hand it the old words to delete.
_SENDER = "new.from_name || ' ' || new.from_address"
_RECIPIENTS = (
    "(SELECT group_concat(json_extract(value, '$.name') || ' ' || json_extract(value, '$.address'), ' ')"
    " FROM json_each(CASE WHEN json_valid({0}) THEN {0} ELSE '[]' END))"
)


def _addr_values(prefix: str, *, none_first: bool = False) -> str:
    """The sender's and recipients' words of a message row; ``none_first``:
    a list of no one (most of them) is known without reading it as JSON
    (the same words: json_each of '[]' has no rows, so NULL either way)."""
    sender = _SENDER.replace("new.", prefix)

    def recipients(column: str) -> str:
        words = _RECIPIENTS.format(column)
        return f"CASE WHEN {column} = '[]' THEN NULL ELSE {words} END" if none_first else words

    to, cc = recipients(f"{prefix}to_json"), recipients(f"{prefix}cc_json")
    return f"{sender}, COALESCE({to}, '') || ' ' || COALESCE({cc}, '')"


_M002 = [
    """CREATE VIRTUAL TABLE addresses_fts USING fts5(
        sender, recipients, content='', tokenize='unicode61 remove_diacritics 2'
    )""",
    f"""INSERT INTO addresses_fts(rowid, sender, recipients)
        SELECT id, {_addr_values("")} FROM messages""",
    f"""CREATE TRIGGER addresses_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO addresses_fts(rowid, sender, recipients) VALUES (new.id, {_addr_values("new.")});
    END""",
    f"""CREATE TRIGGER addresses_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO addresses_fts(addresses_fts, rowid, sender, recipients)
        VALUES ('delete', old.id, {_addr_values("old.")});
    END""",
    f"""CREATE TRIGGER addresses_fts_au AFTER UPDATE OF from_name, from_address, to_json, cc_json
        ON messages BEGIN
        INSERT INTO addresses_fts(addresses_fts, rowid, sender, recipients)
        VALUES ('delete', old.id, {_addr_values("old.")});
        INSERT INTO addresses_fts(rowid, sender, recipients) VALUES (new.id, {_addr_values("new.")});
    END""",
]


# When each channel entry first synced: an acknowledgement never answers
# mail that arrived before it (the backlog of a first sync, SPEC §4).
# Entries that synced before this step count from their first stored
# message, the closest record there is.
_M004 = [
    """CREATE TABLE channel_entries (
        account TEXT PRIMARY KEY,
        first_synced_at TEXT NOT NULL
    )""",
    """INSERT INTO channel_entries (account, first_synced_at)
        SELECT account, min(created_at) FROM messages
        WHERE account IS NOT NULL GROUP BY account""",
]


# ``report`` (SPEC §11) counts messages by the hour they were sent, over a
# period: without an index that is a scan of every message and its text
# (seconds on a million messages). This one covers the whole query: the UTC
# hour first, then which way and by which medium, so counting per hour (and
# channel) follows the index order with no sort; then who wrote it
# (automatic acknowledgements are left out), the exact time (the period's
# edges) and the ticket, for grouping by tag or assignee.
_M006 = [
    "CREATE INDEX messages_hour ON messages(substr(sent_at, 1, 13), direction, channel, author,"
    " sent_at, ticket_id)",
]


# A quarantined item keeps the medium it came on, so a retry reads it with
# that medium's parser (a Telegram update is not an email). Items held
# before this step were all email unless ingest's reason names the medium.
_M003 = [
    "ALTER TABLE quarantine ADD COLUMN medium TEXT NOT NULL DEFAULT 'email'",
    """UPDATE quarantine SET medium = substr(reason, 22, instr(reason, ')') - 22)
        WHERE reason LIKE 'could not be stored (%)%'
        AND substr(reason, 22, instr(reason, ')') - 22)
            IN ('sms', 'whatsapp', 'telegram', 'mastodon')""",
]


# SLA policies and notifications (SPEC §10). Due times depend on a ticket's
# priority, channel, account, tags, its contact's tags (a tag on any of the
# contact's tickets) and its time spent pending: the triggers mark a ticket
# stale whenever one of those changes, whoever changes it (a person, a rule,
# an import), and ``services.sla.refresh`` recomputes stale tickets. A
# trigger cannot compute business time itself; it can make sure nothing is
# forgotten.
_STALE = "UPDATE tickets SET sla_stale = 1 WHERE sla_stale = 0 AND "
_M008 = [
    "ALTER TABLE tickets ADD COLUMN sla_policy TEXT",
    # Set while pending: the resolution clock stopped then (breach checks
    # read it instead of now).
    "ALTER TABLE tickets ADD COLUMN sla_paused_at TEXT",
    "ALTER TABLE tickets ADD COLUMN sla_stale INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX tickets_sla_stale ON tickets(sla_stale) WHERE sla_stale = 1",
    # `list --sla breached|due-soon`, `--sort due` and the notifier filter
    # open tickets on their clocks: covered by this index they read no table
    # row (due-soon on 100 000 tickets: 50 ms -> 1 ms under load).
    "CREATE INDEX tickets_sla_open ON tickets(status, updated_at, first_response_due, "
    "first_response_at, resolution_due, solved_at, sla_paused_at, snoozed_until, merged_into)",
    f"""CREATE TRIGGER tickets_sla_facts AFTER UPDATE OF priority, channel, account ON tickets
        WHEN old.priority IS NOT new.priority OR old.channel IS NOT new.channel
          OR old.account IS NOT new.account
        BEGIN {_STALE} id = new.id; END""",
    f"""CREATE TRIGGER tickets_sla_pending AFTER UPDATE OF status ON tickets
        WHEN (old.status = 'pending') != (new.status = 'pending')
        BEGIN {_STALE} id = new.id; END""",
    f"""CREATE TRIGGER tags_sla_ai AFTER INSERT ON tags BEGIN
        {_STALE} (id = new.ticket_id OR (status != 'closed' AND contact_id =
            (SELECT contact_id FROM tickets WHERE id = new.ticket_id)));
    END""",
    f"""CREATE TRIGGER tags_sla_ad AFTER DELETE ON tags BEGIN
        {_STALE} (id = old.ticket_id OR (status != 'closed' AND contact_id =
            (SELECT contact_id FROM tickets WHERE id = old.ticket_id)));
    END""",
    # Small facts the service keeps between runs: the SLA fingerprint of the
    # config the due times were computed with, the notifier's position in
    # the event log.
    """CREATE TABLE service_state (
        key TEXT PRIMARY KEY,
        value TEXT,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    # One row per notification sent: (ticket, event, entry) notifies once.
    # ticket_id 0 stands for notifications about no ticket (digest, sync).
    """CREATE TABLE notifications (
        ticket_id INTEGER NOT NULL,
        event TEXT NOT NULL,
        entry TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (ticket_id, event, entry)
    ) WITHOUT ROWID""",
]


# Languages, CSAT and rule state (SPEC §10). A message's detected language
# and a contact's last confident one are columns (read with the row, no
# join); CSAT is its own table, one row per ticket asked, so that "ask once"
# is a primary key and the list query reads it only for the tickets shown.
# Round-robin assignment remembers the last agent per rule here rather than
# scanning the event log on every new ticket.
_M009 = [
    "ALTER TABLE messages ADD COLUMN language TEXT",
    "ALTER TABLE contacts ADD COLUMN language TEXT",
    "ALTER TABLE contacts ADD COLUMN opted_out_at TEXT",
    """CREATE TABLE csat (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,
        contact_id INTEGER,
        asked_at TEXT NOT NULL,
        outbox_id INTEGER,
        rating INTEGER,
        comment TEXT,
        answered_at TEXT,
        message_id INTEGER
    )""",
    "CREATE INDEX csat_contact ON csat(contact_id, answered_at)",
    """CREATE TABLE rule_state (
        rule TEXT PRIMARY KEY,
        last_assignee TEXT
    ) WITHOUT ROWID""",
]

_M017 = [
    "ALTER TABLE tickets ADD COLUMN claimed_by TEXT",
    "ALTER TABLE tickets ADD COLUMN claimed_until TEXT",
    """CREATE TABLE ticket_views (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        agent TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (ticket_id, agent)
    ) WITHOUT ROWID""",
]

# Tags are one key, lower-case (``Damaged`` and ``damaged`` are one tag),
# but people read them as first typed (``VIP``, ``DHL``): the first form
# typed for a key, shown by list, show and report; JSON keeps the key.
_M015 = [
    """CREATE TABLE tag_names (
        tag TEXT PRIMARY KEY,
        display TEXT NOT NULL
    ) WITHOUT ROWID""",
]


# ``report --by tag`` and ``--by assignee`` count each group's messages by
# hour of week: tags and assignees belong to tickets, so the count walks
# each group's tickets and reads their messages of the period. Without a
# covering index that is a lookup of a large message row per message, or a
# lookup of the ticket's tags per message from the hour index (2.7 s of CPU
# on a million messages); with this one it reads index entries only.
_M016 = [
    "CREATE INDEX messages_ticket_sent ON messages(ticket_id, sent_at, direction, author)",
    # A period's tickets (and their tags) by creation time, instead of a
    # scan of every ticket and every tag for the last 30 days.
    "CREATE INDEX tickets_created ON tickets(created_at)",
    # Reopens are status events and tickets linked to a closed one: read
    # those, not the whole event log and every ticket.
    "CREATE INDEX events_action_at ON events(action, at)",
    "CREATE INDEX tickets_linked ON tickets(linked_ticket) WHERE linked_ticket IS NOT NULL",
]


# Words of Chinese, Japanese, Thai (scripts written without spaces between
# words) and Korean (whose words carry particles): unicode61 reads a whole
# run of such text as one token, so "注文" found only a message whose run
# was exactly "注文". A trigram index beside the word index finds any
# substring of three characters or more; search sends terms in these
# scripts to it (store/search.py; shorter ones scan its messages).
# Only messages with at least one such character are indexed, so a store
# without them pays one GLOB per insert and no space. External content
# with a subset of rows: every trigger tests the same condition on the
# values it hands over, so the index never gets a 'delete' for a row it
# does not hold (and FTS5's 'rebuild' must never be run on it: it would
# index every message).
UNSPACED_RANGES = (
    "\u0e00-\u0eff"       # Thai, Lao
    "\u1000-\u109f"       # Myanmar
    "\u1100-\u11ff"       # Hangul Jamo
    "\u1780-\u17ff"       # Khmer
    "\u3000-\u9fff"       # CJK punctuation, kana, Hangul compatibility Jamo, CJK ideographs
    "\ua960-\ua97f"       # Hangul Jamo extended A
    "\uac00-\ud7ff"       # Hangul syllables, Jamo extended B
    "\uf900-\ufaff"       # CJK compatibility ideographs
    "\uff66-\uff9f"       # half-width katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
#: The SQL function ``has_unspaced`` registers: whether a subject or text
#: has a character in those ranges, as the triggers' test below answers
#: (store/messages.py: ``index_deferred``).
UNSPACED_FUNCTION = "supportctl_unspaced"
_unspaced_re: Any = None


def has_unspaced(subject: str | None, text: str | None) -> bool:
    """``_unspaced`` in Python: a character of ``UNSPACED_RANGES`` in either
    (before its first NUL, where SQLite's GLOB stops reading)."""
    global _unspaced_re
    if subject is None or text is None:
        return False  # as the SQL test: NULL there, so not indexed
    if _unspaced_re is None:
        import re

        _unspaced_re = re.compile("[" + UNSPACED_RANGES + "]")
    search = _unspaced_re.search
    return (search(subject.partition("\0")[0]) is not None
            or search(text.partition("\0")[0]) is not None)


# The first UTF-8 byte of every character in those ranges (a byte from E0
# up only ever starts a character).
_UNSPACED_LEAD_BYTES = ("E0", "E1", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "EA", "EB", "EC",
                        "ED", "EF", "F0")
_UNSPACED_GLOB = "'*[" + UNSPACED_RANGES + "]*'"


def _unspaced(prefix: str) -> str:
    """Whether a message has a character in those ranges, cheapest test
    first (measured on 20 000 Latin messages: the GLOB alone added 56 % to
    the SQL cost of an insert, these three 9 %): any non-ASCII character
    (a text's length in bytes is not its length in characters), then a
    lead byte of those ranges, then the GLOB, which is exact."""
    both = f"{prefix}subject || {prefix}text"
    blob = f"CAST({both} AS BLOB)"
    leads = " OR ".join(f"instr({blob}, X'{b}')" for b in _UNSPACED_LEAD_BYTES)
    return (f"(length({blob}) != length({both}) AND ({leads})"
            f" AND ({prefix}subject GLOB {_UNSPACED_GLOB} OR {prefix}text GLOB {_UNSPACED_GLOB}))")


def _cjk_triggers(also: Any, *, gate: Any = None) -> list[str]:
    """messages_cjk's four triggers; ``also(row)`` adds to each WHEN
    (m028: " AND" the batch's deferral), and ``gate(row)`` goes before
    the test, so a row it rules out costs no scan (m030)."""
    def when(row: str) -> str:
        return (f"{gate(row)} AND " if gate else "") + _unspaced(row) + also(row)

    return [
        f"""CREATE TRIGGER messages_cjk_ai AFTER INSERT ON messages
        WHEN {when("new.")} BEGIN
        INSERT INTO messages_cjk(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
        f"""CREATE TRIGGER messages_cjk_ad AFTER DELETE ON messages
        WHEN {when("old.")} BEGIN
        INSERT INTO messages_cjk(messages_cjk, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
    END""",
        f"""CREATE TRIGGER messages_cjk_aud AFTER UPDATE OF subject, text ON messages
        WHEN {when("old.")} BEGIN
        INSERT INTO messages_cjk(messages_cjk, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
    END""",
        f"""CREATE TRIGGER messages_cjk_aui AFTER UPDATE OF subject, text ON messages
        WHEN {when("new.")} BEGIN
        INSERT INTO messages_cjk(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
    ]


_M011 = [
    """CREATE VIRTUAL TABLE messages_cjk USING fts5(
        subject, text, content='messages', content_rowid='id', tokenize='trigram'
    )""",
    f"""INSERT INTO messages_cjk(rowid, subject, text)
        SELECT id, subject, text FROM messages WHERE {_unspaced("")}""",
    *_cjk_triggers(lambda row: ""),
    # ``report`` leaves automatic inbound messages (out-of-office answers,
    # delivery reports filed on a customer's ticket) out of customer volume:
    # this partial index lists them, so the hour-of-week count stays on the
    # messages_hour index instead of reading every message row.
    """CREATE INDEX messages_automatic ON messages(id)
        WHERE direction = 'in' AND (auto_reason IS NOT NULL OR delivery_state IS NOT NULL)""",
]


# Semantic suggestions (the optional ``supportctl[semantic]`` extra): one
# vector per solved ticket (its question and our answer) and per
# knowledge-base article, written by ``sync``, ``suggest`` or ``db embed``.
# ``model`` names the model that made the vector (another model's vectors
# are recomputed, never compared); ``digest`` is of the text embedded, so a
# ticket answered again or an edited article is embedded again and an
# unchanged one is not; ``seen_at`` is the ticket's ``updated_at`` when it
# was last checked (the cheap test for "maybe changed"). Vectors are 8-bit
# (``vector`` bytes, ``scale`` to undo it): 512 bytes a ticket. A deleted
# ticket takes its vector along; a reopened or merged one keeps it, and the
# read checks tickets for status, as suggest's full-text side does.
# ticket_vector_blocks holds the same vectors packed, 16 384 to a row, for
# the query: reading 100 000 rows of 512 bytes costs SQLite and Python
# about 0.5 s of CPU, a few rows of megabytes a few milliseconds. It is
# rebuilt whenever vectors were written; a ticket deleted or reopened since
# is left out when the nearest are checked against the tickets table.
_M023 = [
    """CREATE TABLE ticket_vectors (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        digest TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        language TEXT,
        scale REAL NOT NULL,
        vector BLOB NOT NULL
    )""",
    """CREATE TABLE ticket_vector_blocks (
        model TEXT NOT NULL,
        block INTEGER NOT NULL,
        ids BLOB NOT NULL,
        scales BLOB NOT NULL,
        vectors BLOB NOT NULL,
        PRIMARY KEY (model, block)
    )""",
    """CREATE TABLE article_vectors (
        slug TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        digest TEXT NOT NULL,
        scale REAL NOT NULL,
        vector BLOB NOT NULL
    )""",
]


# ``report`` counts messages by the hour they were sent (SPEC §11: hour of
# week, the daily line), overall, by channel, by tag and by assignee. On a
# million messages that was a walk of a million index entries (by tag, of
# a million and a half (message, tag) pairs), 1-2 s. ``report_volume``
# holds the counts per UTC day and hour, so a report reads one row per
# day (a few tens of thousands for two years, by tag) for the whole days
# of its period, the hours of its first and last day from the same rows,
# and the messages only for the two partial hours at its edges. Counted is
# exactly what report counts (store/report.py): customer messages and our
# answers, not automatic acknowledgements or rule replies, not automatic
# inbound mail, not the messages of noise tickets (tagged spam, auto or
# bounce).
#
# One row per (kind, UTC day, direction, key), with one column per UTC
# hour (h00 … h23): kind ``channel`` (key: the message's medium), ``tag``
# (each of its ticket's tags; the integer 0 for an untagged ticket) and
# ``assignee`` (0 for none). The key column has no type, so 0 stays an
# integer and never equals a name, not even "0". Rows whose counts fall
# to 0 stay (a report adds them up).
#
# Kept lazily, not row by row: triggers that added every message's counts
# as it was written cost an import 32-46 % more CPU and a sync 17-27 %.
# Instead ``report_volume_state.high`` is the highest message id counted
# in: whatever is above it is new, and ``report`` first counts it in with
# one GROUP BY per kind (store/report.py ``catch_up_volume``; m020 itself
# counts nothing, so the first report on an existing store counts every
# message once). ``report_volume_dirty`` lists the UTC days whose rows may
# be wrong because something changed under a message already counted (id
# at or below ``high``): its ticket's tags or assignee, the message moved
# by a merge, its facts edited, deleted, or one inserted with an old id (an
# import restores ids). The catch-up counts those days afresh. The
# triggers below only mark days, and only for counted messages: what a
# sync or an import writes is above ``high``, so for it they look once
# and find nothing to mark.
REPORT_HOURS = [f"h{i:02d}" for i in range(24)]

_HIGH = "(SELECT high FROM report_volume_state)"


def _mark_ticket(t: str) -> str:
    """Mark the days of ticket ``t``'s counted messages."""
    return ("INSERT OR IGNORE INTO report_volume_dirty (day) SELECT substr(sent_at, 1, 10)"
            f" FROM messages WHERE ticket_id = {t} AND id <= {_HIGH};")


def _mark_day(m: str) -> str:
    return f"INSERT OR IGNORE INTO report_volume_dirty (day) VALUES (substr({m}sent_at, 1, 10));"


def _report_volume_mu(also: str) -> str:
    """The trigger that marks a message's days when what the rollup counts
    of it changes; ``also``: more changes that count (m029)."""
    return f"""CREATE TRIGGER report_volume_mu AFTER UPDATE OF ticket_id, sent_at, direction, channel,
        author, auto_reason, delivery_state ON messages
        WHEN (old.ticket_id IS NOT new.ticket_id OR old.sent_at IS NOT new.sent_at
          OR old.direction IS NOT new.direction OR old.channel IS NOT new.channel
          OR old.author IS NOT new.author
          OR ((old.auto_reason IS NOT new.auto_reason
               OR old.delivery_state IS NOT new.delivery_state)
              AND 'in' IN (old.direction, new.direction)){also})
          AND old.id <= {_HIGH}
        BEGIN {_mark_day("old.")} {_mark_day("new.")} END"""


_M020 = [
    "CREATE TABLE report_volume (kind TEXT NOT NULL, day TEXT NOT NULL, direction TEXT NOT NULL,"
    " key NOT NULL, " + ", ".join(f"{h} INTEGER NOT NULL DEFAULT 0" for h in REPORT_HOURS)
    + ", PRIMARY KEY (kind, day, direction, key)) WITHOUT ROWID",
    "CREATE TABLE report_volume_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " high INTEGER NOT NULL)",
    "INSERT INTO report_volume_state (id, high) VALUES (1, 0)",
    "CREATE TABLE report_volume_dirty (day TEXT PRIMARY KEY) WITHOUT ROWID",
    f"""CREATE TRIGGER report_volume_mi AFTER INSERT ON messages WHEN new.id <= {_HIGH}
        BEGIN {_mark_day("new.")} END""",
    f"""CREATE TRIGGER report_volume_md AFTER DELETE ON messages WHEN old.id <= {_HIGH}
        BEGIN {_mark_day("old.")} END""",
    # A merge moves messages to another ticket; outbox and ingest set
    # delivery states, which matter only on inbound messages (a delivery
    # report filed on a customer's ticket is not the customer writing).
    _report_volume_mu(""),
    f"""CREATE TRIGGER report_volume_ta AFTER UPDATE OF assignee ON tickets
        WHEN old.assignee IS NOT new.assignee BEGIN {_mark_ticket("new.id")} END""",
    # Any tag: its own rows, "untagged", or (spam, auto, bounce) the whole
    # ticket's. A deleted ticket's messages go by cascade (marked above).
    f"""CREATE TRIGGER report_volume_gi AFTER INSERT ON tags
        BEGIN {_mark_ticket("new.ticket_id")} END""",
    f"""CREATE TRIGGER report_volume_gd AFTER DELETE ON tags
        BEGIN {_mark_ticket("old.ticket_id")} END""",
]


def _run(db: Any, statements: list[str], version: int) -> None:
    for sql in statements:
        db.execute(sql)
    db.execute(f"PRAGMA user_version = {version}")


def _step(db: Any, statements: list[str], version: int) -> None:
    """``_run`` for a step that may run after a higher-numbered one (steps
    run in the order they were merged, not by number): ``user_version``
    becomes ``version`` or stays where it is, never lower, so the read path
    never thinks the store is behind."""
    _run(db, statements, max(version, db.execute("PRAGMA user_version").fetchone()[0]))


#: A tag added or removed marks the ticket, and the contact's other tickets
#: that are not closed, for an SLA recompute (a policy may match on tags).
#: m008 wrote it as one UPDATE with ``id = … OR contact_id = (…)``, which
#: SQLite answers with a multi-index OR (both searches, then a temporary
#: row set to drop duplicates): about 41 000 instructions per tag row a rule
#: writes. Two statements, each on its own index (the primary key,
#: ``tickets_contact``), mark the same rows for about 23 000.
_M021 = [
    "DROP TRIGGER IF EXISTS tags_sla_ai",
    "DROP TRIGGER IF EXISTS tags_sla_ad",
    *(f"""CREATE TRIGGER tags_sla_{name} AFTER {event} ON tags BEGIN
        {_STALE} id = {row}.ticket_id;
        {_STALE} status != 'closed' AND contact_id =
            (SELECT contact_id FROM tickets WHERE id = {row}.ticket_id);
    END""" for name, event, row in (("ai", "INSERT", "new"), ("ad", "DELETE", "old"))),
]


# ``report``'s reopen rate reads the status changes from solved or closed
# back to an open status. Read through events_action_at, that was every
# status event of the period with two json_extract calls each (190 000 on
# the generated store: a tenth of a second, on every report). A partial
# index lists only those changes; store/report.py ``reopened_tickets``
# repeats its WHERE word for word (so SQLite may use it) and names it.
REOPEN_EVENT = ("action = 'status' AND json_extract(detail, '$.old') IN ('solved', 'closed')"
                " AND json_extract(detail, '$.new') IN ('new', 'open', 'pending')")
_M025 = [f"CREATE INDEX events_reopen ON events (at) WHERE {REOPEN_EVENT}"]

_M026 = [
    "DROP INDEX IF EXISTS events_action_at",
    "DROP INDEX IF EXISTS events_contact_action",
    "CREATE INDEX events_contact_action ON events(contact_id, action) WHERE contact_id IS NOT NULL",
]

# ``report``'s trending phrases: the phrases of each subject, as reports
# found them (services/phrases.py). Working them out again on every report
# was a third of a whole-store report's time (40 000 distinct subjects).
# A cache, not facts: a pure function of the subject and the phrase rules'
# ``version``, so no trigger keeps it and ingest pays nothing; the report
# reads the subjects it needs and adds the ones it had to work out.
_M027 = ["CREATE TABLE subject_phrases (subject TEXT PRIMARY KEY, phrases TEXT NOT NULL,"
         " version INTEGER NOT NULL) WITHOUT ROWID"]


# A batch of ingest fills the three full-text indexes once, at its end,
# instead of a trigger per message: FTS5 writes its pending terms out as a
# new segment at every statement and savepoint that touches it, and merges
# those segments again and again as they pile up (a 20 000-mail first sync
# spent 7.6 s of its writer's 32 s in the message INSERT, most of it
# there). While a row of ``fts_deferred`` says so, the triggers leave the
# messages from ``since`` on alone (inserted, changed or deleted: none of
# them is indexed yet); ``FILL_DEFERRED`` indexes them as they stand, in
# the same transaction (store/messages.py: ``defer_full_text``).
def _not_deferred(row: str) -> str:
    return f"NOT EXISTS (SELECT 1 FROM fts_deferred WHERE since <= {row}id)"


_M028 = [
    "CREATE TABLE fts_deferred (since INTEGER NOT NULL)",
    *(f"DROP TRIGGER IF EXISTS {name}" for name in (
        "messages_fts_ai", "messages_fts_ad", "messages_fts_au", "addresses_fts_ai",
        "addresses_fts_ad", "addresses_fts_au", "messages_cjk_ai", "messages_cjk_ad",
        "messages_cjk_aud", "messages_cjk_aui")),
    f"""CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN {_not_deferred("new.")} BEGIN
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
    f"""CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN {_not_deferred("old.")} BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
    END""",
    f"""CREATE TRIGGER messages_fts_au AFTER UPDATE OF subject, text ON messages
        WHEN {_not_deferred("old.")} BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END""",
    f"""CREATE TRIGGER addresses_fts_ai AFTER INSERT ON messages WHEN {_not_deferred("new.")} BEGIN
        INSERT INTO addresses_fts(rowid, sender, recipients) VALUES (new.id, {_addr_values("new.")});
    END""",
    f"""CREATE TRIGGER addresses_fts_ad AFTER DELETE ON messages WHEN {_not_deferred("old.")} BEGIN
        INSERT INTO addresses_fts(addresses_fts, rowid, sender, recipients)
        VALUES ('delete', old.id, {_addr_values("old.")});
    END""",
    f"""CREATE TRIGGER addresses_fts_au AFTER UPDATE OF from_name, from_address, to_json, cc_json
        ON messages WHEN {_not_deferred("old.")} BEGIN
        INSERT INTO addresses_fts(addresses_fts, rowid, sender, recipients)
        VALUES ('delete', old.id, {_addr_values("old.")});
        INSERT INTO addresses_fts(rowid, sender, recipients) VALUES (new.id, {_addr_values("new.")});
    END""",
    *_cjk_triggers(lambda row: f" AND {_not_deferred(row)}"),
]
#: What the deferred triggers would have written, for the messages from
#: ``since`` (the one parameter) on, as they stand now; then messages_cjk
#: by ``FILL_UNSPACED`` or, when the writer told which, ``FILL_UNSPACED_TOLD``.
FILL_DEFERRED = [
    "INSERT INTO messages_fts(rowid, subject, text) SELECT id, subject, text FROM messages"
    " WHERE id >= ?",
    "INSERT INTO addresses_fts(rowid, sender, recipients) SELECT id, "
    f"{_addr_values('', none_first=True)}"
    " FROM messages WHERE id >= ?",
]
FILL_UNSPACED = (
    "INSERT INTO messages_cjk(rowid, subject, text) SELECT id, subject, text FROM messages"
    " WHERE id >= ? AND length(CAST(subject || text AS BLOB)) != length(subject || text)"
    f" AND {UNSPACED_FUNCTION}(subject, text)")
#: The messages from ``since`` on that ``has_unspaced`` (ids in ``(?)``).
FILL_UNSPACED_TOLD = ("INSERT INTO messages_cjk(rowid, subject, text) SELECT id, subject, text"
                      " FROM messages WHERE id >= ? AND id IN (?)")


# m028's triggers on messages_cjk tested a message for those scripts
# before they asked whether its batch was deferred: fifteen scans of a
# text with any accent in it (about 9 µs a message, a sixth of a JSONL
# import's writing), for a row the trigger then left to the batch's fill.
# The deferral is now asked first; the fill's own test is
# ``UNSPACED_FUNCTION`` (one regular expression, about half as dear), and
# an import's reading process tells the fill which messages instead.
_M030 = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in (
        "messages_cjk_ai", "messages_cjk_ad", "messages_cjk_aud", "messages_cjk_aui")),
    *_cjk_triggers(lambda row: "", gate=_not_deferred),
]


# ``report``'s "we answered" counted replies that never reached the
# customer (a send that failed for good, a cancelled one: delivery state
# ``failed``). They are left out now (store/report.py: ``UNDELIVERED``),
# listed by a partial index, and a reply whose failure is settled (or
# undone by a retry that worked) marks its day for the rollup to count
# again, as a change of an inbound message's delivery state always did.
#: Replies that never went out, as a condition on a message row.
UNDELIVERED = "direction = 'out' AND delivery_state = 'failed'"
_M029 = [
    f"CREATE INDEX messages_undelivered ON messages(id) WHERE {UNDELIVERED}",
    "DROP TRIGGER IF EXISTS report_volume_mu",
    _report_volume_mu("""
          OR ('out' IN (old.direction, new.direction)
              AND (old.delivery_state IS 'failed') != (new.delivery_state IS 'failed'))"""),
    # the days already counted with such replies in them
    "INSERT OR IGNORE INTO report_volume_dirty (day) SELECT DISTINCT substr(sent_at, 1, 10)"
    f" FROM messages WHERE {UNDELIVERED} AND id <= {_HIGH}",
]


def sqlite_utils() -> Any:
    """The sqlite-utils package, imported without numpy and pandas: it
    loads them (0.09 s, on every store created or migrated, before a
    first sync can start) only to map their number types to column types,
    and the store never hands it any. Both stay importable afterwards."""
    import sys

    if "sqlite_utils" not in sys.modules:
        masked = [name for name in ("numpy", "pandas") if name not in sys.modules]
        for name in masked:
            sys.modules[name] = None  # type: ignore[assignment]  # import fails at once
        try:
            import sqlite_utils  # noqa: F401
        finally:
            for name in masked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    return sys.modules["sqlite_utils"]


def migrations() -> Any:
    """The sqlite-utils ``Migrations`` set (imported only when needed)."""
    m = sqlite_utils().Migrations("supportctl")

    @m()
    def m001_initial(db: Any) -> None:
        """Contacts with identities, tickets, messages with their original
        payload, content-addressed attachments, tags, the event log, channel
        cursors, outbox, quarantine and full-text search kept by triggers."""
        _run(db, _M001, 1)

    @m()
    def m002_address_index(db: Any) -> None:
        """Full-text index of senders and recipients for ``from:``/``to:``."""
        _run(db, _M002, 2)

    @m()
    def m004_first_sync(db: Any) -> None:
        """When each channel entry first synced (no acknowledgement to the
        backlog a first sync brings in)."""
        _run(db, _M004, 4)

    @m()
    def m006_report_index(db: Any) -> None:
        """Messages by time sent, for ``report``'s volume by hour of week."""
        _step(db, _M006, 6)

    @m()
    def m003_quarantine_medium(db: Any) -> None:
        """Quarantine remembers each item's medium for its retry."""
        _step(db, _M003, 3)

    @m()
    def m008_sla_notify(db: Any) -> None:
        """SLA policy and pause per ticket, stale marks kept by triggers,
        service state and sent notifications."""
        _step(db, _M008, 8)

    @m()
    def m009_languages_csat(db: Any) -> None:
        """Detected languages, CSAT answers, opt-outs, round-robin state."""
        _step(db, _M009, 9)

    @m()
    def m017_claims(db: Any) -> None:
        """Claims with a lease, and when each agent last opened a ticket
        (SPEC §13: claim, next, and reply's check for others' work)."""
        _step(db, _M017, 17)

    @m()
    def m016_report_ticket_index(db: Any) -> None:
        """Messages by ticket and time sent, for ``report --by tag|assignee``."""
        _step(db, _M016, 16)

    @m()
    def m011_unspaced_index(db: Any) -> None:
        """Trigram index of messages in Chinese, Japanese, Korean, Thai;
        automatic inbound messages listed for ``report``."""
        _step(db, _M011, 11)

    @m()
    def m015_tag_names(db: Any) -> None:
        """Each tag's display form, as first typed."""
        _step(db, _M015, 15)

    @m()
    def m023_vectors(db: Any) -> None:
        """Embeddings of solved tickets and articles for semantic suggestions."""
        _step(db, _M023, 23)

    @m()
    def m021_tag_triggers_split(db: Any) -> None:
        """The tag triggers' SLA mark in two index-driven statements."""
        _step(db, _M021, 21)

    @m()
    def m020_report_volume(db: Any) -> None:
        """Messages counted per UTC day and hour by channel, tag and assignee,
        for ``report``, which counts in what is new or changed (the first
        report: every message)."""
        # Appended after m023 and m021 (merged first): LATE_STEPS makes a
        # store at 23 run it.
        _step(db, _M020, 20)

    @m()
    def m025_reopen_index(db: Any) -> None:
        """The status changes that reopen a ticket, indexed for ``report``."""
        _step(db, _M025, 25)

    @m()
    def m026_event_indexes(db: Any) -> None:
        """Events indexed only where something reads them."""
        _step(db, _M026, 26)

    @m()
    def m027_subject_phrases(db: Any) -> None:
        """Each subject's phrases as ``report`` found them (a cache)."""
        _step(db, _M027, 27)

    @m()
    def m028_deferred_full_text(db: Any) -> None:
        """Ingest fills the full-text indexes once per batch."""
        _step(db, _M028, 28)

    @m()
    def m029_undelivered_replies(db: Any) -> None:
        """Replies that never went out are not "we answered"."""
        _step(db, _M029, 29)

    @m()
    def m030_unspaced_gate(db: Any) -> None:
        """The trigram index's triggers ask about a deferred batch first."""
        _step(db, _M030, 30)

    return m
