"""The storage seam (issue 13): SQL lives in ``supportctl/store/`` only.

Services, the CLI, channels and the rest speak to functions in
``supportctl.store`` named for what they do; they neither write SQL nor
import ``sqlite3`` (nor reach for the store's raw connection), so a second
engine (PostgreSQL) needs a second ``store`` and nothing else. Checked by
walking each module's ``ast``: every string literal (f-string parts
included) that reads as an SQL statement, every ``import sqlite3``, every
``.execute``/``.executemany``/``.one``/``.scalar`` call, every
``.insert("table", …)``/``.update("table", …)`` and every ``.conn``
attribute outside the store is reported with its line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "supportctl"

#: Modules whose SQL has not yet moved behind the store. Pending, not
#: exempt: shrink this list, never grow it.
PENDING: set[str] = set()

#: Statement shapes: a keyword that begins one, followed by what must come
#: with it, so prose ("Select a channel", "update the ticket") does not
#: match. Keywords are upper case, as all SQL of this code base is written.
SQL = re.compile(
    r"""^\s*(
        SELECT\s.+?\sFROM\s
      | SELECT\s+(count|1|max|min|sum|coalesce|json_)\b
      | INSERT\s+(OR\s+\w+\s+)?INTO\s
      | UPDATE\s+\w+\s+SET\s
      | DELETE\s+FROM\s
      | REPLACE\s+INTO\s
      | WITH\s+\w+\s+AS\s*\(
      | (CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|TRIGGER)\b
      | PRAGMA\s
      | VACUUM\b
      | BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?\s*$
      | (COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b\s*\w*\s*$
    )""",
    re.VERBOSE | re.DOTALL,
)

#: Database drivers: only the store talks to one.
ENGINES = {"sqlite3", "sqlite_utils", "psycopg", "psycopg2"}

#: Calls that hand SQL text to the engine.
RAW_CALLS = {"execute", "executemany", "executescript", "one", "scalar"}
#: The store's generic row helpers, called with a table name: schema
#: knowledge that belongs behind a named store function.
TABLE_CALLS = {"insert", "update"}


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            # An f-string: its literal parts joined, placeholders as "x".
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values
                           if isinstance(v, ast.Constant | ast.FormattedValue))
            out.append((node.lineno, str(text)))
    return out


def problems_in(path: Path) -> list[str]:
    return problems_in_source(path.relative_to(PKG).as_posix(), path.read_text(encoding="utf-8"))


def problems_in_source(rel: str, source: str) -> list[str]:
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ENGINES:
                    found.append(f"{rel}:{node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ENGINES:
                found.append(f"{rel}:{node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in RAW_CALLS and node.args:
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and not isinstance(first.value, str)):
                    found.append(f"{rel}:{node.lineno}: .{node.func.attr}(...) passes SQL")
            if node.func.attr in TABLE_CALLS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append(f"{rel}:{node.lineno}: .{node.func.attr}({first.value!r}, ...) "
                                 "names a table")
        elif isinstance(node, ast.Attribute) and node.attr == "conn":
            found.append(f"{rel}:{node.lineno}: reaches the raw connection (.conn)")
    for line, text in _strings(tree):
        if SQL.match(text):
            found.append(f"{rel}:{line}: SQL statement {text.strip()[:60]!r}")
    return sorted(set(found))


def _outside_store() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.relative_to(PKG).parts[0] != "store")


def test_no_sql_outside_the_store() -> None:
    problems = [
        p for path in _outside_store() if path.relative_to(PKG).as_posix() not in PENDING
        for p in problems_in(path)
    ]
    assert problems == [], "move these behind a function in supportctl/store/:\n" + "\n".join(problems)


def test_pending_list_is_current() -> None:
    """A pending module that is gone leaves the list."""
    for rel in sorted(PENDING):
        assert (PKG / rel).exists(), f"{rel} is gone: drop it from PENDING"


def test_the_check_sees_sql() -> None:
    """The detector itself: statements in every shape are found, prose is not."""
    source = (
        "import sqlite3\n"
        "a = store.execute(QUERY)\n"
        "b = 'SELECT id FROM tickets WHERE x'\n"
        "c = f'DELETE FROM tags WHERE id IN ({marks})'\n"
        "d = store.conn\n"
        "e = 'INSERT OR IGNORE INTO tags VALUES (1)'\n"
        "f = 'Select a channel from the list'\n"
        "g = 'update the ticket: set its status'\n"
        "h = 'SELECT count(*) FROM x'\n"
        "i = store.update('tickets', 1, {})\n"
        "j = seen.update({'a': 1})\n"
        "k = names.insert(0, 'x')\n"
        "import sqlite_utils.db\n"
    )
    found = problems_in_source("sample.py", source)
    lines = sorted({int(p.split(":")[1]) for p in found})
    assert lines == [1, 2, 3, 4, 5, 6, 9, 10, 13], found
