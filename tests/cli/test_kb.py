"""``kb``: Markdown articles beside the config, a static FAQ site, drafts
from solved tickets (SPEC §11)."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path
from typing import Any

from tests.cli.test_suggest import HISTORY, load


def config(tmp_path: Path, text: str = "") -> Path:
    d = tmp_path / "config" / "supportctl"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.yaml").write_text(text)
    return d


def test_new_list_show_search(cli: Any, tmp_path: Path) -> None:
    d = config(tmp_path)
    r = cli("kb", "new", "Quando arriva il rimborso?", "--language", "it", "--tags", "rimborso,resi",
            "-m", "Il rimborso arriva sulla carta entro 5 giorni lavorativi dal reso.")
    assert r.code == 0, r
    path = Path(r.out.strip())
    assert path == d / "kb" / "quando-arriva-il-rimborso.md"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("---\ntitle: Quando arriva il rimborso?\nlanguage: it\n")
    cli("kb", "new", "Passwort vergessen", "-l", "de", "-m", "So setzen Sie das Passwort zurück.")
    again = cli("kb", "new", "Passwort vergessen", "-l", "de", "-m", "Noch einmal.")
    assert Path(again.out.strip()).name == "passwort-vergessen-2.md"  # never overwrites

    listed = cli("kb", "list", "--format", "json").json()
    assert [(a["slug"], a["language"], a["tags"]) for a in listed] == [
        ("passwort-vergessen", "de", []), ("passwort-vergessen-2", "de", []),
        ("quando-arriva-il-rimborso", "it", ["rimborso", "resi"])]
    assert [a["slug"] for a in cli("kb", "list", "-l", "it", "--format", "json").json()] == [
        "quando-arriva-il-rimborso"]

    shown = cli("kb", "show", "quando-arriva-il-rimborso")
    assert shown.code == 0 and "entro 5 giorni" in shown.out
    assert cli("kb", "show", "nope").code == 3

    found = cli("kb", "search", "rimborso", "non", "arrivato", "--format", "json").json()
    assert found[0]["slug"] == "quando-arriva-il-rimborso"
    assert "rimborso" in found[0]["matched"]


def test_kb_folder_and_bad_config(cli: Any, tmp_path: Path) -> None:
    config(tmp_path, "kb:\n  path: ../articles\n")
    r = cli("kb", "new", "Hello", "-m", "x")
    assert Path(r.out.strip()) == tmp_path / "config" / "articles" / "hello.md"
    config(tmp_path, "kb:\n  path: kb\n  auto_reply_min_score: 3\n  colour: red\n")
    r = cli("kb", "list")
    assert r.code == 2
    assert "kb.colour" in r.err or "colour" in r.err


def test_bad_front_matter_names_the_file(cli: Any, tmp_path: Path) -> None:
    d = config(tmp_path)
    (d / "kb").mkdir()
    (d / "kb" / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    r = cli("kb", "list")
    assert r.code == 2 and "broken.md" in r.err and "front matter" in r.err
    (d / "kb" / "broken.md").write_text("---\ntitle: T\nlanguage: 'x\" onload=\"y'\n---\nbody\n")
    r = cli("kb", "list")
    assert r.code == 2 and "broken.md" in r.err and "not a language code" in r.err
    (d / "kb" / "broken.md").write_bytes(b"---\ntitle: caf\xe9\n---\n")
    r = cli("kb", "list")
    assert r.code == 2 and "broken.md is not UTF-8" in r.err


def test_from_ticket_drafts_and_drafts_stay_private(cli: Any, tmp_path: Path) -> None:
    d = config(tmp_path)
    load(cli, tmp_path, HISTORY)
    r = cli("kb", "from-ticket", "1")
    assert r.code == 0, r
    text = Path(r.out.strip()).read_text()
    assert "draft: true" in text and "source_ticket: 1" in text
    assert "title: Rimborso non ricevuto" in text and "language: it" in text
    assert "Il rimborso è stato emesso oggi" in text  # our answer, not the acknowledgement
    assert "ho restituito le scarpe" in text  # the question, in a comment for the editor
    assert cli("kb", "from-ticket", "4").code == 2  # never answered
    assert cli("kb", "from-ticket", "99").code == 3
    # A draft is neither published nor suggested.
    out = tmp_path / "site"
    assert cli("kb", "export", "--html", str(out)).code == 0
    assert not list(out.glob("*/*.html"))
    sugg = cli("suggest", "5", "--format", "json").json()
    assert all(s["kind"] == "ticket" for s in sugg)
    assert (d / "kb").is_dir()


def test_export_html_site_works_offline_and_escapes_html(cli: Any, tmp_path: Path) -> None:
    d = config(tmp_path)
    (d / "kb").mkdir()
    (d / "kb" / "returns.md").write_text(
        "---\ntitle: How to return an item\nlanguage: en\ntags: [returns]\n---\n"
        "Print the **label** from [your account](https://shop.example/account).\n\n"
        "<script>alert(1)</script>\n\n[bad](javascript:alert(2))\n")
    (d / "kb" / "resi.md").write_text(
        "---\ntitle: Come restituire un articolo\nlanguage: it\n---\nStampa l'etichetta.\n")
    out = tmp_path / "site"
    r = cli("kb", "export", "--html", str(out))
    assert r.code == 0, r
    index = (out / "index.html").read_text()
    page = (out / "en" / "returns.html").read_text()
    assert (out / "it" / "resi.html").exists()
    assert 'href="en/returns.html"' in index and 'href="it/resi.html"' in index
    assert '<input id="q" type="search"' in index
    # Offline: no remote script, style, image or font; only the article's own link.
    for html in (index, page):
        assert not re.search(r'(src|href)="(https?:)?//', html.replace(
            'href="https://shop.example/account"', ""))
        assert "@import" not in html
    idx = re.search(r'<script type="application/json" id="idx">(.*?)</script>', index, re.S)
    assert idx and "how to return an item" in json.loads(idx.group(1))[0]
    assert "<strong>label</strong>" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "href=\"javascript:" not in page  # the link is refused, left as text
    assert '<html lang="en">' in page


def test_auto_reply_adds_the_best_article_with_its_url(cli: Any, tmp_path: Path) -> None:
    from tests.social.twilio_server import SHOP, SID, TOKEN, TwilioServer

    with TwilioServer() as tw:
        d = config(tmp_path, (
            f"channels:\n  - name: shop-sms\n    type: twilio\n    account_sid: {SID}\n"
            f"    auth_token_env: TW_TOKEN\n    numbers: ['{SHOP}']\n    api_base_url: {tw.url}\n"
            "templates:\n  ack: Grazie, le rispondiamo presto.\n"
            "auto_reply:\n  enabled: true\n  template: ack\n"
            "kb:\n  base_url: https://help.shop.example\n  auto_reply: 1\n"
            "  auto_reply_min_score: 0.3\n"))
        (d / "kb").mkdir()
        (d / "kb" / "rimborsi.md").write_text(
            "---\ntitle: Quando arriva il rimborso delle scarpe\nlanguage: it\n---\n"
            "Il rimborso arriva sulla carta 3-5 giorni dopo il reso.\n")
        (d / "kb" / "draft.md").write_text(
            "---\ntitle: Rimborso scarpe bozza\nlanguage: it\ndraft: true\n---\nrimborso scarpe\n")
        # A broken article never stops the acknowledgement.
        (d / "kb" / "broken.md").write_text("---\ntitle: [rimborso scarpe\n---\nrimborso\n")
        env = {"TW_TOKEN": TOKEN}
        assert cli("sync", env=env).code == 0  # a first sync never answers the backlog
        # Channels report whole seconds: what arrived in the second the first
        # sync began is backlog too (an in-process sync can end inside it).
        time.sleep(1.1)
        tw.inbound("+15550123456", "rimborso scarpe non arrivato")
        tw.inbound("+15550199999", "What are your opening hours on Sunday?")
        assert cli("sync", env=env).code == 0
        bodies = {c["To"]: c["Body"] for c in tw.created}
        assert bodies["+15550123456"] == (
            "Grazie, le rispondiamo presto.\n\n- Quando arriva il rimborso delle scarpe: "
            "https://help.shop.example/it/rimborsi.html")
        assert bodies["+15550199999"] == "Grazie, le rispondiamo presto."


def test_example_config_documents_the_kb_block(tmp_path: Path) -> None:
    from supportctl.config import load_config
    from tests.test_config import _uncommented_example

    p = tmp_path / "c.yaml"
    p.write_text(_uncommented_example())
    kb = load_config(p).kb
    assert (kb.path, kb.base_url, kb.auto_reply, kb.auto_reply_min_score) == (
        "kb", "https://shop.example/help", 2, 0.5)
