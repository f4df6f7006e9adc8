"""Folding quoted history and signatures for display: typical replies in
several languages and clients, interleaved answers kept, linear on hostile
input, and a Hypothesis property (never raises, shows a prefix)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.mail.quotes import MAX_SCAN, fold


@pytest.mark.parametrize("reply,kept,hidden", [
    ("Thanks, that works.\n\nOn Mon, 1 Jan 2024 at 10:00, Shop <help@shop.example> wrote:\n> old",
     "Thanks, that works.", "old"),
    ("Thanks!\n\nOn Mon, 1 Jan 2024 at 10:00, Shop Support\n<help@shop.example> wrote:\n> old",
     "Thanks!", "old"),
    ("Danke!\n\nAm 01.01.2024 um 10:00 schrieb Shop <help@shop.example>:\n> alt", "Danke!", "alt"),
    ("Merci\n\nLe lun. 1 janv. 2024 à 10:00, Shop <help@shop.example> a écrit :\n> vieux",
     "Merci", "vieux"),
    ("Grazie\n\nIl giorno lun 1 gen 2024 alle ore 10:00 Shop ha scritto:\n> vecchio",
     "Grazie", "vecchio"),
    ("Gracias\n\nEl lun, 1 ene 2024 a las 10:00, Shop (<help@shop.example>) escribió:\n> viejo",
     "Gracias", "viejo"),
    ("Bedankt\n\nOp ma 1 jan. 2024 om 10:00 schreef Shop <help@shop.example>:\n> oud",
     "Bedankt", "oud"),
    ("Sure\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nTo: me\n\nold text",
     "Sure", "old text"),
    ("Ja\n\n-----Ursprüngliche Nachricht-----\nVon: Shop\nGesendet: Montag\n\nalter Text",
     "Ja", "alter Text"),
    ("Yes please\n\nFrom: Shop <help@shop.example>\nSent: Monday, 1 January\nSubject: x\n\nold",
     "Yes please", "old"),
    ("Oui\n\n________________________________\nDe : Shop\nEnvoyé : lundi\n\nancien", "Oui", "ancien"),
    ("See you\n-- \nAnn Smith\n+1 555", "See you", "Ann Smith"),
    ("Ok\n\nSent from my iPhone\n\n> old", "Ok", "old"),
    ("Fine by me.\n\n> old line one\n> old line two\n", "Fine by me.", "old line"),
])
def test_fold_hides_history_and_signatures(reply: str, kept: str, hidden: str) -> None:
    shown, folded = fold(reply)
    assert folded and shown == kept and hidden not in shown


@pytest.mark.parametrize("text", [
    "> question one\nanswer one\n> question two\nanswer two",
    "Just a message.\nWith two lines.",
    "On Monday I wrote: nothing special, and this is my own text.",
    "On Mon, Shop wrote:\n> only a quote, nothing of mine above it",
    "",
])
def test_nothing_to_fold(text: str) -> None:
    assert fold(text) == (text, False)


@pytest.mark.parametrize("hostile", [
    ("> x\ny\n" * 40_000) + ("On " + "a" * 50_000 + "\n"),
    "On x wrote " * 20_000,
    "> " * 100_000,
    ("On " + "<a" * 60_000 + "\n") * 4,
    ("From: x\n" * 30_000),
    "\n" * 200_000,
    ("Am " + "x " * 190 + "\n") * 1_000,
])
def test_fold_is_linear_on_hostile_input(hostile: str) -> None:
    start = time.process_time()
    shown, _ = fold(hostile)
    assert time.process_time() - start < 2  # measured: well under 0.1 s each
    assert hostile.startswith(shown)


def test_only_the_first_part_is_scanned() -> None:
    text = "x\n" * (MAX_SCAN // 2 + 10) + "-- \nsignature"
    assert fold(text) == (text, False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["> quoted", ">", "-- ", "On Mon, Ann <a@example.com> wrote:", "Am Montag schrieb Ann:",
                     "-----Original Message-----", "From: Ann", "Sent: Monday", "Sent from my phone", ""]),
), max_size=40))
def test_fold_never_raises_and_shows_a_prefix(lines: list[str]) -> None:
    text = "\n".join(lines)
    shown, folded = fold(text)
    assert text.startswith(shown)
    if folded:
        assert shown.strip() and len(shown) < len(text)
    else:
        assert shown == text
