"""pytest fixtures for a real PostgreSQL server (``server.PostgresServer``):
one server per test session (per xdist worker), one new database per test.

Without Debian's server programs or the ``supportctl[postgres]`` extra the
tests that need them skip, saying which is missing; under CI (``CI=true``,
where ``.ci/run`` installs both) they fail instead, so a broken install
never passes for a green run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pg.server import PostgresServer, pg_bin


def missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    if pg_bin() is None:
        return "PostgreSQL server programs not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL extra is not installed (pip install -e '.[postgres]')"
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    reason = missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with PostgresServer() as pg:
        yield pg


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A new, empty database's URL."""
    return pg_server.new_database()
