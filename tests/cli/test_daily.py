"""Daily use at a terminal (issue 10): commands say what they cannot do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli


def _log(cli: Any, who: str = "Ada", text: str = "Il pacco non è arrivato") -> int:
    r = cli("new", "--channel", "phone", "--to", who, "-m", text, "--format", "ids")
    assert r.code == 0, r
    return int(r.out.strip())


@pytest.mark.parametrize(
    ("option", "value", "meant"),
    [("--channel", "emial", "email"), ("--priority", "urgnet", "urgent"),
     ("--priority", "high,lwo", "low"), ("--status", "opne", "open"),
     ("--sort", "prio", "priority")],
)
def test_unknown_list_values_are_usage_errors_with_a_suggestion(
        cli: Any, option: str, value: str, meant: str) -> None:
    r = cli("list", option, value, "--format", "json")
    assert r.code == 2, r
    assert f"did you mean {meant!r}" in r.err
    assert r.err.count("\n") == 1  # one line
    # The valid values come from models' enums.
    if option == "--priority":
        assert "low, normal, high, urgent" in r.err
    if option == "--channel":
        assert "whatsapp" in r.err and "in-person" in r.err


def test_known_list_values_still_work(cli: Any) -> None:
    _log(cli)
    r = cli("list", "--channel", "phone", "--priority", "normal,high", "--status", "new",
            "--sort", "priority", "--format", "json")
    assert r.code == 0 and len(r.json()) == 1, r


def test_missing_store_is_an_error_not_a_new_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    for args in (["list"], ["show", "1"], ["search", "x"], ["close", "1"],
                 ["new", "--channel", "phone", "--to", "Ada", "-m", "hi"], ["db", "migrate"]):
        r = run_cli("--db", str(db), *args)
        assert r.code == 1, (args, r)
        assert f"no store at {db}" in r.err and "supportctl init" in r.err
        assert not db.exists()
    assert run_cli("--db", str(db), "init").code == 0
    assert db.exists()
    assert run_cli("--db", str(db), "list").code == 0


def test_import_creates_the_store(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    r = run_cli("--db", str(db), "import", "-", "--format", "jsonl", input="")
    assert r.code == 0, r
    assert db.exists()


def test_missing_config_file_is_exit_2(cli: Any, tmp_path: Path) -> None:
    r = cli("--config", str(tmp_path / "nope.yaml"), "list")
    assert r.code == 2 and "nope.yaml" in r.err, r
    r = cli("list", env={"SUPPORTCTL_CONFIG": str(tmp_path / "nope.yaml")})
    assert r.code == 2, r


def test_empty_id_list_on_stdin_is_a_no_op(cli: Any) -> None:
    tid = _log(cli)
    ids = cli("list", "--tag", "spam", "--format", "ids")
    assert ids.code == 0 and ids.out == ""
    for verb in ("close", "solve", "spam", "reopen"):
        r = cli(verb, "-", input=ids.out)
        assert r.code == 0 and r.err == "", (verb, r)
    r = cli("tag", "x", "-", input="\n")
    assert r.code == 0, r
    assert cli("show", str(tid), "--format", "json").json()["status"] == "new"
    # An id argument is still required, and one id from empty stdin is an error.
    assert cli("show", "-", input="").code == 2


def test_the_word_search_as_a_value_is_not_the_search_command(cli: Any) -> None:
    _log(cli, text="search engine sent me")
    _log(cli, who="Bob", text="nothing here")
    r = cli("list", "--query", "search", "--status", "all", "--format", "json")
    assert r.code == 0, r
    assert len(r.json()) == 1
    r = cli("search", "--format", "json", "search")
    assert r.code == 0 and len(r.json()) == 1, r


def test_unknown_search_field_is_exit_2_naming_the_fields(cli: Any) -> None:
    for q in ("bogus:x", "prioriy:high"):
        r = cli("search", q)
        assert r.code == 2, r
        assert "priority:" in r.err and "has:" in r.err and "tag:" in r.err
    assert cli("search", "priority:urgnet").code == 2
    # A quoted term, a URL or a time of day is text, not a field.
    for q in ('"re:foo"', "http://example.com", "10:30"):
        assert cli("search", q).code == 0, q


def test_show_format_csv_is_the_tickets_csv_row(cli: Any) -> None:
    # Before, `show ID --format csv` printed the human view (exit 0) to a
    # script that asked for CSV.
    import csv
    import io

    tid = _log(cli)
    listed = cli("list", "--format", "csv").out
    r = cli("show", str(tid), "--format", "csv")
    assert r.code == 0, r
    assert r.out == listed
    [row] = list(csv.DictReader(io.StringIO(r.out)))
    assert row["id"] == str(tid) and row["channel"] == "phone"


@pytest.mark.parametrize("command", [["contact", "show", "1"], ["db", "info"],
                                     ["rules", "test", "1"]])
def test_table_or_json_commands_refuse_other_formats(cli: Any, command: list[str]) -> None:
    # Before, --format csv (or a typo) printed the text view, exit 0.
    _log(cli)
    for fmt in ("csv", "ids", "jsno"):
        r = cli(*command, "--format", fmt)
        assert r.code == 2, (fmt, r)
        assert "use table or json" in r.err and r.out == "", (fmt, r)
    assert cli(*command, "--format", "json").code == 0


@pytest.mark.parametrize("command", [["contact", "list"], ["quarantine", "list"], ["quarantine"]])
def test_listing_commands_check_their_format(cli: Any, command: list[str]) -> None:
    r = cli(*command, "--format", "jsno")
    assert r.code == 2 and "use one of table, json" in r.err, r


def test_snooze_to_a_time_already_past_is_refused(cli: Any) -> None:
    # Before, `snooze 2020-01-01 ID` (a typo for a year to come) or `snooze
    # 0h` exited 0 and logged a snooze, yet hid nothing.
    tid = _log(cli)
    env = {"SUPPORTCTL_NOW": "2026-12-02T10:00:00Z"}
    for when in ("2020-01-01", "0h", "2026-12-02T09:59:00Z"):
        r = cli("snooze", when, str(tid), env=env)
        assert r.code == 2, (when, r)
        assert "already past" in r.err and r.err.count("\n") == 1, r
    shown = cli("show", str(tid), "--format", "json", env=env).json()
    assert shown["snoozed_until"] is None
    assert not [e for e in shown["events"] if e["action"] == "snooze"]
    assert cli("snooze", "2h", str(tid), env=env).code == 0
    assert cli("list", "--snoozed", "--format", "ids", env=env).out.split() == [str(tid)]


def test_search_status_and_channel_values_are_checked_and_any_case(cli: Any) -> None:
    # Before, status:opne or channel:emial matched nothing and exited 0, and
    # status:Open or channel:Phone found nothing either (tag: and priority:
    # already folded case).
    tid = _log(cli)
    for q, meant in (("status:opne", "status:open"), ("channel:emial", "channel:email"),
                     ("status:new,solvd", "status:solved")):
        r = cli("search", q)
        assert r.code == 2, r
        assert f"did you mean {meant}?" in r.err and r.err.count("\n") == 1, r
    assert cli("list", "--query", "status:opne").code == 2
    for q in ("status:New", "channel:Phone", "status:new,OPEN", "-channel:EMAIL"):
        r = cli("search", q, "--format", "ids")
        assert r.code == 0 and r.out.split() == [str(tid)], (q, r)


def test_a_whole_query_quoted_as_one_argument_keeps_its_fields(cli: Any) -> None:
    # README: `supportctl search 'from:ann@example.com "wrong size" -tag:spam after:30d'`.
    # A query quoted whole, without a phrase in it, was taken as one phrase
    # ("parcel status:new" in the text) and found nothing.
    parcel = _log(cli, text="Where is my parcel?")
    _log(cli, who="Bob", text="my parcel is late")
    cli("tag", "spam", "2")

    def ids(*q: str) -> list[int]:
        r = cli("search", *q, "--format", "json")
        assert r.code == 0, r
        return [t["id"] for t in r.json()]

    assert ids("parcel status:new -tag:spam") == [parcel]
    assert ids("parcel -tag:spam") == [parcel]
    assert ids("parcel", "-tag:spam") == [parcel]
    # One argument with spaces and no query syntax is still a phrase.
    assert ids("is my parcel") == [parcel]
    assert ids("parcel my") == []


def _email_ticket(cli: Any, tmp_path: Path, name: str, eml: str) -> int:
    path = tmp_path / f"{name}.eml"
    path.write_text(eml)
    r = cli("import", str(path), "--format", "eml")
    assert r.code == 0, r
    rows = cli("list", "--status", "all", "--format", "json").json()
    return max(t["id"] for t in rows)


def _eml(sender: str, subject: str, body: str, extra: str = "") -> str:
    return (f"From: {sender}\nTo: shop@example.com\nSubject: {subject}\n"
            f"Message-ID: <{abs(hash(subject))}@x>\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n"
            f"{extra}MIME-Version: 1.0\nContent-Type: text/plain\n\n{body}\n")


def test_priority_has_attachment_and_is_snoozed_fields(cli: Any, tmp_path: Path) -> None:
    plain = _email_ticket(cli, tmp_path, "a", _eml("ann@example.com", "Plain one", "hello"))
    with_file = _email_ticket(cli, tmp_path, "b", (
        "From: bob@example.com\nTo: shop@example.com\nSubject: Photo\nMessage-ID: <p@x>\n"
        "Date: Tue, 1 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nsee photo\n"
        "--XX\nContent-Type: image/jpeg\nContent-Disposition: attachment; filename=a.jpg\n"
        "Content-Transfer-Encoding: base64\n\n/9j/4AAQ\n--XX--\n"))
    assert cli("priority", "urgent", str(plain)).code == 0
    env = {"SUPPORTCTL_NOW": "2026-12-01T12:00:00Z"}
    assert cli("snooze", "2h", str(with_file), env=env).code == 0

    def ids(*q: str) -> list[int]:
        r = cli("search", "--format", "json", *q, env=env)
        assert r.code == 0, r
        return sorted(t["id"] for t in r.json())

    assert ids("priority:urgent") == [plain]
    assert ids("priority:high,urgent") == [plain]
    assert ids("-priority:urgent") == [with_file]
    assert ids("has:attachment") == [with_file]
    assert ids("-has:attachment") == [plain]
    assert ids("is:snoozed") == [with_file]
    assert cli("search", "has:bogus").code == 2


def test_tags_are_case_insensitive(cli: Any) -> None:
    tid = _log(cli)
    assert cli("tag", "Damaged", str(tid)).code == 0
    assert cli("tag", "damaged,DAMAGED", str(tid)).code == 0
    t = cli("show", str(tid), "--format", "json").json()
    assert t["tags"] == ["damaged"]
    assert [r["id"] for r in cli("list", "--tag", "DAMAGED", "--format", "json").json()] == [tid]
    assert [r["id"] for r in cli("search", "tag:Damaged", "--format", "json").json()] == [tid]
    assert cli("untag", "DaMaGeD", str(tid)).code == 0
    assert cli("show", str(tid), "--format", "json").json()["tags"] == []


def test_assign_me_without_a_name_refuses(cli: Any) -> None:
    tid = _log(cli)
    env = {"SUPPORTCTL_AGENT": "", "USER": "", "LOGNAME": ""}
    r = cli("assign", "me", str(tid), env=env)
    assert r.code == 2, r
    assert "--as" in r.err and "SUPPORTCTL_AGENT" in r.err
    assert cli("show", str(tid), "--format", "json").json()["assignee"] is None
    assert cli("list", "--assignee", "me", env=env).code == 2
    r = cli("--as", "marta", "assign", "me", str(tid), env=env)
    assert r.code == 0, r
    assert cli("show", str(tid), "--format", "json").json()["assignee"] == "marta"


def test_as_must_be_a_configured_agent(cli: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("agents: [marta, luca]\n")
    tid = _log(cli)
    r = cli("--config", str(cfg), "--as", "mrta", "assign", "me", str(tid))
    assert r.code == 2 and "did you mean 'marta'" in r.err and "luca" in r.err, r
    r = cli("--config", str(cfg), "--as", "marta", "note", str(tid), "-m", "x")
    assert r.code == 0, r
    assert cli("--config", str(cfg), "--as", "marta", "assign", "me", str(tid)).code == 0


def test_unspam_reopens_and_lifts_the_block(cli: Any, tmp_path: Path) -> None:
    tid = _email_ticket(cli, tmp_path, "s1", _eml("eve@example.com", "Cheap pills", "buy"))
    assert cli("spam", str(tid)).code == 0
    contact = cli("show", str(tid), "--format", "json").json()["contact"]["id"]
    c = cli("contact", "show", str(contact))
    assert "blocked as spam" in c.out, c
    assert cli("contact", "show", str(contact), "--format", "json").json()["blocked_since"]
    r = cli("unspam", str(tid))
    assert r.code == 0, r
    t = cli("show", str(tid), "--format", "json").json()
    assert t["status"] == "open" and "spam" not in t["tags"]
    assert "blocked" not in cli("contact", "show", str(contact)).out
    # The sender's next mail is a normal ticket again.
    nxt = _email_ticket(cli, tmp_path, "s2", _eml("eve@example.com", "Real question", "where?"))
    t2 = cli("show", str(nxt), "--format", "json").json()
    assert "spam" not in t2["tags"] and t2["status"] in ("new", "open"), t2
    # untag spam does the same.
    assert cli("spam", str(nxt)).code == 0
    assert cli("untag", "spam", str(nxt)).code == 0
    assert cli("show", str(nxt), "--format", "json").json()["status"] == "open"
    assert "blocked" not in cli("contact", "show", str(contact)).out


def _channels_config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "channels.yaml"
    cfg.write_text(
        "channels:\n"
        "  - name: mail\n    type: imap\n    host: 127.0.0.1\n    port: 1\n    security: none\n"
        "    username: shop\n    password_env: SHOP_MAIL_PASSWORD_FOR_TEST\n"
        "    addresses: [shop@example.org]\n"
        "    smtp:\n      host: 127.0.0.1\n      port: 1\n      security: none\n"
        "      from: shop@example.org\n      username: shop\n"
        "      password_cmd: no-such-password-tool-xyz show mail\n"
        "  - name: tw\n    type: twilio\n    account_sid: AC123\n    auth_token: t\n"
        "    numbers: ['+15550001111']\n"
        "  - name: tg\n    type: telegram\n    token: t\n" + extra,
        encoding="utf-8")
    cfg.chmod(0o600)
    return cfg


@pytest.mark.parametrize(("channel", "to"), [
    ("email", "not-an-address"), ("email", "a@example.com, b@example.com"),
    ("sms", "0612345"), ("sms", "call me"), ("telegram", "some name"),
])
def test_new_with_an_invalid_to_is_exit_2_and_creates_nothing(
        cli: Any, tmp_path: Path, channel: str, to: str) -> None:
    cfg = _channels_config(tmp_path)
    r = cli("--config", str(cfg), "new", "--channel", channel, "--to", to, "-m", "Hello")
    assert r.code == 2, r
    assert f"not valid for {channel}" in r.err
    assert cli("list", "--status", "all", "--format", "json").json() == []
    assert cli("contact", "list", "--format", "json").json() == []


def test_config_check_offline_warns_about_env_and_cmd(cli: Any, tmp_path: Path) -> None:
    cfg = _channels_config(tmp_path)
    r = cli("--config", str(cfg), "config", "check")
    assert r.code == 0, r
    assert "password_env: environment variable SHOP_MAIL_PASSWORD_FOR_TEST is not set" in r.err
    assert "smtp.password_cmd: program 'no-such-password-tool-xyz' is not found" in r.err
    r = cli("--config", str(cfg), "config", "check",
            env={"SHOP_MAIL_PASSWORD_FOR_TEST": "secret-value"})
    assert "SHOP_MAIL_PASSWORD_FOR_TEST" not in r.err and "secret-value" not in r.err + r.out
    assert "no-such-password-tool-xyz" in r.err
