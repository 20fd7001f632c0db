"""The ``sumchain`` command line.

``sumchain devnet`` runs a node: it opens (or creates) the chain, prints a banner as
anvil does (the chain's settings, the funded dev accounts with their private keys, the
pending transactions and the RPC URL), serves JSON-RPC over HTTP and WebSocket until
Ctrl-C or SIGTERM, and prints a line per mined transaction (``-q`` silences it, ``-v``
adds each RPC method's name, ``-vv`` every DEBUG record). Restarting with the same
``--datadir`` continues the same chain.

Every subcommand is added by one ``add_<name>(subparsers)`` function listed in
``SUBCOMMANDS``; each sets ``func`` to a handler ``(args) -> exit code`` and ends its
``--help`` with examples. Errors a user can fix (a ``ChainError``, a bad flag, a busy
port) print one line on stderr and exit with code 2, never a traceback; a bare
``sumchain`` prints the usage (exit 2), and a closed stdout (``sumchain ... | head``)
ends the command quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from chain.errors import ChainError
from node import options
from node.options import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]

WEI_PER_ETHER = options.WEI_PER_ETHER
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a tool killed by a closed pipe exits with


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit code 2, and an
    ``examples:`` epilog keeps its lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", options.HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# --- devnet --------------------------------------------------------------------------------


def add_devnet(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from chain.config import (
        DEFAULT_ACCOUNT_BALANCE,
        DEFAULT_ACCOUNT_COUNT,
        DEFAULT_BASE_FEE,
        DEFAULT_CHAIN_ID,
        DEFAULT_GAS_LIMIT,
        FORKS,
    )
    from node.limits import Limits
    from node.server import ServerOptions

    parser = subparsers.add_parser(
        "devnet",
        help="run a local node (JSON-RPC over HTTP and WebSocket)",
        description="Run a sumchain node. Without --datadir the chain lives in memory. The "
        "flags that fix genesis (--chain-id, --accounts, --balance, --mnemonic, --gas-limit, "
        "--base-fee, --fork) override --config, and apply when a chain is created: a restart "
        "refuses a changed one.",
        epilog=options.examples(
            "sumchain devnet                                   # in memory, on http://127.0.0.1:8545",
            "sumchain devnet --datadir ./data                  # a restart continues the chain",
            "sumchain devnet --accounts 20 --balance 100 --chain-id 1337 --block-time 5",
            "sumchain devnet --gas-limit 60000000 --base-fee 1000000000 --fork shanghai -v",
            "sumchain devnet --config chain.toml --port 8547 --ui",
        ),
    )
    options.add_datadir(
        parser, "directory of the chain's store (created if missing; a restart continues the chain)"
    )
    options.add_listen(
        parser, 8545, "interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the unlocked dev accounts)"
    )
    parser.add_argument("--fork", choices=FORKS, help="hard fork rules (default cancun)")
    parser.add_argument(
        "--accounts",
        type=options.count,
        metavar="N",
        help=f"dev accounts to derive and fund (default {DEFAULT_ACCOUNT_COUNT})",
    )
    parser.add_argument(
        "--balance",
        type=options.ether,
        metavar="ETHER",
        help=f"genesis balance of each dev account (default {DEFAULT_ACCOUNT_BALANCE // WEI_PER_ETHER:,})",
    )
    parser.add_argument(
        "--mnemonic", metavar="PHRASE", help="BIP-39 phrase of the dev accounts (default: test test ... junk)"
    )
    parser.add_argument(
        "--gas-limit",
        type=options.positive_int,
        metavar="GAS",
        help=f"gas limit of every block (default {DEFAULT_GAS_LIMIT:,})",
    )
    parser.add_argument(
        "--base-fee",
        type=options.count,
        metavar="WEI",
        help=f"genesis base fee per gas, from London on (default {DEFAULT_BASE_FEE:,})",
    )
    parser.add_argument(
        "--block-time",
        type=options.block_time,
        metavar="SECONDS",
        help="mine a block every SECONDS (default: automine, a block per transaction)",
    )
    options.add_chain_id(parser, f"chain id (default {DEFAULT_CHAIN_ID})")
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
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: print each JSON-RPC method's name; -vv: every DEBUG log record",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no line per transaction (the banner stays)"
    )
    parser.set_defaults(func=run_devnet)


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from chain.config import ChainConfig

    overrides = {
        "chain_id": args.chain_id,
        "fork": args.fork,
        "block_period": int(args.block_time) if args.block_time else None,
        "accounts": args.accounts,
        "account_balance": args.balance,
        "mnemonic": args.mnemonic,
        "gas_limit": args.gas_limit,
        "base_fee": args.base_fee,
    }
    if args.config is not None:
        return ChainConfig.load(args.config, **overrides)
    return ChainConfig.from_dict({}, **overrides)


def _ether(wei: int) -> str:
    """A balance as anvil shows it (``10000.000000 ETH``); below a millionth of an ether,
    in wei, where six decimals would say ``0.000000``."""
    if 0 < wei < WEI_PER_ETHER // 10**6:
        return f"{wei:,} wei"
    return f"{wei / WEI_PER_ETHER:.6f} ETH"


def _section(title: str, *lines: str) -> list[str]:
    return ["", title, "=" * max(len(title), 18), *lines]


def _banner(backend, url: str, ws_url: str, data_dir: Path | None) -> str:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from chain.config import DEFAULT_HD_PATH

    config = backend.config
    chain = backend.chain
    state = chain.state_at()
    head = chain.head
    genesis = chain.genesis
    mining = (
        f"a block every {backend.producer.interval:g} s"
        if backend.producer.mode == "interval"
        else "automine"
    )
    born = datetime.fromtimestamp(genesis.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    base_fee = chain.next_base_fee()
    pending, queued = len(backend.pool.pending()), len(backend.pool.queued())
    lines = [
        f"sumchain devnet — chain id {config.chain_id}, fork {config.fork}, {mining}",
        f"head: block {head.block_number}",
    ]
    lines += _section("Available Accounts")
    for index, (address, _key) in enumerate(config.dev_accounts):
        lines.append(f"({index}) {address} ({_ether(state.get_balance(bytes.fromhex(address[2:])))})")
    lines += _section("Private Keys")
    for index, (_address, key) in enumerate(config.dev_accounts):
        lines.append(f"({index}) 0x{key.hex()}")
    lines += _section(
        "Wallet",
        f"Mnemonic:          {config.mnemonic}",
        f"Derivation path:   {DEFAULT_HD_PATH.format(index='')}",
    )
    lines += _section("Chain ID", str(config.chain_id))
    lines += _section("Fork", config.fork)
    genesis_fee = getattr(genesis, "base_fee_per_gas", None)
    lines += _section(
        "Base Fee",
        "none (before London)"
        if base_fee is None or genesis_fee is None
        else f"{genesis_fee:,} wei at genesis, {base_fee:,} wei for the next block",
    )
    lines += _section("Gas Limit", f"{head.gas_limit:,}")
    lines += _section("Genesis Timestamp", f"{genesis.timestamp} ({born})")
    lines += _section("Data Directory", str(data_dir) if data_dir is not None else "none (in memory)")
    lines += _section(
        "Pending Transactions",
        f"{pending} pending, {queued} queued"
        + (" (mined with the next block)" if pending and mining == "automine" else ""),
    )
    signer = chain.signer
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
    from node.logs import install_console, transaction_lines
    from node.server import ServerOptions

    console = install_console(args.verbose, args.quiet)
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
    node.chain.on_block(transaction_lines(node.chain))
    if _exposed(args.host):
        print(EXPOSED_WARNING.format(host=args.host), file=sys.stderr, flush=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)

        def ready(port: int) -> None:
            host = f"[{args.host}]" if ":" in args.host else args.host
            banner = _banner(backend, f"http://{host}:{port}", f"ws://{host}:{port}", args.datadir)
            _say(banner)
            if dashboard is not None:
                local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else host
                dashboard.rpc_url = f"http://{local}:{port}/"
                _say(f"Dashboard on http://{host}:{port}/ui/")

        try:
            await server.serve_until(args.host, args.port, stop, ready)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    try:
        asyncio.run(serve())
    finally:
        node.close()
        console.close()
    _say("sumchain devnet stopped")
    return EXIT_OK


def _say(text: str) -> None:
    """Print a line of the devnet's; once stdout is closed (``| head`` has gone) the
    node goes on serving, silently."""
    from node.logs import silence_stdout

    try:
        print(text, flush=True)
    except BrokenPipeError:
        silence_stdout()


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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sumchain")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sumchain",
        description="A proof-of-authority Ethereum devnet for Sharing Updatable Models.",
        epilog=options.examples(
            "sumchain devnet --datadir ./data                 # run a node",
            "sumchain demo                                    # train a model on an in-process chain",
            "sumchain model history 0x5FbDB2315678afecb367f032d93F642f64180aa3 --rpc http://127.0.0.1:8545",
            "sumchain COMMAND --help                          # a command's flags and examples",
        ),
    )
    parser.add_argument("--version", action="version", version=f"sumchain {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in [*SUBCOMMANDS, *_command_modules()]:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # stdout closed under us (`sumchain ... | head`): stop quietly
        from node.logs import silence_stdout

        silence_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or EXIT_OK)
    except (ChainError, UsageError) as exc:
        print(f"sumchain {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
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
