"""Language detection (SPEC §10): accurate on short support messages, null
when unsure, and the contact keeps its last confident language."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from lang_samples import SAMPLES  # noqa: E402

from supportctl.services.language import detect  # noqa: E402


def test_short_messages_in_five_languages() -> None:
    wrong = [(lang, text, detect(text)) for lang, texts in SAMPLES.items() for text in texts
             if detect(text) != lang]
    assert wrong == []


def test_unsure_is_none() -> None:
    for text in ("ok", "5", "👍", "Order 1042", "https://shop.example/o/1042", "", "STOP"):
        assert detect(text) is None, text


def eml(tmp_path: Path, name: str, text: str, msgid: str) -> Path:
    p = tmp_path / f"{msgid}.eml"
    p.write_text(f"From: Giulia Neri <giulia@example.it>\nTo: help@shop.example\n"
                 f"Subject: ordine\nMessage-ID: <{msgid}@example.it>\n"
                 f"Date: Wed, 09 Dec 2026 10:00:00 +0000\n\n{text}\n", encoding="utf-8")
    return p


def test_message_and_contact_language(cli: Any, tmp_path: Path) -> None:
    res = cli("import", str(eml(tmp_path, "a", "Buongiorno, il mio ordine non è ancora arrivato.", "a")),
              "--format", "eml")
    assert res.code == 0, res
    res = cli("import", str(eml(tmp_path, "b", "ok", "b")), "--format", "eml")
    assert res.code == 0, res
    tickets = cli("export", "--format", "jsonl", "--messages").jsonl()
    langs = [m["language"] for t in tickets for m in t["messages"]]
    assert langs == ["it", None]
    contact = cli("contact", "show", str(tickets[0]["contact"]["id"]), "--format", "json").json()
    assert contact["language"] == "it"  # the unsure "ok" kept it
