"""The few pieces of SQL that differ between the engines (issue 13).

Store modules write one statement for both engines (``ON CONFLICT``,
``RETURNING``, ``IS DISTINCT FROM`` and ``?``/``:name`` parameters work on
both: the PostgreSQL connection translates the parameter marks) and ask
``store.sql`` for the fragments that cannot be shared: JSON fields,
string aggregation, a scalar maximum, an open-ended ``LIMIT``, row
locks and a case-blind ``LIKE``. ``Store.sql`` is ``SQLITE``; ``PgStore.sql`` is ``POSTGRES``."""

from __future__ import annotations

from typing import Any


class Dialect:
    name = "sqlite"
    #: ``LIMIT`` with no bound (for an ``OFFSET`` alone).
    no_limit = "-1"
    #: What ``next`` appends to its ``SELECT … LIMIT 1``: SQLite's
    #: ``BEGIN IMMEDIATE`` already serialises writers.
    skip_locked = ""
    #: What a read that a write in the same transaction depends on appends.
    for_update = ""
    #: What a read appends to wait for a ``for_update`` holder of the row
    #: without keeping others who only read it from it.
    key_share = ""
    #: Whether a write transaction shuts every other writer out until it
    #: ends (SQLite's ``BEGIN IMMEDIATE``), so what it read at its start
    #: still holds at its end. PostgreSQL's writers run side by side.
    one_writer = True

    def json_text(self, column: str, key: str) -> str:
        """A top-level JSON field of a TEXT column, as text."""
        return f"json_extract({column}, '$.{key}')"

    def json_true(self, column: str, key: str) -> str:
        """A top-level JSON field is ``true``."""
        return f"json_extract({column}, '$.{key}') = 1"

    def json_bool(self, column: str, key: str) -> str:
        """A top-level JSON boolean field as 1, 0 or NULL (absent)."""
        return f"json_extract({column}, '$.{key}')"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def group_concat(self, expr: str, sep: str) -> str:
        """``sep`` is SQL (a literal or an expression)."""
        return f"group_concat({expr}, {sep})"

    def char(self, code: int) -> str:
        return f"char({int(code)})"

    def like_ci(self, column: str) -> str:
        """``column`` matches one ``?`` LIKE pattern, ASCII letters in any
        case, with no escape character (SQLite's LIKE)."""
        return f"{column} LIKE ?"

    def one_of(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        """``column`` equals one of ``values`` (not empty): the condition
        and its parameters."""
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


class Postgres(Dialect):
    name = "postgresql"
    no_limit = "ALL"
    skip_locked = " FOR UPDATE OF t SKIP LOCKED"
    for_update = " FOR UPDATE"
    key_share = " FOR KEY SHARE"
    one_writer = False

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def json_true(self, column: str, key: str) -> str:
        return f"COALESCE((({column})::jsonb -> '{key}') IN ('true', '1'), false)"

    def json_bool(self, column: str, key: str) -> str:
        field = f"(({column})::jsonb -> '{key}')"
        return (f"(CASE WHEN {field} IS NULL OR {field} = 'null' THEN NULL"
                f" WHEN {field} IN ('true', '1') THEN 1 ELSE 0 END)")

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})"

    def group_concat(self, expr: str, sep: str) -> str:
        return f"string_agg(({expr})::text, {sep})"

    def char(self, code: int) -> str:
        return f"chr({int(code)})"

    def like_ci(self, column: str) -> str:
        # PostgreSQL's LIKE minds case and reads a backslash as an escape;
        # ILIKE on the schema's COLLATE "C" columns folds ASCII letters only.
        return f"{column} ILIKE ? ESCAPE ''"

    def one_of(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]


SQLITE = Dialect()
POSTGRES = Postgres()
