"""``supportctl serve`` writing into a PostgreSQL store (SPEC §12, §13):
the form and the webhooks' tests of ``test_form`` and ``test_hooks`` run
again with ``--db`` a ``postgresql://`` URL on a real server (their
SQLite runs are those modules' own)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Result, run_cli
from tests.pg.fixtures import pg_server, pg_template, pg_url  # noqa: F401  (fixtures)
from tests.serve import test_form, test_hooks


@pytest.fixture
def cli(pg_url: str) -> Any:  # noqa: F811  (the serve fixture's store, on PostgreSQL)
    def call(*args: str, **kw: Any) -> Result:
        return run_cli("--db", pg_url, *args, **kw)

    call.db = pg_url  # type: ignore[attr-defined]
    return call


def test_a_form_submission_is_one_web_ticket(cli: Any, serve: Any) -> None:
    test_form.test_a_submission_is_one_web_ticket_of_the_person(cli, serve)


def test_a_bot_and_a_forged_token_store_nothing(cli: Any, serve: Any) -> None:
    test_form.test_honeypot_gets_thanks_and_stores_nothing(cli, serve)
    test_form.test_expired_and_forged_tokens_store_nothing(cli, serve)


def test_twilio_webhook_and_sync_store_a_message_once(cli: Any, serve: Any) -> None:
    test_hooks.test_twilio_forged_refused_repeats_and_sync_store_once(cli, serve)


def test_telegram_webhook_and_sync(cli: Any, serve: Any) -> None:
    test_hooks.test_telegram_secret_token_repeats_and_sync(cli, serve)


def test_meta_webhook_and_sync_store_a_message_once(cli: Any, serve: Any) -> None:
    test_hooks.test_meta_webhook_and_sync_of_the_same_message_store_it_once(cli, serve)
