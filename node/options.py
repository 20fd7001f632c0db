"""What every ``sumchain`` command shares on its command line: exit codes, the usage
error, value parsers that turn a bad value into one clear line, and the options
several commands take (``--datadir``, ``--rpc``, ``--host``/``--port``, ``--chain-id``,
``--vocabulary``), each defined once.

``node.cli`` and the modules of ``node.commands`` import it; it imports neither.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from chain.errors import ConfigError

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags and errors the user can fix (argparse's code, too)
EXIT_INTERRUPTED = 130
MAX_SECONDS = 86_400  # the longest block time or timeout a flag accepts
SECP256K1_ORDER = 2**256 - 2**32 - 977  # a private key is from 1 to this, exclusive


N = TypeVar("N", int, float)


class UsageError(Exception):
    """Raised when the command line cannot be acted on (bad flag value, busy port)."""


# --- value parsers (argparse ``type=``) ---------------------------------------------------------


def _number(text: str, convert: Callable[[str], N], what: str) -> N:
    """``convert(text)``, or one clear line saying ``text`` is not ``what``."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def port(text: str) -> int:
    value = _number(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, got {value}")
    return value


def chain_id(text: str) -> int:
    return _number(text, lambda t: int(t, 0), "an integer")


def positive_int(text: str) -> int:
    """A whole number > 0, in any base Python reads, ``_`` allowed (``50_000_000``)."""
    value = _number(text, lambda t: int(t.replace("_", ""), 0), "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def timeout(text: str) -> float:
    """Seconds, > 0 and at most a day."""
    value = _number(text, float, "a number of seconds")
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_SECONDS} seconds")
    return value


def block_time(text: str) -> float:
    """Whole seconds between blocks, > 0 and at most a day (the chain's block period)."""
    value = _number(text, float, "a number of seconds")
    if not value > 0 or value != value or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"block time must be > 0 and at most {MAX_SECONDS} seconds")
    if value != int(value):
        raise argparse.ArgumentTypeError("block time must be whole seconds (the block period)")
    return value


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list, trimmed and lower-cased, empty entries left out."""
    return tuple(name.strip().lower() for name in text.split(",") if name.strip())


def read_key(path: Path) -> bytes:
    """The 32-byte private key written as hex in ``path``; ConfigError otherwise."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"authority key file {path}: cannot read ({exc.strerror})") from None
    hex_text = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        key = bytes.fromhex(hex_text)
    except ValueError:
        raise ConfigError(f"authority key file {path}: not a hex private key") from None
    if len(key) != 32:
        raise ConfigError(f"authority key file {path}: a private key is 32 bytes, got {len(key)}")
    if not 0 < int.from_bytes(key, "big") < SECP256K1_ORDER:
        raise ConfigError(f"authority key file {path}: not a valid secp256k1 private key")
    return key


# --- options several commands take ----------------------------------------------------------------


def add_datadir(
    parser: argparse.ArgumentParser, help_text: str, required: bool = False, metavar: str | None = None
) -> None:
    parser.add_argument("--datadir", type=Path, required=required, metavar=metavar, help=help_text)


def add_rpc(parser: argparse.ArgumentParser, help_text: str, default: str | None = None) -> None:
    parser.add_argument("--rpc", default=default, metavar="URL", help=help_text)


def add_listen(parser: argparse.ArgumentParser, default_port: int, host_help: str) -> None:
    """``--host`` (default 127.0.0.1) and ``--port``."""
    parser.add_argument("--host", default="127.0.0.1", help=host_help)
    parser.add_argument("--port", type=port, default=default_port, help=f"port (default {default_port})")


def add_chain_id(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--chain-id", type=chain_id, help=help_text)


def add_vocabulary(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--vocabulary", type=Path, action="append", default=[], metavar="FILE", help=help_text
    )
