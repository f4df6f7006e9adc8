"""`supportctl template …` (``supportctl/cli/admin.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIG = """\
templates:
  thanks:
    body: "Hi {{ first_name }}, thank you."
    languages:
      it: "Ciao {{ first_name }}, grazie."
  shipped:
    subject: Your order has shipped
    body: "Your order left today."
  followup:
    content_sid: HX0123456789abcdef0123456789abcdef
    body: "Follow-up template"
  plain: "Just this."
"""


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    return str(path)


def test_template_show_gives_the_whole_source(cli: Any, tmp_path: Path) -> None:
    # Before, only the body: the Italian variant, the subject and the
    # Content SID (all sent to customers) were not shown.
    cfg = _config(tmp_path)

    def show(name: str) -> str:
        r = cli("--config", cfg, "template", "show", name)
        assert r.code == 0, r
        return str(r.out)

    assert show("thanks") == ("Hi {{ first_name }}, thank you.\n\n[it]\n"
                              "Ciao {{ first_name }}, grazie.\n")
    assert show("shipped") == "subject: Your order has shipped\n\nYour order left today.\n"
    assert show("followup").startswith("content_sid: HX0123456789abcdef0123456789abcdef\n\n")
    assert show("plain") == "Just this.\n"  # nothing else to show: as before


def test_template_preview_shows_the_subject_it_sends(cli: Any, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = cli("new", "--channel", "phone", "--to", "Ada Rossi", "-m", "hello", "--format", "ids")
    tid = r.out.strip()
    r = cli("--config", cfg, "template", "preview", "shipped", tid)
    assert r.code == 0 and r.out == "subject: Your order has shipped\n\nYour order left today.\n", r
    r = cli("--config", cfg, "template", "preview", "plain", tid)
    assert r.out == "Just this.\n", r
