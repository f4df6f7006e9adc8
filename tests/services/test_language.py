"""Language detection (SPEC §10): accurate on short support messages, null
when unsure, and the contact keeps its last confident language."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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


# The unpacked model in the cache directory (services/language.py).

def fresh_model(monkeypatch: Any, cache: Path) -> Any:
    from supportctl.services import language

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(language, "_identifier", None)
    monkeypatch.setattr(language, "_languages", ())
    return language


def cached_files(cache: Path) -> list[Path]:
    return sorted((cache / "supportctl").glob("langid-*"))


def test_the_unpacked_model_is_kept_private_and_answers_as_the_package_does(
        monkeypatch: Any, tmp_path: Path) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    language = fresh_model(monkeypatch, tmp_path / "cache")
    texts = [t for ts in SAMPLES.values() for t in ts]
    first = [language._model(("de", "en", "es", "fr", "it")).classify(t) for t in texts]
    [copy] = cached_files(tmp_path / "cache")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert copy.parent.stat().st_mode & 0o777 == 0o700
    assert not list(copy.parent.glob(".langid-*"))  # no temporary file left behind
    package = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    package.set_languages(["de", "en", "es", "fr", "it"])
    assert first == [package.classify(t) for t in texts]
    # read back from the copy, not unpacked again
    language = fresh_model(monkeypatch, tmp_path / "cache")
    monkeypatch.setattr(language, "_unpack", None)  # would fail if called
    assert [language._model(("de", "en", "es", "fr", "it")).classify(t) for t in texts] == first


def test_a_damaged_copy_is_unpacked_again(monkeypatch: Any, tmp_path: Path) -> None:
    language = fresh_model(monkeypatch, tmp_path / "cache")
    assert language.detect("Buongiorno, il mio ordine non è ancora arrivato.") == "it"
    [copy] = cached_files(tmp_path / "cache")
    size = copy.stat().st_size
    with copy.open("r+b") as f:
        f.truncate(size // 2)
    language = fresh_model(monkeypatch, tmp_path / "cache")
    assert language.detect("Bonjour, ma commande n'est pas encore arrivée.") == "fr"
    [again] = cached_files(tmp_path / "cache")
    assert again.stat().st_size == size


def test_an_unwritable_cache_directory_costs_only_time(monkeypatch: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    language = fresh_model(monkeypatch, blocker)
    assert language.detect("Hallo, meine Bestellung ist noch nicht angekommen.") == "de"


@given(st.text(alphabet=st.sampled_from("ab1#@ \n>:/.httpsw"), max_size=60))
def test_texts_without_an_at_sign_lose_the_same_noise(text: str) -> None:
    from supportctl.services import language

    pattern = language._NOISE if "@" in text else language._NOISE_NO_AT
    assert pattern.sub(" ", text) == language._NOISE.sub(" ", text)
