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

from tests.pg.pooler import Pooler, pgbouncer_bin
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


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A database with the current schema, copied for each test (a copy
    costs a tenth of creating the schema again)."""
    import psycopg

    from supportctl.store.db import open_store

    url = pg_server.new_database()
    open_store(url).close()
    name = url.split("@/", 1)[1].split("?")[0]
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
    return name


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    """A new database's URL, with the current schema."""
    import psycopg

    pg_server.databases += 1
    name = f"t{os.getpid()}_{pg_server.databases}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    return pg_server.url(name)


@pytest.fixture
def pg_empty_url(pg_server: PostgresServer) -> str:
    """A new, empty database's URL (no schema yet)."""
    return pg_server.new_database()


@pytest.fixture(scope="session")
def pg_pooler(pg_server: PostgresServer) -> Iterator[Pooler]:
    """A PgBouncer in session mode in front of ``pg_server`` (``pooler.Pooler``)."""
    if pgbouncer_bin() is None:
        reason = "PgBouncer not installed (apt-get install pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with Pooler(pg_server.socket, pg_server.user) as pool:
        yield pool


@pytest.fixture
def pg_pooled_url(pg_pooler: Pooler, pg_url: str) -> str:
    """``pg_url``'s database, reached through PgBouncer."""
    return pg_pooler.url(pg_url.split("@/", 1)[1].split("?")[0])
