"""The store: every SQL statement of supportctl lives in this package.

Services and the CLI call functions here named for what they do, one
module per topic: ``tickets``, ``messages``, ``contacts``, ``outbox``,
``quarantine``, ``claims``, ``sends`` (first syncs, acknowledgements),
``sla``, ``notify``, ``workflows``, ``answers``, ``search``, ``read`` (the
JSON of list/show/export), ``report``, ``transfer`` (import), ``upkeep``;
``db.Store`` owns the connection, transactions (``Store.tx()``), cursors,
events and attachment files. Nothing outside this package writes SQL,
imports a database driver or touches ``Store.conn``
(``tests/store/test_seam.py``), so a second engine is a second store.
Engine errors reach callers under the store's names (``db.IntegrityError``,
``db.FAILURES``). Rows come back as plain dicts or tuples; a few older
functions (``notify``, ``sla``, ``workflows``, typed ``Any``) still hand out
the engine's rows (``sqlite3.Row``)."""
