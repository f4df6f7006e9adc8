"""A real PostgreSQL server for the team-mode tests (``tests/pg``)."""

from tests.pg.fixtures import (  # noqa: F401  (fixtures)
    pg_empty_url,
    pg_pooled_url,
    pg_pooler,
    pg_server,
    pg_template,
    pg_url,
)
