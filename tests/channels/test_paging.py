"""Paged APIs are walked to their end as the server states it (the
``Link`` header, ``next_page_uri``, an empty ``getUpdates``), never to the
first page shorter than the size asked for: a server may cap page sizes
lower, and what a walk leaves behind on a first sync is lost for good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.social.mastodon_server import TOKEN, MastodonServer


@pytest.fixture
def masto(tmp_path: Path) -> Iterator[tuple[MastodonServer, dict[str, str]]]:
    with MastodonServer() as srv:
        cfg = tmp_path / "config.yaml"
        cfg.write_text("channels:\n  - name: shop-masto\n    type: mastodon\n"
                       f"    base_url: {srv.url}\n    access_token_env: SHOP_MASTO_TOKEN\n")
        yield srv, {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_MASTO_TOKEN": TOKEN}


def _texts(cli: Any, env: dict[str, str]) -> list[str]:
    res = cli("export", "--format", "jsonl", "--messages", env=env)
    assert res.code == 0, res
    return sorted(m["text"] for t in res.jsonl() for m in t["messages"])


@pytest.mark.parametrize("cap", [15, 39])
def test_mastodon_first_and_later_syncs_get_every_mention_from_a_capped_server(
        cli: Any, masto: tuple[MastodonServer, dict[str, str]], cap: int) -> None:
    srv, env = masto
    srv.page_cap = cap  # below the 40 supportctl asks for
    for k in range(100):
        srv.mention(f"c{k % 7}@remote.example", f"mention {k:03d}")
    for k in range(30):
        srv.mention(f"d{k}@remote.example", f"direct {k:03d}", visibility="direct")
    res = cli("sync", env=env)
    assert res.code == 0, res
    want = sorted([f"mention {k:03d}" for k in range(100)] + [f"direct {k:03d}" for k in range(30)])
    assert _texts(cli, env) == want

    # The forward walk (with a cursor) also reaches the end in one run.
    for k in range(100, 160):
        srv.mention(f"c{k % 7}@remote.example", f"mention {k:03d}")
    res = cli("sync", env=env)
    assert res.code == 0, res
    assert "60 new" in res.err, res
    assert len(_texts(cli, env)) == 190
    # Where the server said to go next is where the walk went.
    later = [r for r in srv.requests("/api/v1/notifications/?") if "min_id" in r.query]
    assert len(later) >= 60 // cap + 1
