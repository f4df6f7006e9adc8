"""The real PostgreSQL server's fixtures, for the services' tests on it."""

from tests.pg.fixtures import pg_server, pg_template, pg_url  # noqa: F401  (fixtures)
