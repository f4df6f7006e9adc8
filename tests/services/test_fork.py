"""``split_map`` gives exactly what a loop in one process gives, whether a
child computed half of it, failed, or was never forked; and it leaves no
child process behind, whatever happens."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportctl.services import fork
from supportctl.services.fork import split_map

PARENT = os.getpid()


@pytest.fixture(autouse=True)
def _two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # the contract is tested on any machine, one CPU or many
    monkeypatch.setattr(fork, "_usable_cpus", lambda: 2)
    monkeypatch.delenv("SUPPORTCTL_NO_FORK", raising=False)


def _no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _where(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_half_the_work_is_done_by_a_child_and_comes_back_in_order() -> None:
    out = split_map(_where, list(range(100)), [1] * 100, least=0)
    assert [v for v, _ in out] == [x * x for x in range(100)]
    pids = {pid for _, pid in out}
    assert PARENT in pids and len(pids) == 2
    assert sum(pid == PARENT for _, pid in out) == 50
    assert _no_children()


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(values, min_size=2, max_size=8),
       weights=st.lists(st.integers(0, 1000), min_size=8, max_size=8))
def test_what_comes_back_equals_a_loop(items: list[Any], weights: list[int]) -> None:
    """Floats to the bit, dicts in their order, bools still bools."""
    out = split_map(lambda v: {"v": v, "pair": [v, (v,)]}, items, weights[:len(items)], least=0)
    expected = [{"v": v, "pair": [v, (v,)]} for v in items]
    assert repr(out) == repr(expected)
    assert _no_children()


def test_a_child_that_fails_costs_only_time() -> None:
    def work(x: int) -> int:
        if os.getpid() != PARENT:
            raise RuntimeError("the child fails")
        return x + 1

    assert split_map(work, list(range(10)), [1] * 10, least=0) == list(range(1, 11))
    assert _no_children()


def test_a_result_marshal_cannot_carry_is_worked_out_again_here() -> None:
    class Odd:
        pass

    def work(x: int) -> Any:
        return Odd() if os.getpid() != PARENT else x

    assert split_map(work, list(range(6)), [1] * 6, least=0) == list(range(6))
    assert _no_children()


def test_a_child_killed_by_a_signal_costs_only_time() -> None:
    def work(x: int) -> int:
        if os.getpid() != PARENT:
            os.kill(os.getpid(), 9)
        return -x

    assert split_map(work, list(range(6)), [1] * 6, least=0) == [0, -1, -2, -3, -4, -5]
    assert _no_children()


def test_when_the_parent_fails_the_child_is_not_left_behind() -> None:
    def work(x: int) -> int:
        if os.getpid() == PARENT:
            raise ValueError("the parent fails")
        import time

        time.sleep(30)  # a child still working when the parent gives up
        return x

    with pytest.raises(ValueError, match="the parent fails"):
        split_map(work, list(range(4)), [1] * 4, least=0)
    assert _no_children()


def test_small_work_a_switch_or_threads_keep_it_in_one_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def here(out: list[tuple[int, int]]) -> bool:
        return {pid for _, pid in out} == {PARENT}

    assert here(split_map(_where, list(range(10)), [1] * 10))  # under LEAST_WEIGHT
    monkeypatch.setenv("SUPPORTCTL_NO_FORK", "1")
    assert here(split_map(_where, list(range(10)), [1] * 10, least=0))
    monkeypatch.delenv("SUPPORTCTL_NO_FORK")
    monkeypatch.setattr(fork, "_usable_cpus", lambda: 1)
    assert here(split_map(_where, list(range(10)), [1] * 10, least=0))
    monkeypatch.setattr(fork, "_usable_cpus", lambda: 2)
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert here(split_map(_where, list(range(10)), [1] * 10, least=0))
    finally:
        stop.set()
        other.join()
