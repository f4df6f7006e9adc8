"""The rest of the command line on both engines (issue 13, SPEC §13:
"every command, JSON shape, promise and exit code is the same as on
SQLite"): each scenario runs once on a SQLite file and once on a real
PostgreSQL server, and every command's exit code, stdout and stderr must
be the same bytes on both, and so must the store each leaves behind
(``show --format json`` of every ticket, with its events)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supportctl.channels.memory import SERVERS, server
from supportctl.errors import ChannelError
from supportctl.models import Address, Inbound
from tests.cli.test_postgres import LINES
from tests.conftest import ROOT, Result, run_cli

NOW = {"SUPPORTCTL_NOW": "2026-12-01T09:00:00Z"}


def _timeless(err: str) -> str:
    """A summary line's duration (``(0.4s)``) differs from run to run."""
    return re.sub(r"\(\d+(\.\d+)?s\)", "(…s)", err)


class Both:
    """The same command on a SQLite store and a PostgreSQL one."""

    def __init__(self, cli: Any, pgcli: Any, tmp_path: Path) -> None:
        self.engines = {"sqlite": cli, "postgresql": pgcli}
        self.tmp_path = tmp_path
        self.env: dict[str, str] = dict(NOW)
        #: Called with an engine's name before each of its commands.
        self.before: Any = None

    def each(self, *args: str, input: str | None = None, **env: str) -> dict[str, Result]:
        got = {}
        for name, call in self.engines.items():
            if self.before is not None:
                self.before(name)
            got[name] = call(*args, input=input, env={**self.env, **env})
        return got

    def same(self, *args: str, code: int = 0, input: str | None = None, **env: str) -> Result:
        """Run on both; the same exit code (``code``), stdout and stderr."""
        got = self.each(*args, input=input, **env)
        here, there = got["sqlite"], got["postgresql"]
        assert here.code == code, (args, here)
        assert (there.code, there.out, _timeless(there.err)) == \
            (here.code, here.out, _timeless(here.err)), args
        return there

    def same_store(self) -> None:
        """Every ticket (merged and snoozed too) with its messages and events,
        every contact with its tickets: the same JSON on both."""
        ids = self.same("list", "--status", "all", "--format", "json").json()
        ids = [t["id"] for t in ids]
        exported = self.same("export", "--format", "jsonl", "--messages").out
        for line in exported.splitlines():
            tid = json.loads(line)["id"]
            if tid not in ids:
                ids.append(tid)
        for tid in ids:
            self.same("show", str(tid), "--format", "json")
        for c in self.same("contact", "list", "--format", "json").json():
            self.same("contact", "show", str(c["id"]), "--format", "json")

    def config(self, text: str) -> None:
        cfg = self.tmp_path / "config.yaml"
        cfg.write_text(text, encoding="utf-8")
        self.env["SUPPORTCTL_CONFIG"] = str(cfg)


@pytest.fixture
def both(cli: Any, pg_url: str, tmp_path: Path) -> Iterator[Both]:
    def pgcli(*args: str, **kw: Any) -> Result:
        return run_cli("--db", pg_url, *args, **kw)

    before = dict(SERVERS)
    yield Both(cli, pgcli, tmp_path)
    # The memory channel's servers live in this process: leave them as found.
    SERVERS.clear()
    SERVERS.update(before)


def _fill(both: Both) -> None:
    body = "".join(json.dumps(line) + "\n" for line in LINES)
    both.same("import", "--format", "jsonl", "-", input=body)
    both.same("new", "--channel", "phone", "--to", "Carla", "--subject", "Chiamata",
              "-m", "Ha chiamato per la fattura")
    both.same("new", "--channel", "phone", "--to", "+393331112222", "--subject", "Again",
              "-m", "Richiama per il rimborso")
    spam = ROOT / "supportctl" / "samples" / "email" / "05-photo.eml"
    both.same("import", str(spam), "--format", "eml")
    for args in (("tag", "VIP", "1", "3"), ("assign", "marta", "2"), ("priority", "urgent", "3"),
                 ("solve", "1"), ("note", "1", "-m", "checked with DHL")):
        both.same(*args)


def test_merge_delete_spam_and_unspam_are_the_same(both: Both) -> None:
    _fill(both)
    both.same("merge", "4", "2", "--yes")
    both.same("merge", "4", "2", "--yes", code=2)       # already merged
    both.same("merge", "2", "2", "--yes", code=2)       # into itself
    both.same("merge", "2", "99", "--yes", code=3)
    both.same("merge", "1", "3", code=2)                # off a terminal: needs --yes
    both.same("spam", "5")
    both.same("spam", "5", "99", code=3)
    both.same_store()
    both.same("unspam", "5")
    both.same("spam", "5")
    both.same("delete", "3", code=2)                    # needs --yes
    both.same("delete", "3", "98", "--yes", code=3)
    both.same("delete", "-", "--yes", input="1\n")
    both.same_store()
    both.same("search", "tag:spam", "--format", "ids")


def test_contact_commands_are_the_same(both: Both) -> None:
    _fill(both)
    both.same("new", "--channel", "in-person", "--to", "Élodie Martin", "-m", "Bonjour")
    for args in (("contact", "list", "--format", "json"), ("contact", "list"),
                 ("contact", "list", "élodie", "--format", "ids"),  # ASCII letters fold only
                 ("contact", "list", "MARTIN", "--format", "ids"),
                 ("contact", "list", "ann", "--format", "json"),
                 ("contact", "list", "ANN", "--format", "ids"),
                 ("contact", "list", "+39333", "--format", "json"),
                 ("contact", "list", "50%_\\", "--format", "json"),
                 ("contact", "show", "1", "--format", "json"), ("contact", "show", "1"),
                 ("contact", "export", "1")):
        both.same(*args)
    both.same("contact", "show", "99", code=3)
    both.same("contact", "link", "3", "carla@example.com", "--channel", "email")
    both.same("contact", "link", "3", "+393331112222")  # owned by 2: the two become one
    both.same("contact", "link", "3", "carla.rossi@example.com")
    both.same("contact", "unlink", "3", "CARLA.ROSSI@example.com")  # linked by mistake
    both.same("contact", "unlink", "3", "carla.rossi@example.com", code=3)  # gone already
    both.same("contact", "unlink", "3", "+393331112222", "--channel", "telegram", code=3)
    both.same("contact", "merge", "4", "1", code=2)     # needs --yes off a terminal
    both.same("contact", "merge", "4", "1", "--yes")
    both.same("contact", "merge", "4", "98", "--yes", code=3)
    both.same("contact", "opt-out", "2")
    both.same("contact", "opt-out", "2")
    both.same("contact", "forget", "1", code=2)
    both.same("contact", "forget", "1", "--yes")
    both.same("contact", "export", "1")
    both.same("search", "parcel", "--format", "ids")
    both.same_store()


def test_outbox_and_quarantine_are_the_same(both: Both, tmp_path: Path) -> None:
    """Replies through the shipped memory channel, one per engine (the
    provider's message ids count per server): failed, listed, retried,
    cancelled; a message that cannot be parsed, held and retried."""
    both.config("channels:\n  - {name: mem, type: memory}\n")
    servers = {name: server(f"mem-{name}") for name in both.engines}
    items = [Inbound(medium="sms", raw=b"{}", external_id=f"SM{k}", sender=Address(f"+3933300000{k}"),
                     text=f"ciao {k}") for k in range(3)]
    for srv in servers.values():
        srv.inbox = list(items)

    def on(name: str) -> None:
        SERVERS["mem"] = servers[name]

    both.before = on  # type: ignore[attr-defined]
    both.same("sync")
    both.same("reply", "1", "-m", "Arriva domani")
    for srv in servers.values():
        srv.fail_send = ChannelError("provider down", temporary=True)
    both.same("reply", "2", "-m", "Controllo subito", code=1)
    both.same("reply", "3", "-m", "Quale ordine?", code=1)
    for args in (("outbox",), ("outbox", "--format", "json"), ("outbox", "list", "--all",
                 "--format", "json"), ("outbox", "list", "--format", "jsonl")):
        both.same(*args)
    for srv in servers.values():
        srv.fail_send = None
    both.same("outbox", "retry", "2")
    both.same("outbox", "cancel", "3")
    both.same("outbox", "retry", "99", code=3)
    both.same("outbox", "list", "--all", "--format", "json")
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 this is not mail at all")
    both.same("import", str(junk), "--format", "eml")
    for args in (("quarantine",), ("quarantine", "list", "--format", "json"),
                 ("quarantine", "show", "1"), ("quarantine", "export", "1"),
                 ("quarantine", "retry")):
        both.same(*args)
    both.same("quarantine", "show", "9", code=3)
    both.same_store()


def test_db_commands_give_each_engines_honest_figures(both: Both) -> None:
    _fill(both)
    got = both.each("db", "info", "--format", "json")
    here, there = got["sqlite"].json(), got["postgresql"].json()
    assert list(there) == list(here)
    counted = {k: v for k, v in here.items()
               if k not in ("path", "files_dir", "size_bytes", "schema_version", "engine")}
    assert {k: there[k] for k in counted} == counted and counted["tickets"] == 5
    assert (here["engine"], there["engine"]) == ("sqlite", "postgresql")
    assert there["path"].startswith("postgresql://") and there["files_dir"] is None
    assert there["size_bytes"] > 0 and here["files_dir"].endswith(".files")
    both.same("db", "vacuum")
    both.same("db", "migrate")
    r = both.each("db", "backup", str(both.tmp_path / "copy.dump"))["postgresql"]
    assert r.code == 2 and r.err.count("\n") == 1 and "pg_dump --format=custom" in r.err, r
    both.same("list", "--status", "all", "--format", "json")


HOUSE = """\
timezone: Europe/Rome
close_after: 2d
reopen_window: 1d
channels:
  - {name: mem, type: memory}
agents: [{name: marta}, {name: luca}]
templates:
  csat: "Com'è andata? Rispondi con un numero da 1 a 5."
  thanks: "Grazie {{ first_name }}, ticket {{ ticket.id }}."
csat: {enabled: true, template: csat, after: 1h}
sla:
  - {name: standard, first_response: 1h, resolution: 8h, business_hours_only: false}
notify:
  - {name: owner, via: mem, to: '+390000000001', on: [new, customer-replied, assigned]}
  - {name: team, via: mem, to: '+390000000002', on: [due-soon, breached]}
  - {name: morning, via: mem, to: '+390000000003', on: [digest], at: "08:30"}
rules:
  - {name: refunds, match: {text: rimborso}, tag: [refund], assign: marta}
"""


def test_rules_notify_templates_and_sync_housekeeping_are_the_same(both: Both) -> None:
    """A sync with ``notify:``, ``csat:``, ``close_after`` and rules:
    notifications sent once, the satisfaction question asked and its
    answer filed, solved tickets closed, snoozes woken: the same on both."""
    both.config(HOUSE)
    servers = {name: server(f"house-{name}") for name in both.engines}

    def sms(ext: str, number: str, text: str) -> Inbound:
        return Inbound(medium="sms", raw=b"{}", external_id=ext, sender=Address(number), text=text)

    for srv in servers.values():
        srv.inbox = [sms("SM1", "+393330000001", "Vorrei un rimborso"),
                     sms("SM2", "+393330000002", "Dov'è il pacco?")]
    both.before = lambda name: SERVERS.__setitem__("mem", servers[name])  # type: ignore[attr-defined]
    both.same("sync", SUPPORTCTL_NOW="2026-12-01T09:00:00Z")
    both.same("sync", SUPPORTCTL_NOW="2026-12-01T09:01:00Z")
    for args in (("rules", "test", "1", "--format", "json"), ("rules", "test", "2"),
                 ("template", "list"), ("template", "show", "thanks"),
                 ("template", "preview", "thanks", "1"), ("config", "check"),
                 ("notify", "test", "owner")):
        both.same(*args)
    both.same("template", "preview", "thanks", "99", code=3)
    both.same("rules", "test", "99", code=3)
    both.same("reply", "1", "-m", "Fatto", "--status", "solved", SUPPORTCTL_AGENT="marta")
    both.same("snooze", "2026-12-02T08:00:00Z", "2")
    for srv in servers.values():
        srv.inbox.append(sms("SM4", "+393330000003", "Un altro rimborso"))
    both.same("sync", SUPPORTCTL_NOW="2026-12-01T11:00:00Z")   # the CSAT question goes out
    for srv in servers.values():
        srv.inbox.append(sms("SM3", "+393330000001", "5"))
    both.same("sync", SUPPORTCTL_NOW="2026-12-01T11:30:00Z")   # and its answer comes back
    both.same("sync", SUPPORTCTL_NOW="2026-12-01T12:30:00Z")   # #3 late: breached
    both.same("sync", SUPPORTCTL_NOW="2026-12-02T07:45:00Z")   # the morning digest
    both.same("list", "--sla", "breached", "--format", "json")
    both.same("sync", SUPPORTCTL_NOW="2026-12-04T10:00:00Z")   # closes #1, wakes #2
    assert [m.text for m in servers["sqlite"].sent] == [m.text for m in servers["postgresql"].sent]
    sent = [m.text for m in servers["postgresql"].sent]
    assert any("breached" in t for t in sent) and len(sent) >= 6, sent
    both.same_store()
    both.same("outbox", "list", "--all", "--format", "json")
