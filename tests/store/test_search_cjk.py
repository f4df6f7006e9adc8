"""Chinese, Japanese, Korean and Thai text is found by its words (issue 10):
the trigram index beside the word index (migration m011), kept in step with
the messages however they change."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli

TEXTS = {
    "ja": ("注文について", "注文番号 12345 の商品がまだ届きません。確認をお願いします。"),
    "zh": ("订单问题", "我的订单还没有到，请帮我查一下物流。"),
    "ko": ("배송 문의", "주문한 상품이 아직 도착하지 않았습니다"),
    "th": ("สอบถามสินค้า", "สินค้าที่สั่งซื้อยังไม่ได้รับครับ"),
    "en": ("Where is my order", "My order never arrived, can you check the tracking?"),
}


def _new(cli: Any, who: str, subject: str, text: str) -> int:
    r = cli("new", "--channel", "phone", "--to", who, "--subject", subject, "-m", text,
            "--format", "ids")
    assert r.code == 0, r
    return int(r.out.strip())


@pytest.fixture
def shop(cli: Any) -> dict[str, int]:
    return {lang: _new(cli, f"customer-{lang}", *TEXTS[lang]) for lang in TEXTS}


def _ids(cli: Any, *query: str) -> list[int]:
    r = cli("search", *query, "--format", "json")
    assert r.code == 0, r
    return [t["id"] for t in r.json()]


@pytest.mark.parametrize(("lang", "query"), [
    ("ja", "注文"),           # two characters inside a longer run
    ("ja", "届きません"),      # a verb in the middle of the text
    ("ja", "商品が"),
    ("ja", "届"),             # one character
    ("zh", "订单"),
    ("zh", "物流"),
    ("zh", "查一下"),
    ("ko", "주문"),            # a Korean word without its ending
    ("ko", "상품이"),
    ("th", "สินค้า"),          # a Thai word inside an unspaced run
    ("th", "สั่งซื้อ"),
])
def test_words_inside_unspaced_text_are_found(cli: Any, shop: dict[str, int], lang: str,
                                              query: str) -> None:
    assert _ids(cli, query) == [shop[lang]]


def test_snippets_and_fields_and_negation(cli: Any, shop: dict[str, int]) -> None:
    r = cli("search", "商品が", "--format", "json")
    assert "商品が" in r.json()[0]["snippet"]
    r = cli("search", "注文", "--format", "json")  # a short term: a snippet around it
    assert "注文" in r.json()[0]["snippet"]
    assert _ids(cli, "subject:注文") == [shop["ja"]]
    assert _ids(cli, "subject:届きません") == []          # in the text, not the subject
    assert _ids(cli, "subject:订单问题") == [shop["zh"]]
    assert _ids(cli, "注文", "-届") == []
    assert _ids(cli, "注文", "-物流") == [shop["ja"]]
    assert _ids(cli, "12345", "注文") == [shop["ja"]]      # a word and a CJK term in one message
    assert _ids(cli, "order", "-注文") == [shop["en"]]
    assert sorted(_ids(cli, "-注文")) == sorted(v for k, v in shop.items() if k != "ja")
    assert sorted(_ids(cli, "-届きません")) == sorted(v for k, v in shop.items() if k != "ja")
    assert _ids(cli, '"주문한 상품"') == [shop["ko"]]      # a phrase with its space
    assert _ids(cli, "存在しない") == []
    assert _ids(cli, "order") == [shop["en"]]             # the word index as before
    r = cli("list", "--query", "注文", "--format", "ids")
    assert r.out.split() == [str(shop["ja"])]
    r = cli("list", "--query", "商品が", "--format", "ids")
    assert r.out.split() == [str(shop["ja"])]


def test_the_index_follows_delete_forget_merge(cli: Any, shop: dict[str, int]) -> None:
    other = _new(cli, "customer-ja", "追加の質問", "配送先を変更したいです")
    assert _ids(cli, "配送先") == [other]
    assert cli("merge", str(other), str(shop["ja"]), "--yes").code == 0
    assert _ids(cli, "配送先") == [shop["ja"]]
    assert _ids(cli, "配送") == [shop["ja"]]
    assert cli("delete", str(shop["zh"]), "--yes").code == 0
    assert _ids(cli, "订单") == [] and _ids(cli, "物流") == []
    contact = cli("show", str(shop["ko"]), "--format", "json").json()["contact"]["id"]
    assert cli("contact", "forget", str(contact), "--yes").code == 0
    assert _ids(cli, "주문") == [] and _ids(cli, "상품이") == []
    assert _ids(cli, "สินค้า") == [shop["th"]]
    # FTS5's own check: the trigram index agrees with the rows it holds.
    with sqlite3.connect(cli.db) as db:
        db.execute("INSERT INTO messages_cjk(messages_cjk) VALUES ('integrity-check')")
        held = db.execute("SELECT count(*) FROM messages_cjk_docsize").fetchone()[0]
    assert held == 3  # ja (2 messages, merged) and th; never the English one


def test_import_and_an_older_store_are_indexed(cli: Any, shop: dict[str, int],
                                               tmp_path: Path) -> None:
    dump = cli("export", "--format", "jsonl", "--messages").out
    other = tmp_path / "other.db"
    assert run_cli("--db", str(other), "import", "-", "--format", "jsonl", input=dump).code == 0
    r = run_cli("--db", str(other), "search", "届きません", "--format", "ids")
    assert r.out.split() == [str(shop["ja"])]
    # A store from before m011: its CJK messages are indexed by the upgrade.
    with sqlite3.connect(other) as db:
        db.execute("DROP TABLE messages_cjk")
        db.execute("DROP INDEX messages_automatic")
        for t in ("ai", "ad", "aud", "aui"):
            db.execute(f"DROP TRIGGER messages_cjk_{t}")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm011_unspaced_index'")
        db.execute("PRAGMA user_version = 9")
    r = run_cli("--db", str(other), "search", "物流", "--format", "ids")
    assert r.code == 0 and r.out.split() == [str(shop["zh"])], r
    with sqlite3.connect(other) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 11


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x32000), max_size=12))
def test_unspaced_terms_are_found_as_the_ranges_say(text: str) -> None:
    """search decides which terms go to the trigram index by code point
    (a character class this wide costs ~15 ms to compile); the decision must
    be the character class's, edges of every range included."""
    import re

    from supportctl.store.migrations import UNSPACED_RANGES
    from supportctl.store.search import _unspaced

    assert _unspaced(text) == bool(re.search(f"[{UNSPACED_RANGES}]", text))


def test_unspaced_range_edges() -> None:
    import re

    from supportctl.store.migrations import UNSPACED_RANGES
    from supportctl.store.search import _UNSPACED_SPANS, _unspaced

    for lo, hi in _UNSPACED_SPANS:
        assert _unspaced("x" + chr(lo)) and _unspaced(chr(hi) + "x")
        for edge in (chr(lo - 1), chr(hi + 1)):
            assert _unspaced(edge) == bool(re.search(f"[{UNSPACED_RANGES}]", edge))


_MIXED = st.text(alphabet=st.one_of(
    st.characters(max_codepoint=0x7f), st.characters(min_codepoint=0x80, max_codepoint=0x2fff),
    st.sampled_from("\u0dff\u0e00\u0eff\u0f00\u3000\u9fff\ua000\uac00\ud7ff\uf8ff\uf900\uff65"
                    "\uff66\uff9f\uffa0\U0001f600\U0001ffff\U00020000\U0003134f\U00031350")),
    max_size=20)


@settings(max_examples=400, deadline=None)
@given(_MIXED, _MIXED)
def test_the_fill_tests_a_message_as_the_triggers_do(subject: str, text: str) -> None:
    """A batch's fill of the trigram index picks its messages with a
    regular expression (``has_unspaced``), the triggers with SQL; a row
    one indexes and the other deletes would corrupt the index, so the two
    answer alike for every subject and text."""
    from supportctl.store.migrations import _unspaced, has_unspaced

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE m (subject TEXT, text TEXT)")
    db.execute("INSERT INTO m VALUES (?, ?)", [subject, text])
    want = db.execute(f"SELECT coalesce({_unspaced('')}, 0) FROM m").fetchone()[0]
    assert has_unspaced(subject, text) == bool(want)
