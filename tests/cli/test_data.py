"""`supportctl export` and `import` (``supportctl/cli/data.py``): a backup
script's mistake is an error, never a quietly smaller file."""

from __future__ import annotations

from typing import Any


def _log(cli: Any, who: str = "Ada") -> int:
    r = cli("new", "--channel", "phone", "--to", who, "-m", "Il pacco non è arrivato",
            "--format", "ids")
    assert r.code == 0, r
    return int(r.out.strip())


def test_export_channel_is_checked_as_list_checks_it(cli: Any) -> None:
    # Before, `export --channel emial` wrote an empty export and exited 0.
    _log(cli)
    r = cli("export", "--channel", "emial")
    assert r.code == 2, r
    assert "did you mean 'email'" in r.err and r.out == ""
    r = cli("export", "--channel", "phone")
    assert r.code == 0 and len(r.out.splitlines()) == 1, r


def test_export_options_that_would_be_dropped_are_errors(cli: Any) -> None:
    # Before, `--format csv --messages` and `--raw` without `--messages`
    # wrote tickets alone, exit 0: the messages asked for were not there.
    _log(cli)
    for args, says in ((["--format", "csv", "--messages"], "--format jsonl"),
                       (["--raw"], "--raw needs --messages")):
        r = cli("export", *args)
        assert r.code == 2, (args, r)
        assert says in r.err and r.out == "" and r.err.count("\n") == 1, (args, r)
    r = cli("export", "--messages", "--raw")
    assert r.code == 0 and r.jsonl()[0]["messages"], r
    assert cli("export", "--format", "csv").code == 0


def test_import_mail_from_stdin_says_what_to_do(cli: Any) -> None:
    # Before: "no such file or directory -", though the help offers '-' for stdin.
    mail = "From: a@example.com\nSubject: hi\nMessage-ID: <s@x>\n\nhello\n"
    for fmt in ("eml", "mbox"):
        r = cli("import", "-", "--format", fmt, input=mail)
        assert r.code == 2, r
        assert "--format jsonl" in r.err and "save the mail to a file" in r.err, r
    assert cli("import", "-", "--format", "jsonl", input="").code == 0
