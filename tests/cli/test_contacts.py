"""`supportctl contact …` (``supportctl/cli/contacts.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _contact(cli: Any) -> int:
    r = cli("new", "--channel", "phone", "--to", "Ada", "-m", "hello", "--format", "ids")
    assert r.code == 0, r
    return int(cli("show", r.out.strip(), "--format", "json").json()["contact"]["id"])


def _identities(cli: Any, contact: int) -> list[dict[str, str]]:
    r = cli("contact", "show", str(contact), "--format", "json")
    assert r.code == 0, r
    return list(r.json()["identities"])


def test_link_refuses_what_no_channel_could_reach(cli: Any) -> None:
    # Before, any word became a Telegram identity and any --channel value a
    # medium of its own ("emial: +1555"), exit 0.
    cid = _contact(cli)
    before = _identities(cli, cid)
    r = cli("contact", "link", str(cid), "notanumber")
    assert r.code == 2, r
    assert "not valid for telegram" in r.err and "--channel" in r.err
    assert r.err.count("\n") == 1
    r = cli("contact", "link", str(cid), "+15551234567", "--channel", "emial")
    assert r.code == 2, r
    assert "did you mean 'email'" in r.err
    r = cli("contact", "link", str(cid), "ada-at-example", "--channel", "email")
    assert r.code == 2 and "not valid for email" in r.err, r
    assert _identities(cli, cid) == before


def test_link_takes_addresses_numbers_and_handles(cli: Any) -> None:
    cid = _contact(cli)
    for address in ("ada@example.com", "+15551234567", "@ada@mastodon.example"):
        r = cli("contact", "link", str(cid), address)
        assert r.code == 0, (address, r)
    assert cli("contact", "link", str(cid), "5123456789", "--channel", "telegram").code == 0
    got = {(i["channel"], i["address"]) for i in _identities(cli, cid)}
    assert {("email", "ada@example.com"), ("sms", "+15551234567"),
            ("mastodon", "ada@mastodon.example"), ("telegram", "5123456789")} <= got


def test_list_by_a_merged_contact_lists_the_person_it_became(cli: Any) -> None:
    # `contact show OLD` follows a merge; `list --contact OLD` listed nothing.
    first = _contact(cli)
    r = cli("new", "--channel", "phone", "--to", "+15551234567", "-m", "hi", "--format", "ids")
    second = int(cli("show", r.out.strip(), "--format", "json").json()["contact"]["id"])
    assert cli("contact", "merge", str(second), str(first), "--yes").code == 0
    mine = cli("list", "--contact", str(first), "--format", "ids").out.split()
    assert len(mine) == 2
    assert cli("list", "--contact", str(second), "--format", "ids").out.split() == mine


def test_link_says_when_it_merged_two_contacts(cli: Any) -> None:
    # Linking an address another contact owns merges the two; before, it
    # said nothing (and `contact merge` asks first).
    r = cli("new", "--channel", "phone", "--to", "+15550000001", "--name", "Ada Lovelace", "-m",
            "hello", "--format", "ids")
    first = int(cli("show", r.out.strip(), "--format", "json").json()["contact"]["id"])
    r = cli("new", "--channel", "phone", "--to", "+15551234567", "-m", "hi", "--format", "ids")
    second = int(cli("show", r.out.strip(), "--format", "json").json()["contact"]["id"])
    r = cli("contact", "link", str(first), "+15551234567")
    assert r.code == 0, r
    assert f"belonged to contact {second}: merged contact {second} into {first} (Ada Lovelace)" \
        in r.err
    assert r.err.count("\n") == 1
    r = cli("contact", "link", str(first), "ada@example.com")
    assert r.code == 0 and r.err == "", r  # a new identity: nothing to say
    assert cli("-q", "contact", "link", str(first), "+15551234567").err == ""


def test_contact_show_says_the_contact_opted_out_of_surveys(cli: Any) -> None:
    # `contact opt-out` (or replying STOP) was visible in JSON only.
    cid = _contact(cli)
    assert "satisfaction" not in cli("contact", "show", str(cid)).out
    assert cli("contact", "opt-out", str(cid)).code == 0
    shown = cli("contact", "show", str(cid))
    assert shown.code == 0 and "asks for no satisfaction surveys since" in shown.out, shown
    assert cli("contact", "show", str(cid), "--format", "json").json()["opted_out_at"]


def test_unlink_takes_a_mistaken_identity_off_and_the_store_restores_again(
        cli: Any, tmp_path: Path) -> None:
    """`contact unlink`: an identity linked by mistake (or, from before the
    checks, under a medium that does not exist) comes off the contact; its
    tickets stay; the export then imports again."""
    import sqlite3

    r = cli("new", "--channel", "phone", "--to", "+15550001111", "-m", "hello")
    assert r.code == 0, r
    assert cli("contact", "link", "1", "ann@example.com").code == 0
    # what an older supportctl let through: a medium that does not exist
    conn = sqlite3.connect(cli.db)
    conn.execute("INSERT INTO identities (contact_id, kind, channel, address, created_at)"
                 " VALUES (1, 'emial', 'emial', '+1555', '2026-11-01T00:00:00Z')")
    conn.commit()
    conn.close()
    dump = tmp_path / "dump.jsonl"
    dump.write_text(cli("export", "--format", "jsonl").out)
    other = str(tmp_path / "other.db")
    assert cli("--db", other, "import", str(dump), "--format", "jsonl").code != 0
    r = cli("contact", "unlink", "1", "+1555", "--channel", "emial")
    assert r.code == 0 and "removed emial +1555 from contact 1" in r.err, r
    r = cli("contact", "unlink", "1", "ANN@example.com")
    assert r.code == 0, r
    shown = cli("contact", "show", "1", "--format", "json").json()
    assert shown["identities"] == [{"channel": "phone", "address": "+15550001111"}]
    assert [t["id"] for t in shown["tickets"]] == [1]
    r = cli("contact", "unlink", "1", "ann@example.com")
    assert r.code == 3 and "has no identity 'ann@example.com'" in r.err, r
    dump.write_text(cli("export", "--format", "jsonl").out)
    assert cli("--db", str(tmp_path / "third.db"), "import", str(dump), "--format", "jsonl").code == 0
    events = [e["action"] for e in cli("show", "1", "--format", "json").json()["events"]]
    assert "contact.unlink" not in events  # a contact's event, not the ticket's


def test_a_mastodon_handle_is_unlinked_as_it_was_linked(cli: Any) -> None:
    # `link` took @ada@mastodon.social for Mastodon (stored as
    # ada@mastodon.social) while `unlink` guessed Telegram for the same
    # words and found nothing: both now ask the one guess.
    assert cli("new", "--channel", "phone", "--to", "+15550001111", "-m", "hello").code == 0
    assert cli("contact", "link", "1", "@Ada@Mastodon.Social").code == 0
    shown = cli("contact", "show", "1", "--format", "json").json()
    assert {"channel": "mastodon", "address": "ada@mastodon.social"} in shown["identities"]
    r = cli("contact", "unlink", "1", "@Ada@Mastodon.Social")
    assert r.code == 0 and "removed mastodon ada@mastodon.social from contact 1" in r.err, r
