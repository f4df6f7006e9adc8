"""``any_store``: the store-level suite runs once per engine (issue 13):
a SQLite file, and a new database on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg.fixtures import pg_empty_url, pg_server, pg_template, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new store opens: a path, or a ``postgresql://`` URL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "store.db")


@pytest.fixture
def any_store(store_location: str) -> Iterator[Any]:
    from supportctl.store.db import open_store

    store = open_store(store_location)
    yield store
    store.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_location" in metafunc.fixturenames:
        metafunc.parametrize("store_location", ENGINES, indirect=True)


@pytest.fixture(autouse=True)
def _memory_servers_as_found() -> Iterator[None]:
    """The shipped memory channel's servers live in the process: what a
    test here puts on one must not reach a later test's sync."""
    from supportctl.channels.memory import SERVERS

    before = dict(SERVERS)
    yield
    SERVERS.clear()
    SERVERS.update(before)
