"""Each channel declares itself once, in ``supportctl/channels/specs/``; the
declarations are light (standard library only) and everything they name
exists."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

from supportctl.channels import channel_specs, media, media_of_type
from supportctl.channels.spec import Medium

SPECS = Path(__file__).resolve().parents[2] / "supportctl" / "channels" / "specs"


def _target(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_declarations_import_only_the_standard_library_and_spec() -> None:
    for path in SPECS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("supportctl") or name == "supportctl.channels.spec", \
                    (path.name, name)
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__",
                                                                         "supportctl"}, name


def test_reading_every_declaration_loads_no_channel_or_client_library() -> None:
    code = ("import sys; import supportctl.channels as c; c.media(); c.channel_specs();"
            "print(','.join(m for m in sys.modules if m in ('httpx', 'twilio', 'imaplib2',"
            " 'mastodon', 'yaml', 'ssl') or m in ('supportctl.channels.imap',"
            " 'supportctl.channels.twilio', 'supportctl.channels.telegram',"
            " 'supportctl.channels.mastodon', 'supportctl.channels.meta',"
            " 'supportctl.channels.http')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=SPECS.parents[2], check=True)
    assert out.stdout.strip() == ""


def test_everything_a_declaration_names_exists() -> None:
    known = media()
    for spec in channel_specs().values():
        assert _target(spec.impl).type == spec.type  # type: ignore[attr-defined]
        for m in spec.media:
            assert m == "*" or m in known, (spec.type, m)
        if spec.demo and spec.demo.loader:
            assert callable(_target(spec.demo.loader))
        assert set(spec.secrets) <= set(spec.keys)
    for m in known.values():
        assert isinstance(m, Medium)
        if m.stored_parser:
            assert callable(_target(m.stored_parser))
        if m.sends and not m.answered_by:
            assert any(m.name in media_of_type(t) for t in channel_specs() if t != "memory"), m


def test_what_the_declarations_say() -> None:
    known = media()
    assert list(known)[:5] == ["email", "sms", "whatsapp", "telegram", "mastodon"]
    assert {m.kind for n, m in known.items() if n in ("sms", "whatsapp", "phone")} == {"phone"}
    assert known["sms"].normal(" 0039 347 123-4567 ") == "+393471234567"
    assert known["whatsapp"].normal("whatsapp:+393471234567") == "+393471234567"
    assert known["email"].normal(" Ada@Example.COM ") == "ada@example.com"
    assert known["mastodon"].normal("@Ada@Mastodon.Social") == "ada@mastodon.social"
    # Subsets, not lists: a channel added later adds its own media here.
    assert [n for n, m in known.items() if not m.sends] == ["phone", "in-person", "post"]
    assert "whatsapp" in {n for n, m in known.items() if m.no_first}
    assert not known["sms"].no_first and not known["email"].no_first
    assert known["whatsapp"].window and known["whatsapp"].window.exempt_by == "content_sid"
    assert set(media_of_type("memory")) >= {"email", "sms", "whatsapp", "telegram"}
    assert media_of_type("twilio") == ("sms", "whatsapp")
    assert channel_specs()["twilio"].secrets == ["account_sid", "auth_token"]
