"""``Store.tx_memo``: what a transaction learnt about its rows (the tag
names it stored) never outlives them. A sync skips writing a tag name it
wrote earlier in the batch; after a rollback, of the transaction or of one
message's savepoint, the name is written again. On both engines."""

from __future__ import annotations

from typing import Any

import pytest

from supportctl.store import workflows


def _display(store: Any, tag: str) -> str | None:
    found: str | None = store.scalar("SELECT display FROM tag_names WHERE tag = ?", [tag])
    return found


class Boom(Exception):
    pass


def test_a_name_stored_once_keeps_its_first_form(any_store: Any) -> None:
    with any_store.tx():
        workflows.remember_tag_names(any_store, ["VIP", "vip"])
        workflows.remember_tag_names(any_store, ["Vip", "DHL"])
    assert _display(any_store, "vip") == "VIP"
    assert _display(any_store, "dhl") == "DHL"


def test_a_rolled_back_savepoint_forgets_what_it_wrote(any_store: Any) -> None:
    with any_store.tx():
        with pytest.raises(Boom), any_store.tx():
            workflows.remember_tag_names(any_store, ["VIP"])
            raise Boom
        workflows.remember_tag_names(any_store, ["Vip"])
    assert _display(any_store, "vip") == "Vip"


def test_a_rolled_back_transaction_forgets_what_it_wrote(any_store: Any) -> None:
    with pytest.raises(Boom), any_store.tx():
        workflows.remember_tag_names(any_store, ["VIP"])
        raise Boom
    with any_store.tx():
        workflows.remember_tag_names(any_store, ["Vip"])
    assert _display(any_store, "vip") == "Vip"


def test_outside_a_transaction_nothing_is_kept(any_store: Any) -> None:
    any_store.tx_memo()["x"] = 1
    assert any_store.tx_memo() == {}
