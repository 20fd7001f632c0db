"""The ``sumchain`` command line.

``sumchain devnet`` runs a node: it opens (or creates) the chain, prints the funded
dev accounts with their private keys and the RPC URL, as anvil does, and serves
JSON-RPC over HTTP and WebSocket until Ctrl-C or SIGTERM. Restarting with the same
``--datadir`` continues the same chain.

Every subcommand is added by one ``add_<name>(subparsers)`` function listed in
``SUBCOMMANDS``; each sets ``func`` to a handler ``(args) -> exit code``. Errors a
user can fix (a ``ChainError``, a bad flag, a busy port) print one line on stderr and
exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from chain.errors import ChainError, ConfigError

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags and errors the user can fix (argparse's code, too)
EXIT_INTERRUPTED = 130
WEI_PER_ETHER = 10**18


class UsageError(Exception):
    """Raised when the command line cannot be acted on (bad flag value, busy port)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# --- devnet --------------------------------------------------------------------------------


def _positive_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, got {port}")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value != value or value > 86_400:
        raise argparse.ArgumentTypeError("block time must be > 0 and at most 86400 seconds")
    if value != int(value):
        raise argparse.ArgumentTypeError("block time must be whole seconds (the block period)")
    return value


def _chain_id(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_devnet(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from chain.config import FORKS
    from node.rpc.dispatcher import Limits
    from node.server import ServerOptions

    parser = subparsers.add_parser(
        "devnet",
        help="run a local node (JSON-RPC over HTTP and WebSocket)",
        description="Run a sumchain node. Without --datadir the chain lives in memory.",
    )
    parser.add_argument(
        "--datadir",
        type=Path,
        help="directory of the chain's store (created if missing; a restart continues the chain)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the unlocked dev accounts)",
    )
    parser.add_argument("--port", type=_positive_port, default=8545, help="port (default 8545)")
    parser.add_argument("--fork", choices=FORKS, help="hard fork rules (default cancun)")
    parser.add_argument(
        "--block-time",
        type=_seconds,
        metavar="SECONDS",
        help="mine a block every SECONDS (default: automine, a block per transaction)",
    )
    parser.add_argument("--chain-id", type=_chain_id, help="chain id (default 31337)")
    parser.add_argument(
        "--authority-key",
        type=Path,
        metavar="FILE",
        help="file holding the sealing key as hex (default: the first dev account)",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="chain config, TOML or JSON")
    parser.add_argument(
        "--cors",
        metavar="ORIGINS",
        help="comma-separated origins whose browser pages may call the node over HTTP "
        "(default none; * for any)",
    )
    parser.add_argument(
        "--http-vhosts",
        metavar="NAMES",
        default="localhost",
        help="comma-separated host names accepted in the Host header; IP addresses always "
        "are (default localhost; * for any)",
    )
    parser.add_argument(
        "--ws-origins",
        metavar="ORIGINS",
        default="",
        help="comma-separated origins whose pages may open a WebSocket besides loopback "
        "ones (default none; * for any)",
    )
    parser.add_argument(
        "--rpc-gascap",
        type=_positive_int,
        metavar="GAS",
        default=Limits.gas_cap,
        help=f"gas at most for eth_call, eth_estimateGas and traces (default {Limits.gas_cap:,})",
    )
    parser.add_argument(
        "--rpc-timeout",
        type=_timeout,
        metavar="SECONDS",
        default=Limits.call_timeout,
        help=f"stop eth_call, estimates and traces after SECONDS (default {Limits.call_timeout:g})",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        default=ServerOptions.max_connections,
        help=f"open connections at most (default {ServerOptions.max_connections})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_timeout,
        metavar="SECONDS",
        default=ServerOptions.idle_timeout,
        help=f"close a connection idle that long between requests (default {ServerOptions.idle_timeout:g})",
    )
    parser.add_argument(
        "--header-timeout",
        type=_timeout,
        metavar="SECONDS",
        default=ServerOptions.header_timeout,
        help="close a connection that has not sent a whole request after SECONDS "
        f"(default {ServerOptions.header_timeout:g})",
    )
    parser.add_argument("--ui", action="store_true", help="serve the dashboard under /ui on the same port")
    parser.add_argument(
        "--vocabulary",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="with --ui: a vocabulary JSON so text can be typed for its models",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.set_defaults(func=run_devnet)


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError("must be > 0 and at most 86400 seconds")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in text.split(",") if name.strip())


def _read_key(path: Path) -> bytes:
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
    if not 0 < int.from_bytes(key, "big") < 2**256 - 2**32 - 977:
        raise ConfigError(f"authority key file {path}: not a valid secp256k1 private key")
    return key


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from chain.config import ChainConfig

    overrides = {
        "chain_id": args.chain_id,
        "fork": args.fork,
        "block_period": int(args.block_time) if args.block_time else None,
    }
    if args.config is not None:
        return ChainConfig.load(args.config, **overrides)
    return ChainConfig.from_dict({}, **overrides)


def _banner(backend, url: str, ws_url: str) -> str:  # type: ignore[no-untyped-def]
    config = backend.config
    state = backend.chain.state_at()
    lines = [
        f"sumchain devnet — chain id {config.chain_id}, fork {config.fork}, "
        + (
            f"a block every {backend.producer.interval:g} s"
            if backend.producer.mode == "interval"
            else "automine"
        ),
        f"head: block {backend.head().block_number}",
        "",
        "Available Accounts",
        "==================",
    ]
    for index, (address, _key) in enumerate(config.dev_accounts):
        balance = state.get_balance(bytes.fromhex(address[2:]))
        lines.append(f"({index}) {address} ({balance / WEI_PER_ETHER:.6f} ETH)")
    lines += ["", "Private Keys", "=================="]
    for index, (_address, key) in enumerate(config.dev_accounts):
        lines.append(f"({index}) 0x{key.hex()}")
    signer = backend.chain.signer
    lines += [
        "",
        f"Sealing as: {('0x' + signer.hex()) if signer else 'nobody (no authority key)'}",
        "",
        f"Listening on {url} (WebSocket {ws_url})",
    ]
    return "\n".join(lines)


SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL while another waits for it
EXPOSED_WARNING = (
    "warning: listening on {host}: every machine that reaches it can use the unlocked "
    "dev accounts (their keys are printed below)"
)


def _exposed(host: str) -> bool:
    """True unless ``host`` is a loopback address or name."""
    import ipaddress

    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True


def run_devnet(args: argparse.Namespace) -> int:
    from node.backend import Backend
    from node.logs import install
    from node.rpc.dispatcher import Dispatcher, Limits
    from node.server import ServerOptions, serve_until_stopped

    install(logging.DEBUG if args.verbose else logging.WARNING)
    # hand the GIL over every millisecond, not every five: a read waiting behind a call or
    # a block build gets it sooner (bench/read_latency.py)
    sys.setswitchinterval(SWITCH_INTERVAL)
    config = _config(args)
    key = _read_key(args.authority_key) if args.authority_key else None
    limits = Limits(gas_cap=args.rpc_gascap, call_timeout=args.rpc_timeout)
    vhosts = _names(args.http_vhosts)
    if args.host not in ("0.0.0.0", "::") and not _is_ip_text(args.host):
        vhosts = (*vhosts, args.host.lower())
    options = ServerOptions(
        vhosts=vhosts,
        ws_origins=tuple(o.strip() for o in args.ws_origins.split(",") if o.strip()),
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        header_timeout=args.header_timeout,
    )
    backend = Backend.open(config, data_dir=args.datadir, signer_key=key, block_time=args.block_time)
    dispatcher = Dispatcher(backend, limits)
    if _exposed(args.host):
        print(EXPOSED_WARNING.format(host=args.host), file=sys.stderr, flush=True)
    subapps, dashboard = {}, None
    if args.ui:
        from node.ui.app import Dashboard, application, load_vocabularies

        dashboard = Dashboard(None, load_vocabularies(args.vocabulary), config.chain_id)
        subapps["/ui/"] = application(dashboard)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)

        def ready(port: int) -> None:
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(_banner(backend, f"http://{host}:{port}", f"ws://{host}:{port}"), flush=True)
            if dashboard is not None:
                local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else host
                dashboard.rpc_url = f"http://{local}:{port}/"
                print(f"Dashboard on http://{host}:{port}/ui/", flush=True)

        try:
            await serve_until_stopped(
                dispatcher, args.host, args.port, args.cors, stop, ready, options, subapps
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    try:
        asyncio.run(serve())
    finally:
        dispatcher.run_sync(backend.close)
        dispatcher.close()
    print("sumchain devnet stopped", flush=True)
    return EXIT_OK


def _is_ip_text(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


# --- entry point -------------------------------------------------------------------------


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_devnet]  # type: ignore[type-arg]


def _command_modules() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """``add`` of every module in ``node.commands``, in name order."""
    import importlib
    import pkgutil

    import node.commands

    adders = []
    for info in sorted(pkgutil.iter_modules(node.commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"node.commands.{info.name}")
        adders.append(module.add)
    return adders


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sumchain",
        description="A proof-of-authority Ethereum devnet for Sharing Updatable Models.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in [*SUBCOMMANDS, *_command_modules()]:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except (ChainError, UsageError) as exc:
        print(f"sumchain {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        from bench.errors import BenchError
        from vm_contracts.errors import VmContractsError

        if isinstance(exc, (VmContractsError, BenchError)):
            print(f"sumchain {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if os.environ.get("SUMCHAIN_DEBUG"):
            raise
        print(
            f"sumchain {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set SUMCHAIN_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    # Run the module's importable twin: under ``python -m`` this file is ``__main__``,
    # and the commands' ``UsageError`` (imported from ``node.cli``) would be another class.
    from node.cli import main as _main

    sys.exit(_main())
