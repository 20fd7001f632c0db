"""Logging that cannot flood the terminal.

A node under attack (thousands of malformed requests, the fd limit reached) would
otherwise log the same line, often with a traceback, for every event: the issue that
led here saw 139 MB of stderr in a minute. :class:`RateLimit` lets each distinct
message through at most ``burst`` times per ``window`` seconds and then says once how
many it held back; :func:`install` puts it on the handlers, and keeps aiohttp's
per-request errors (a malformed HTTP request is the client's fault) to one line
without a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WINDOW = 60.0  # seconds
BURST = 10  # records of one message let through per window
QUIET_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.websocket")


class RateLimit(logging.Filter):
    """At most ``burst`` records per (logger, message template) per ``window`` seconds."""

    def __init__(
        self, burst: int = BURST, window: float = WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count, held]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(QUIET_LOGGERS) and record.exc_info:
            error = record.exc_info[1]
            record.msg = f"{record.msg}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        key = (record.name, str(record.msg))
        now = self.clock()
        entry = self._seen.get(key)
        if entry is None or now - entry[0] > self.window:
            if entry is not None and entry[2]:
                record.msg = f"{record.msg} (and {int(entry[2])} more like it held back)"
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = [now, 1, 0]
            return True
        entry[1] += 1
        if entry[1] <= self.burst:
            return True
        entry[2] += 1
        return False


def install(level: int) -> None:
    """Configure the root logger for the node: one line per record, rate-limited."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit = RateLimit()
    for handler in logging.getLogger().handlers:
        handler.addFilter(limit)
