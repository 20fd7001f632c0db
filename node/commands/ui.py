"""``sumchain ui``: the dashboard for the models on a chain, served on 127.0.0.1.

It talks to any node over JSON-RPC (``--rpc URL``: sumchain, anvil, geth). Dev accounts
the node signs for can add data, refund, report and revert; otherwise the browser's own
wallet (``window.ethereum``) signs. ``sumchain devnet --ui`` serves the same dashboard
under ``/ui`` on the devnet's own port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from node import options
from node.options import EXIT_OK, UsageError

DEFAULT_PORT = 8546


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "ui",
        help="a web dashboard for the models on a chain",
        description=__doc__.split("\n\n")[0],
        epilog=options.examples(
            "sumchain ui                                         # for the node on :8545, on :8546",
            "sumchain ui --rpc http://127.0.0.1:8545 --port 9000 --vocabulary vocab.json",
        ),
    )
    options.add_rpc(parser, "the node (default :8545)", default="http://127.0.0.1:8545")
    options.add_listen(parser, DEFAULT_PORT, "interface (default 127.0.0.1)")
    options.add_chain_id(parser, "refuse a node on another chain")
    options.add_vocabulary(parser, "a vocabulary JSON (Vocabulary.save) so text can be typed for its models")
    parser.set_defaults(func=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    from aiohttp import web

    from node.ui.app import Dashboard, application, load_vocabularies

    dashboard = Dashboard(args.rpc, load_vocabularies(args.vocabulary), args.chain_id)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runner = web.AppRunner(application(dashboard), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, args.host, args.port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else args.port
        print(f"sumchain ui on http://{args.host}:{port}/ (node {args.rpc})", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())
    return EXIT_OK
