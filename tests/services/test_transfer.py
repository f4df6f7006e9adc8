"""Import never fails with anything but a ``UsageError`` naming the line,
whatever JSON a field holds, and on that error the store is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportctl.errors import UsageError
from supportctl.services.transfer import import_jsonl
from supportctl.store.db import Store
from tests.cli.test_import_jsonl import ticket

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
PATHS = [("id",), ("status",), ("priority",), ("channel",), ("tags",), ("assignee",), ("created_at",),
         ("sla",), ("merged_into",), ("contact",), ("contact", "id"), ("contact", "identities"),
         ("messages",), ("messages", 0, "id"), ("messages", 0, "sent_at"), ("messages", 0, "from"),
         ("messages", 0, "attachments"), ("messages", 0, "delivery"), ("messages", 0, "raw"),
         ("events",), ("message_count",)]


def dump(store: Store) -> list[Any]:
    return [list(r) for t in ("tickets", "messages", "contacts", "tags", "events", "attachments")
            for r in store.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_value_in_any_field_is_imported_or_refused_by_line(tmp_path: Path, path: tuple[Any, ...],
                                                               value: Any) -> None:
    store = Store(tmp_path / "s.db")
    try:
        store.execute("DELETE FROM tickets")
        store.execute("DELETE FROM contacts")
        import_jsonl(store, [json.dumps(ticket(100))])
        before = dump(store)
        bad = ticket(2)
        obj: Any = bad
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
        try:
            import_jsonl(store, [json.dumps(ticket(1)), json.dumps(bad)])
        except UsageError as exc:
            assert str(exc).startswith("line 2")
            assert dump(store) == before
    finally:
        store.close()
