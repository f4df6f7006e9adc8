"""A real PostgreSQL server for the team-mode tests (``tests/pg``)."""

from tests.pg.fixtures import pg_empty_url, pg_server, pg_template, pg_url  # noqa: F401  (fixtures)
