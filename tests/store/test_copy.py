"""``store.copy`` knows every table of both engines' schemas: each is
copied (``COPIED``) or derived by the target (``DERIVED``). A table added
by a later migration and forgotten here fails this test, and a store that
holds rows in a table the copy does not know is refused, not half copied."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from supportctl.services.progress import NO_PROGRESS
from supportctl.store.copy import COPIED, DERIVED, _tables, copy_store
from supportctl.store.db import Store, StoreError


def test_every_table_is_copied_or_derived(any_store: Any) -> None:
    unknown = sorted(t for t in _tables(any_store) if t not in COPIED and not t.startswith(DERIVED))
    assert unknown == [], "add these to store.copy.COPIED (or DERIVED if the store rebuilds them)"
    assert set(COPIED) <= _tables(any_store)


def test_rows_in_a_table_the_copy_does_not_know_stop_it(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    Store(source).close()
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE later_feature (x TEXT)")
    conn.execute("INSERT INTO later_feature VALUES ('data')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="later_feature"):
        copy_store(source, tmp_path / "target.db", NO_PROGRESS)
    assert not (tmp_path / "target.db").exists()
