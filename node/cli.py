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

from chain.errors import ChainError
from node import options
from node.options import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]

WEI_PER_ETHER = 10**18


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# --- devnet --------------------------------------------------------------------------------


def add_devnet(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from chain.config import FORKS
    from node.limits import Limits
    from node.server import ServerOptions

    parser = subparsers.add_parser(
        "devnet",
        help="run a local node (JSON-RPC over HTTP and WebSocket)",
        description="Run a sumchain node. Without --datadir the chain lives in memory.",
    )
    options.add_datadir(
        parser, "directory of the chain's store (created if missing; a restart continues the chain)"
    )
    options.add_listen(
        parser, 8545, "interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the unlocked dev accounts)"
    )
    parser.add_argument("--fork", choices=FORKS, help="hard fork rules (default cancun)")
    parser.add_argument(
        "--block-time",
        type=options.block_time,
        metavar="SECONDS",
        help="mine a block every SECONDS (default: automine, a block per transaction)",
    )
    options.add_chain_id(parser, "chain id (default 31337)")
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
    limits = [  # flag, value parser, metavar, default, help
        (
            "--rpc-gascap",
            options.positive_int,
            "GAS",
            Limits.gas_cap,
            f"gas at most for eth_call, eth_estimateGas and traces (default {Limits.gas_cap:,})",
        ),
        (
            "--rpc-timeout",
            options.timeout,
            "SECONDS",
            Limits.call_timeout,
            f"stop eth_call, estimates and traces after SECONDS (default {Limits.call_timeout:g})",
        ),
        (
            "--max-connections",
            options.positive_int,
            "N",
            ServerOptions.max_connections,
            f"open connections at most (default {ServerOptions.max_connections})",
        ),
        (
            "--idle-timeout",
            options.timeout,
            "SECONDS",
            ServerOptions.idle_timeout,
            f"close a connection idle that long between requests (default {ServerOptions.idle_timeout:g})",
        ),
        (
            "--header-timeout",
            options.timeout,
            "SECONDS",
            ServerOptions.header_timeout,
            "close a connection that has not sent a whole request after SECONDS "
            f"(default {ServerOptions.header_timeout:g})",
        ),
    ]
    for flag, parse, metavar, default, text in limits:
        parser.add_argument(flag, type=parse, metavar=metavar, default=default, help=text)
    parser.add_argument("--ui", action="store_true", help="serve the dashboard under /ui on the same port")
    options.add_vocabulary(parser, "with --ui: a vocabulary JSON so text can be typed for its models")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.set_defaults(func=run_devnet)


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
    from node.assemble import assemble
    from node.limits import Limits
    from node.logs import install
    from node.server import ServerOptions

    install(logging.DEBUG if args.verbose else logging.WARNING)
    # hand the GIL over every millisecond, not every five: a read waiting behind a call or
    # a block build gets it sooner (bench/read_latency.py)
    sys.setswitchinterval(SWITCH_INTERVAL)
    config = _config(args)
    key = options.read_key(args.authority_key) if args.authority_key else None
    limits = Limits(gas_cap=args.rpc_gascap, call_timeout=args.rpc_timeout)
    vhosts = options.names(args.http_vhosts)
    if args.host not in ("0.0.0.0", "::") and not _is_ip_text(args.host):
        vhosts = (*vhosts, args.host.lower())
    server_options = ServerOptions(
        vhosts=vhosts,
        ws_origins=tuple(o.strip() for o in args.ws_origins.split(",") if o.strip()),
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        header_timeout=args.header_timeout,
    )
    subapps, dashboard = {}, None
    if args.ui:
        from node.ui.app import Dashboard, application, load_vocabularies

        dashboard = Dashboard(None, load_vocabularies(args.vocabulary), config.chain_id)
        subapps["/ui/"] = application(dashboard)
    node = assemble(
        config,
        args.datadir,
        signer_key=key,
        block_time=args.block_time,
        limits=limits,
        server=server_options,
        cors=args.cors,
        subapps=subapps,
    )
    backend, server = node.backend, node.server
    assert server is not None
    if _exposed(args.host):
        print(EXPOSED_WARNING.format(host=args.host), file=sys.stderr, flush=True)

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
            await server.serve_until(args.host, args.port, stop, ready)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    try:
        asyncio.run(serve())
    finally:
        node.close()
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
    # The commands' UsageError lives in node.options, which ``python -m node.cli``
    # imports once, so the one caught here is theirs.
    sys.exit(main())
