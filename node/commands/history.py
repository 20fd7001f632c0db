"""``sumchain export | import | replay | rewind | fork``: the chain's history as files.

* ``export FILE --datadir DIR [--from-block A] [--to-block B]`` writes blocks as
  concatenated RLP (as ``geth export``) and ``FILE.genesis.json`` beside it (the
  configuration that rebuilds genesis).
* ``import FILE --datadir NEWDIR`` verifies every block into an empty directory.
* ``replay FILE [--to-block N] [--datadir NEWDIR]`` re-executes the export from
  genesis (in memory unless a directory is given), verifying every seal, signer rule
  and root, with a progress bar in blocks/s and Mgas/s; the first invalid block stops
  it with one line naming the block and the check.
* ``rewind N --datadir DIR [--keep-txs]`` moves a stopped node's head back to block N
  and forgets the dropped blocks' transactions (rewinding undoes a model's history, so
  a restart must not mine them again); ``--keep-txs`` puts them back in the pool.
  ``rewind N --rpc URL`` asks a running node through ``debug_setHead``.
* ``fork --datadir DIR --block N --new-datadir NEWDIR [--chain-id ID]`` starts a new
  chain from the state at block N.

``--config FILE`` on import and replay rebuilds genesis from a chain configuration
instead of the export's genesis file (for exports made by other tools).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from node import options
from node.options import UsageError

BAR_UNIT = "block"


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = subparsers.add_parser(
        "export",
        help="write the chain's blocks to an RLP file",
        epilog=options.examples(
            "sumchain export chain.rlp --datadir ./data                  # every block",
            "sumchain export part.rlp --datadir ./data --from-block 10 --to-block 20",
        ),
    )
    export.add_argument("file", type=Path, help="the export file to write")
    options.add_datadir(export, "data directory of a stopped node", required=True)
    export.add_argument("--from-block", type=int, default=1, metavar="N", help="first block (default 1)")
    export.add_argument("--to-block", type=int, metavar="N", help="last block (default the head)")
    options.add_deprecated(export, "--first", "--from-block", "from_block", type=int)
    options.add_deprecated(export, "--last", "--to-block", "to_block", type=int)
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.set_defaults(func=run_export)

    imp = subparsers.add_parser(
        "import",
        help="verify and import an RLP export into an empty directory",
        epilog=options.examples(
            "sumchain import chain.rlp --datadir ./data-copy",
            "sumchain import chain.rlp --datadir ./data-copy --to-block 100 --config chain.toml",
        ),
    )
    imp.add_argument("file", type=Path, help="the export file")
    options.add_datadir(imp, "new (empty) data directory", required=True)
    imp.add_argument("--to-block", type=int, metavar="N", help="last block to import (default: all)")
    imp.add_argument("--config", type=Path, help="chain config to rebuild genesis from")
    imp.set_defaults(func=run_import)

    rep = subparsers.add_parser(
        "replay",
        help="re-execute an export from genesis, verifying every block",
        epilog=options.examples(
            "sumchain replay chain.rlp                        # verify every block, in memory",
            "sumchain replay chain.rlp --to-block 42 -q       # up to block 42, no progress bar",
            "sumchain replay chain.rlp --datadir ./replayed   # keep the replayed chain",
        ),
    )
    rep.add_argument("file", type=Path, help="the export file")
    rep.add_argument("--to-block", type=int, metavar="N", help="last block to replay (default: all)")
    options.add_datadir(rep, "keep the replayed chain in this new directory")
    rep.add_argument("--config", type=Path, help="chain config to rebuild genesis from")
    rep.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(func=run_replay)

    rew = subparsers.add_parser(
        "rewind",
        help="move a node's head back to block N, forgetting the later transactions",
        description="Move the head back to block N. The dropped blocks stay in the archive; "
        "their transactions are forgotten, so a restart does not mine them again "
        "(--keep-txs puts them back in the pool).",
        epilog=options.examples(
            "sumchain rewind 42 --datadir ./data              # a stopped node; later transactions dropped",
            "sumchain rewind 42 --datadir ./data --keep-txs   # ... and put back in the pool",
            "sumchain rewind 42 --rpc http://127.0.0.1:8545   # a running node (debug_setHead)",
        ),
    )
    rew.add_argument("number", type=int, help="the new head")
    options.add_datadir(rew, "data directory of a stopped node")
    options.add_rpc(
        rew,
        "a running node: calls its debug_setHead (which forgets the dropped transactions)",
    )
    rew.add_argument(
        "--keep-txs",
        action="store_true",
        help="put the dropped blocks' transactions back in the pool (mined again on the next start)",
    )
    options.add_deprecated(
        rew, "--drop-txs", "dropping the transactions is the default now", "drop_txs", flag=True
    )
    rew.set_defaults(func=run_rewind)

    fork = subparsers.add_parser(
        "fork",
        help="start a new chain from the state at a block",
        epilog=options.examples(
            "sumchain fork --datadir ./data --block 42 --new-datadir ./data-fork",
            "sumchain fork --datadir ./data --block latest --new-datadir ./data-fork --chain-id 4242",
        ),
    )
    options.add_datadir(fork, "data directory of the source chain (a stopped node)")
    fork.add_argument("--block", required=True, help="block number or tag whose state starts the new chain")
    fork.add_argument("--new-datadir", type=Path, metavar="NEWDIR", help="new (empty) data directory")
    options.add_deprecated(fork, "--from", "--datadir", "datadir", type=Path)
    options.add_deprecated(fork, "--to", "--new-datadir", "new_datadir", type=Path)
    options.add_chain_id(fork, "chain id of the new chain (default: the source's)")
    fork.set_defaults(func=run_fork)


def _require_data_dir(datadir: Path) -> None:
    if not (datadir / "sumchain.json").is_file():
        raise UsageError(f"{datadir} is not a sumchain data directory (no sumchain.json)")


def _open_existing(datadir: Path) -> Any:
    """The ledger alone (export reads blocks; it needs no pool)."""
    from chain.chain import Chain

    _require_data_dir(datadir)
    return Chain.open(data_dir=datadir)


def _config(path: Path | None) -> Any:
    if path is None:
        return None
    from chain.config import ChainConfig

    return ChainConfig.load(path)


def run_export(args: argparse.Namespace) -> int:
    from chain.history import export_blocks, genesis_path

    if args.file.exists() and not args.force:
        raise UsageError(f"{args.file} exists; nothing was written (use --force to overwrite)")
    chain = _open_existing(args.datadir)
    try:
        count = export_blocks(chain, args.file, first=args.from_block, last=args.to_block)
    finally:
        chain.close()
    print(f"exported {count} blocks to {args.file} (genesis in {genesis_path(args.file)})")
    return 0


class _Bar:
    """A tqdm progress bar fed by :class:`chain.history.Progress` reports."""

    def __init__(self, quiet: bool) -> None:
        self._bar: Any = None
        self._quiet = quiet

    def __call__(self, progress: Any) -> None:
        if self._quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=progress.file_bytes,
                unit="B",
                unit_scale=True,
                desc="replay",
                file=sys.stderr,
                leave=True,
            )
        self._bar.set_postfix_str(
            f"block {progress.number}, {progress.blocks_per_second:.1f} blocks/s, "
            f"{progress.mgas_per_second:.2f} Mgas/s",
            refresh=False,
        )
        self._bar.update(progress.offset - self._bar.n)  # redraws at most every mininterval

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _summary(result: Any) -> str:
    return (
        f"{result.imported} blocks verified ({result.skipped} already known), head {result.head}, "
        f"{result.seconds:.2f} s, {result.blocks_per_second:.1f} blocks/s, "
        f"{result.mgas_per_second:.2f} Mgas/s"
    )


def run_import(args: argparse.Namespace) -> int:
    from chain.history import import_blocks, open_for_import

    chain = open_for_import(args.file, args.datadir, _config(args.config))
    bar = _Bar(quiet=False)
    try:
        result = import_blocks(chain, args.file, args.to_block, bar)
    finally:
        bar.close()
        chain.close()
    print(f"imported into {args.datadir}: {_summary(result)}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from chain.history import replay

    bar = _Bar(quiet=args.quiet)
    try:
        chain, result = replay(args.file, args.to_block, _config(args.config), args.datadir, bar)
    finally:
        bar.close()
    try:
        head = chain.head
        print(
            f"replayed: {_summary(result)}; block {head.block_number} hash 0x{head.hash.hex()} "
            f"state root 0x{head.state_root.hex()}"
        )
    finally:
        chain.close()
    return 0


def run_rewind(args: argparse.Namespace) -> int:
    from chain.history import rewind
    from node.assemble import assemble

    if (args.rpc is None) == (args.datadir is None):
        raise UsageError("give exactly one of --datadir DIR (a stopped node) or --rpc URL (a running one)")
    if args.rpc is not None:
        if args.keep_txs:
            raise UsageError("--keep-txs needs --datadir: debug_setHead forgets the dropped transactions")
        return _rewind_over_rpc(args.rpc, args.number)
    _require_data_dir(args.datadir)
    node = assemble(data_dir=args.datadir, mode="manual")  # with --keep-txs the pool takes them back
    try:
        before = node.chain.head.block_number
        dropped = rewind(node.chain, args.number, drop_txs=not args.keep_txs)
        pending = len(node.pool.pending())
    finally:
        node.close()
    txs = sum(len(block.transactions) for block in dropped)
    fate = (
        f"put back in the pool ({pending} pending now)"
        if args.keep_txs
        else f"dropped ({pending} pending now)"
    )
    print(
        f"head moved from block {before} to block {args.number}: {len(dropped)} blocks dropped "
        f"(kept in the archive), their {txs} transactions {fate}"
    )
    return 0


def _rewind_over_rpc(url: str, number: int) -> int:
    from web3.types import RPCEndpoint

    from vm_contracts.deploy import connect
    from vm_contracts.errors import NodeUnreachable

    try:
        w3 = connect(url)
    except NodeUnreachable as exc:
        raise UsageError(str(exc)) from None
    before = int(w3.eth.block_number)
    if number > before:
        raise UsageError(f"block {number} is beyond the head (block {before})")
    response = w3.provider.make_request(RPCEndpoint("debug_setHead"), [hex(number)])
    if "error" in response:
        raise UsageError(f"the node refused debug_setHead: {response['error'].get('message')}")
    print(f"head moved from block {before} to block {number} (via debug_setHead at {url})")
    return 0


def run_fork(args: argparse.Namespace) -> int:
    from chain.history import fork_chain

    options.require(args, datadir="--datadir", new_datadir="--new-datadir")
    block: int | str = args.block
    try:
        block = int(args.block, 0)
    except ValueError:
        pass
    result = fork_chain(args.datadir, block, args.new_datadir, chain_id=args.chain_id)
    print(
        f"new chain in {result.data_dir}: genesis {result.genesis_hash} = the state of block "
        f"{result.block} of {args.datadir} ({result.accounts} accounts, "
        f"{result.contracts} contracts, "
        f"{result.trie_nodes} trie nodes), chain id {result.chain_id}"
    )
    return 0
