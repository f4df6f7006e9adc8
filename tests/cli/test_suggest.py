"""``suggest ID`` (SPEC §11): answers from solved tickets and the knowledge
base, best first, in the customer's language first; never sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

DAY = "2026-09-10"


def ticket(tid: int, status: str, lang_text: str, replies: list[tuple[str, str]],
           subject: str = "", tags: list[str] | None = None) -> dict[str, Any]:
    """An export-format ticket line: one customer message, then ``replies``
    as (author, text) outbound messages (author ``note`` makes a note)."""
    addr = f"c{tid}@example.com"
    msgs: list[dict[str, Any]] = [{
        "id": tid * 10, "direction": "in", "channel": "email",
        "from": {"name": "Giulia Verdi", "address": addr}, "to": [], "subject": subject,
        "text": lang_text, "sent_at": f"{DAY}T09:00:00Z"}]
    for k, (author, text) in enumerate(replies, 1):
        msgs.append({"id": tid * 10 + k, "direction": "note" if author == "note" else "out",
                     "channel": "email", "author": author,
                     "from": {"name": "Shop", "address": "help@shop.example"},
                     "to": [{"name": "", "address": addr}], "subject": "Re: " + subject,
                     "text": text, "sent_at": f"{DAY}T09:{10 + k}:00Z"})
    return {"id": tid, "status": status, "priority": "normal", "subject": subject,
            "channel": "email", "account": "mail",
            "contact": {"id": tid, "name": "Giulia Verdi",
                        "identities": [{"channel": "email", "address": addr}]},
            "assignee": None, "tags": tags or [], "created_at": f"{DAY}T09:00:00Z",
            "updated_at": f"{DAY}T10:00:00Z", "sla": {}, "message_count": len(msgs),
            "messages": msgs, "events": []}


HISTORY = [
    ticket(1, "solved", "Buongiorno, ho restituito le scarpe e non ho ancora ricevuto il rimborso.",
           [("auto-reply", "Grazie, abbiamo ricevuto il suo messaggio."),
            ("alice", "Il rimborso è stato emesso oggi: arriva sulla carta in 3-5 giorni."),
            ("note", "controllato nel gestionale")],
           subject="Rimborso non ricevuto"),
    ticket(2, "closed", "Hello, I returned the shoes and I have not received my refund yet.",
           [("bruno", "Your refund was issued today; it reaches your card in 3-5 days.")],
           subject="Refund not received"),
    ticket(3, "solved", "Ich kann mich nicht einloggen, das Passwort wird nicht akzeptiert.",
           [("dieter", "Wir haben Ihnen einen Link zum Zurücksetzen des Passworts geschickt.")],
           subject="Anmeldung"),
    # Open, unanswered: never a suggestion.
    ticket(4, "open", "Non ho ricevuto il rimborso per le scarpe restituite.", []),
    # The question at hand: Italian, short, SMS-like.
    ticket(5, "new", "rimborso scarpe non ancora arrivato", []),
    # Customer text with terminal escapes in a solved ticket.
    ticket(6, "solved", "\x1b]52;c;ZXZpbA==\x07Il mio rimborso per le scarpe? \x1b[31mrosso",
           [("alice", "Rimborso emesso \x1b[2J oggi.")], subject="rimborso"),
]


def load(cli: Any, tmp_path: Path, lines: list[dict[str, Any]]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(t) + "\n" for t in lines))
    r = cli("import", str(src), "--format", "jsonl")
    assert r.code == 0, r


def test_suggest_offers_solved_tickets_in_the_customers_language_first(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    r = cli("suggest", "5", "--format", "json")
    assert r.code == 0, r
    found = r.json()
    assert 1 <= len(found) <= 3
    assert [s["kind"] for s in found] == ["ticket"] * len(found)
    ids = [s["ticket_id"] for s in found]
    assert 4 not in ids and 5 not in ids  # not answered / the ticket itself
    assert ids[0] in (1, 6)  # Italian first
    if 2 in ids:  # the English one ("shoes", "refund" share no word) only after them
        assert ids.index(2) > max(ids.index(i) for i in (1, 6) if i in ids)
    first = next(s for s in found if s["ticket_id"] == 1)
    # Our final reply: the agent's, not the acknowledgement or the note.
    assert first["answer"].startswith("Il rimborso è stato emesso oggi")
    assert first["question"].startswith("Buongiorno, ho restituito")
    assert "rimborso" in first["matched"] and "scarpe" in first["matched"]
    assert 0 < first["score"] <= 1
    assert [s["score"] for s in found if s["ticket_id"] in (1, 6)] == sorted(
        [s["score"] for s in found if s["ticket_id"] in (1, 6)], reverse=True)
    assert set(found[0]) >= {"kind", "ticket_id", "article", "score", "matched", "question",
                             "answer"}


def test_suggest_sends_nothing_and_changes_nothing(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    before = cli("export", "--format", "jsonl", "--messages").out
    assert cli("suggest", "5").code == 0
    assert cli("export", "--format", "jsonl", "--messages").out == before
    assert cli("outbox", "list", "--format", "json").json() == []


def test_suggest_table_is_sanitised(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    r = cli("suggest", "5")
    assert r.code == 0, r
    assert "#1" in r.out or "#6" in r.out
    assert "\x1b" not in r.out and "\x07" not in r.out
    assert "score" in r.out and "matched:" in r.out


def test_suggest_unknown_ticket_and_bad_format(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    r = cli("suggest", "999")
    assert r.code == 3 and "no ticket #999" in r.err
    r = cli("suggest", "5", "--format", "xml")
    assert r.code == 2 and "table or json" in r.err


def test_suggest_nothing_alike_prints_nothing(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, [*HISTORY[:3], ticket(7, "new", "Quel est le prix du vélo rouge ?", [])])
    r = cli("suggest", "7", "--format", "json")
    assert r.code == 0 and r.json() == []


def test_suggest_includes_knowledge_base_articles_with_their_url(cli: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    kb = tmp_path / "config" / "supportctl" / "kb"
    kb.mkdir(parents=True)
    (kb / "rimborsi.md").write_text(
        "---\ntitle: Quando arriva il rimborso\nlanguage: it\ntags: [rimborso, resi]\n---\n"
        "Il rimborso arriva sulla carta 3-5 giorni dopo che le scarpe o altri articoli"
        " restituiti giungono al magazzino.\n")
    (kb / "password.md").write_text(
        "---\ntitle: Passwort vergessen\nlanguage: de\n---\nSo setzen Sie Ihr Passwort zurück.\n")
    (tmp_path / "config" / "supportctl" / "config.yaml").write_text(
        "kb:\n  base_url: https://help.shop.example/faq/\n")
    r = cli("suggest", "5", "--format", "json")
    assert r.code == 0, r
    arts = [s for s in r.json() if s["kind"] == "article"]
    assert [a["article"] for a in arts] == ["rimborsi"]
    assert arts[0]["ticket_id"] is None
    assert arts[0]["url"] == "https://help.shop.example/faq/it/rimborsi.html"
    assert arts[0]["question"] == "Quando arriva il rimborso"


def test_articles_beside_a_config_without_a_kb_block(cli: Any, tmp_path: Path) -> None:
    """Without a ``kb:`` block suggest reads kb/ beside the config (it then
    skips loading the YAML); with one, the block decides; a --config that
    does not exist is still an error."""
    load(cli, tmp_path, HISTORY)
    home = tmp_path / "config" / "supportctl"
    (home / "kb").mkdir(parents=True)
    (home / "kb" / "rimborsi.md").write_text(
        "---\ntitle: Quando arriva il rimborso\nlanguage: it\n---\n"
        "Il rimborso delle scarpe restituite arriva sulla carta in 3-5 giorni.\n")
    (home / "config.yaml").write_text("# kb: not here\ntimezone: Europe/Rome\n")
    arts = [s for s in cli("suggest", "5", "--format", "json").json() if s["kind"] == "article"]
    assert [a["article"] for a in arts] == ["rimborsi"] and arts[0]["url"] is None
    other = tmp_path / "elsewhere"
    other.mkdir()
    (home / "config.yaml").write_text(f"kb:\n  path: {other}\n")
    r = cli("suggest", "5", "--format", "json")
    assert r.code == 0, r
    assert [s for s in r.json() if s["kind"] == "article"] == []
    r = cli("--config", str(tmp_path / "missing.yaml"), "suggest", "5")
    assert r.code == 2 and "missing.yaml" in r.err


def test_quality_bench_meets_its_floor() -> None:
    """The five-language fixture: full text alone finds the right answer in
    the top three for most wordings (bench/suggest_quality.py prints it)."""
    r = subprocess.run([sys.executable, "bench/suggest_quality.py", "--min-hit3", "0.95"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hit@1" in r.stdout and "hit@3" in r.stdout


def test_an_articles_file_name_reaches_the_table_cleaned(cli: Any, tmp_path: Path) -> None:
    """The article's name comes from a file in the shop's folder: like
    every value on its way to a terminal, it passes the sanitiser."""
    load(cli, tmp_path, HISTORY)
    kb = tmp_path / "config" / "supportctl" / "kb"
    kb.mkdir(parents=True)
    (kb / "rimborsi\x1b]0;pwned\x07\x1b[2J.md").write_text(
        "---\ntitle: Quando arriva il rimborso\nlanguage: it\ntags: [rimborso, resi]\n---\n"
        "Il rimborso arriva sulla carta 3-5 giorni dopo che le scarpe o altri articoli"
        " restituiti giungono al magazzino.\n")
    r = cli("suggest", "5")
    assert r.code == 0, r
    assert "article rimborsi" in r.out, r
    assert "\x1b" not in r.out and "\x07" not in r.out
    for args in (("kb", "list"), ("kb", "search", "rimborso")):
        r = cli(*args)
        assert r.code == 0 and r.out.startswith("rimborsi"), r
        assert "\x1b" not in r.out and "\x07" not in r.out


def test_an_answer_is_offered_without_the_signature_it_was_sent_with(
        cli: Any, tmp_path: Path) -> None:
    # Before, the answer kept "-- \nAlice · Shop": reused by another agent
    # (triage's 1-3 keys), the reply went out with both signatures; and
    # `kb from-ticket` put the signature in the article.
    signed = "Il rimborso è stato emesso oggi.\n\n-- \nAlice · Bottega Rossi\n+39 06 1234"
    load(cli, tmp_path, [
        ticket(1, "solved", "Non ho ancora ricevuto il rimborso per le scarpe.",
               [("alice", signed)], subject="Rimborso"),
        ticket(2, "new", "rimborso scarpe non ancora arrivato", []),
        ticket(3, "solved", "Il codice -- non funziona", [("bruno", "--\nsolo questo")],
               subject="Codice"),
    ])
    [found] = [s for s in cli("suggest", "2", "--format", "json").json() if s["ticket_id"] == 1]
    assert found["answer"] == "Il rimborso è stato emesso oggi."
    kb = tmp_path / "kb"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"kb:\n  path: {kb}\n")
    r = cli("--config", str(cfg), "kb", "from-ticket", "1", env={"EDITOR": "true"})
    assert r.code == 0, r
    article = next(kb.glob("*.md")).read_text()
    assert "Il rimborso è stato emesso oggi." in article and "Alice" not in article
    # A reply that is only a "--" line and text is kept whole (nothing above it).
    r = cli("--config", str(cfg), "kb", "from-ticket", "3", env={"EDITOR": "true"})
    assert "solo questo" in next(kb.glob("codice*.md")).read_text()
