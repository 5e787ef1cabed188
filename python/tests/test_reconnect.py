"""The reconnect policy helpers."""

from __future__ import annotations

import pytest

from wsmachine.reconnect import Backoff, plan, should_reconnect


@pytest.mark.parametrize(
    ("code", "retry"),
    [(1000, False), (1001, True), (1002, False), (1005, False), (1006, True), (1008, False),
     (1009, False), (1011, True), (1012, True), (1013, True), (1014, True), (1015, False),
     (3000, False), (4999, False), (0, False), (70000, False), (-1, False)],
)
def test_should_reconnect(code: int, retry: bool) -> None:
    assert should_reconnect(code) is retry


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(initial=0.5, maximum=4, jitter=0)
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.attempt == 6
    b.reset()
    assert b.next_delay() == 0.5


def test_backoff_jitter_bounds() -> None:
    b = Backoff()
    assert (b.initial, b.maximum, b.jitter) == (1.0, 30.0, 0.25)
    for attempt, base in enumerate([1, 2, 4, 8, 16, 30, 30]):
        for r in (0, 1, 2**31, 2**32 - 1):
            assert base * 0.75 <= b.delay_for(attempt, r) <= base * 1.25
    for _ in range(20):
        assert 0.75 <= Backoff().next_delay() <= 1.25
    with pytest.raises(ValueError):
        Backoff(jitter=2)


def test_plan() -> None:
    b = Backoff(jitter=0)
    assert plan(1000, b) is None
    assert plan(1006, b) == 1.0
    assert plan(1012, b, random=7) == 2.0
