"""The node's log filter: one message cannot flood stderr, and aiohttp's per-request
errors lose their traceback."""

from __future__ import annotations

import logging

from node.logs import RateLimit


def _record(name: str, message: str, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]


def test_a_repeated_message_is_let_through_burst_times_per_window() -> None:
    limit = RateLimit(burst=3, window=3600)
    passed = [limit.filter(_record("sumchain.server", "accept failed")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert limit.filter(_record("sumchain.server", "another message"))


def test_the_next_window_says_how_many_were_held_back() -> None:
    now = [0.0]
    limit = RateLimit(burst=1, window=60, clock=lambda: now[0])
    passed = [limit.filter(_record("sumchain.server", "accept failed")) for _ in range(5)]
    assert passed == [True, False, False, False, False]
    now[0] = 61.0
    later = _record("sumchain.server", "accept failed")
    assert limit.filter(later)
    assert "4 more like it held back" in later.getMessage()


def test_aiohttp_request_errors_lose_their_traceback() -> None:
    try:
        raise ValueError("bad request line")
    except ValueError as exc:
        record = _record("aiohttp.server", "Error handling request", (type(exc), exc, exc.__traceback__))
    assert RateLimit().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "Error handling request: ValueError: bad request line"
