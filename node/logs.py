"""Logging that cannot flood the terminal, and the devnet's console lines.

A node under attack (thousands of malformed requests, the fd limit reached) would
otherwise log the same line, often with a traceback, for every event: the issue that
led here saw 139 MB of stderr in a minute. :class:`RateLimit` lets each distinct
message through at most ``burst`` times per ``window`` seconds and then says once how
many it held back; :func:`install` puts it on the handlers, and keeps aiohttp's
per-request errors (a malformed HTTP request is the client's fault) to one line
without a traceback.

The devnet's console, as anvil's: a line per mined transaction (:func:`transaction_lines`:
hash, block, gas used, status, contract created, revert reason) on ``TRANSACTIONS``, and
with ``-v`` each JSON-RPC method's name on ``METHOD_NAMES``. Both go to stdout without a
timestamp through :class:`ConsoleHandler`, which never makes the node wait for the
terminal (a bounded queue and a writer thread; a closed stdout — ``sumchain devnet |
head`` — only stops the lines). Raw DEBUG records of every logger come at ``-vv``.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from eth_utils import to_checksum_address

WINDOW = 60.0  # seconds
BURST = 10  # records of one message let through per window
QUIET_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.websocket")
TRANSACTIONS = "sumchain.transactions"  # a line per mined transaction (silenced by -q)
METHOD_NAMES = "sumchain.rpc.methods"  # the name of every JSON-RPC method called (-v)
CONSOLE_QUEUE = 10_000  # lines held for a slow terminal before new ones are dropped


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


class ConsoleHandler(logging.Handler):
    """Plain message lines to ``stream`` (stdout) from a writer thread of its own.

    The node's worker thread only puts a line in a queue: a terminal that does not read
    (a full pipe) never holds back a block. Past ``CONSOLE_QUEUE`` waiting lines new ones
    are dropped and counted; once the stream is closed (``BrokenPipeError``) lines are
    let go silently, and the node keeps serving."""

    def __init__(self, stream: IO[str] | None = None, limit: int = CONSOLE_QUEUE) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self.lines: queue.Queue[str | None] = queue.Queue(limit)
        self.dropped = 0
        self.broken = False
        self._writer = threading.Thread(target=self._write, name="sumchain-console", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            self.lines.put_nowait(record.getMessage())
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        while True:
            line = self.lines.get()
            if line is None:
                return
            if self.broken:
                continue
            try:
                if self.dropped:
                    dropped, self.dropped = self.dropped, 0
                    self.stream.write(f"({dropped} console lines dropped: the terminal did not keep up)\n")
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the reader went away, or the stream closed
                self.broken = True
                silence_stdout()

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        try:
            self.lines.put(None, timeout=1.0)
            self._writer.join(timeout=2.0)
        except queue.Full:
            pass
        super().close()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so a closed pipe raises nothing more (not even at exit,
    when Python flushes it): what ``sumchain ... | head`` needs once head has gone."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def install_console(verbosity: int, quiet: bool) -> ConsoleHandler:
    """Logging for ``sumchain devnet``: warnings (every record at ``verbosity`` >= 2) on
    stderr, rate-limited; transaction lines unless ``quiet`` and method names from
    ``verbosity`` 1 on stdout, through one :class:`ConsoleHandler` (returned: close it)."""
    install(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    console = ConsoleHandler()
    for name, wanted in ((TRANSACTIONS, not quiet), (METHOD_NAMES, verbosity >= 1 and not quiet)):
        logger = logging.getLogger(name)
        logger.handlers = [console]
        logger.propagate = False
        logger.setLevel(logging.INFO if wanted else logging.WARNING)
    return console


# --- a line per transaction ---------------------------------------------------------------------


def transaction_line(
    tx_hash: bytes, block: int, gas_used: int, success: bool, contract: bytes | None, reason: str | None
) -> str:
    """One mined transaction: hash, block, gas used, status, and the contract it created
    or why it failed."""
    line = f"Transaction 0x{tx_hash.hex()} block {block} gas used {gas_used:,} " + (
        "success" if success else "failed"
    )
    if success and contract is not None:
        line += f", contract created {to_checksum_address(contract)}"
    if not success:
        line += f": {reason or 'no revert reason'}"
    return line


def transaction_lines(chain: Any) -> Callable[[Any, Sequence[Any]], None]:
    """A ``Chain.on_block`` listener logging :func:`transaction_line` for each
    transaction of a new block on ``TRANSACTIONS``, from the block and receipts it is
    handed (nothing is read back from the store). A failed one's revert reason is found
    by tracing it (its block re-executed on the parent state: only failures pay)."""
    from chain.vm import contract_address

    log = logging.getLogger(TRANSACTIONS)

    def on_block(block: Any, receipts: Sequence[Any]) -> None:
        if not block.transactions or not log.isEnabledFor(logging.INFO):
            return
        number = block.header.block_number
        try:
            previous = 0
            for tx, receipt in zip(block.transactions, receipts, strict=True):
                success = receipt.state_root == b"\x01"  # post-Byzantium status
                created = contract_address(tx.sender, tx.nonce) if tx.to == b"" and success else None
                reason = None if success else _revert_reason(chain, tx.hash)
                log.info(
                    "%s",
                    transaction_line(tx.hash, number, receipt.gas_used - previous, success, created, reason),
                )
                previous = receipt.gas_used
        except Exception:  # a console line must never undo or hide a sealed block
            logging.getLogger("sumchain.backend").exception("writing the lines of block %d failed", number)

    return on_block


def _revert_reason(chain: Any, tx_hash: bytes) -> str | None:
    from chain.errors import TraceError
    from chain.tracing import trace_transaction
    from vm_contracts.revert import revert_reason

    try:
        root = trace_transaction(chain, tx_hash).root
    except TraceError:
        return None
    if root.error is None:
        return None
    if root.error != "execution reverted":
        return root.error
    if not root.output:
        return "execution reverted"
    reason = revert_reason(root.output)
    if reason is not None:
        return f"execution reverted: {reason}"
    decoded = _framework_errors().decode(root.output)
    if decoded.name == "UnknownError":
        return f"execution reverted: custom error 0x{root.output[:4].hex()}"
    return f"execution reverted: {decoded}"


@functools.cache
def _framework_errors() -> Any:
    """An ``ErrorDecoder`` for every custom error of the framework's contracts, so a
    model update's failure reads ``DepositTooLow(required=..., sent=...)``."""
    import json
    from importlib.resources import files

    from vm_contracts.deploy import DEFAULT_EVM_VERSION
    from vm_contracts.revert import ErrorDecoder

    folder = files("vm_contracts") / "artifacts" / DEFAULT_EVM_VERSION
    abis = [
        json.loads(entry.read_text()).get("abi", [])
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    ]
    return ErrorDecoder(abis)
