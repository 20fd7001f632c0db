"""What every ``sumchain`` command shares on its command line: exit codes, the usage
error, value parsers that turn a bad value into one clear line, the options several
commands take (``--datadir``, ``--rpc``, ``--host``/``--port``, ``--chain-id``,
``--vocabulary``), each defined once, the examples every ``--help`` ends with, and the
old spellings of renamed flags (:func:`add_deprecated`).

One flag name means one thing in every command (the README's "The command line" lists
them): ``--block`` one block, ``--from-block``/``--to-block`` the first and last block
of a range, ``--datadir`` a chain's data directory (``--new-datadir`` the one a command
creates beside it), ``--from`` the sending account, ``--out`` the folder results go to,
``--vocab-size`` a vocabulary's size in words and ``--words`` the words of one sample.

``node.cli`` and the modules of ``node.commands`` import it; it imports neither.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from chain.errors import ConfigError

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags and errors the user can fix (argparse's code, too)
EXIT_INTERRUPTED = 130
MAX_SECONDS = 86_400  # the longest block time or timeout a flag accepts
SECP256K1_ORDER = 2**256 - 2**32 - 977  # a private key is from 1 to this, exclusive
WEI_PER_ETHER = 10**18
EXAMPLES_HEADING = "examples:"


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


def ether(text: str) -> int:
    """An amount of ether (``10000``, ``0.5``, ``1_000``) as wei; no more than 18 decimals."""
    try:
        amount = Decimal(text.replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of ether: {text!r}") from None
    wei = amount * WEI_PER_ETHER
    if not amount.is_finite() or amount < 0 or wei != wei.to_integral_value():
        raise argparse.ArgumentTypeError(f"must be ether >= 0 with at most 18 decimals, got {text!r}")
    return int(wei)


def count(text: str) -> int:
    """A whole number >= 0."""
    value = _number(text, lambda t: int(t.replace("_", ""), 0), "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
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


# --- help and renamed flags -----------------------------------------------------------------------


def examples(*lines: str) -> str:
    """The epilog of a command's ``--help``: ``examples:`` and one command a line, each
    ``command  # what it does`` (tests/node/test_cli_flags.py parses every one)."""
    return "\n".join([EXAMPLES_HEADING, *(f"  {line}" for line in lines)])


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but an ``examples:`` epilog keeps its lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADING):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class _Deprecated(argparse.Action):
    """An old spelling of a flag: hidden from ``--help``, stores into the new flag's
    ``dest`` and prints one note on stderr saying the new name."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, flag: bool = False, **kwargs: Any):
        self.new = new
        self.flag = flag
        super().__init__(option_strings, dest, nargs=0 if flag else None, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        advice = f"use {self.new}" if self.new.startswith("-") else self.new
        print(
            f"{parser.prog}: note: {option} is deprecated and goes in the next release; {advice}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, True if self.flag else values)


def add_deprecated(parser: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept ``old`` for one more release as a hidden alias of ``new`` (same ``dest``);
    ``flag=True`` for a switch without a value. ``new`` is the flag to use instead, or
    (not starting with ``-``) a sentence saying why none is needed."""
    parser.add_argument(old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, **kwargs)


def require(args: argparse.Namespace, **flags: str) -> None:
    """A flag that has a deprecated alias cannot be ``required=True`` in argparse (the
    alias would not count): refuse here, in one line, when ``dest`` is unset."""
    for dest, flag in flags.items():
        if getattr(args, dest, None) is None:
            raise UsageError(f"the following arguments are required: {flag}")
