"""Versioning cost: reading a model at an old block vs reaching it by replay.

Builds one chain: a SparsePerceptron trainer (``--features`` weights) trained by
``--updates`` addData transactions, then as many empty blocks as the deepest depth
asked for (sealed back to back). It then measures

* the time to read the *full* model (every parameter, via ``Framework.read_model``) at
  depth d blocks behind the head, for each d in ``--depths`` (median of ``--repeats``
  reads, wall and this process's CPU), once per read method in ``--vias``: ``storage``
  (the default: the storage words in one ``eth_call`` with a code override) and
  ``getters`` (the paged getters, the plain path); both give the same dict, checked
  here on every read. This should not depend on d, since a historical state is one
  state root away;
* the time to reach the same model the trustless way: export the chain, replay it
  from genesis into a fresh chain (verifying every seal and root) up to block
  head - d, then read it. One replay run gives the time to every block, since
  replay is sequential;
* replay speed in Mgas/s over the training blocks and over the whole chain.

    python -m bench.history --depths 10 1000 10000 --out bench/results/history

The default depths stop at 10,000 because sealing empty blocks one by one costs a
few milliseconds each; read latency is flat, so 100,000 blocks back costs the same
read while replay time grows linearly with the number of blocks (the report
extrapolates it from the measured blocks/s and says so).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.outputs import default_out, out_help, write_rows
from bench.provenance import command_line, machine_line

DEFAULT_DEPTHS = (10, 1_000, 10_000)
DEFAULT_FEATURES = 1_000  # weights in the model read at each depth
DEFAULT_UPDATES = 20  # addData transactions that train the model
DEFAULT_REPEATS = 5  # reads per depth; the median is reported
DEFAULT_VIAS = ("storage", "getters")  # Framework.read_model's read methods, timed in turn
EXTRAPOLATED_DEPTH = 100_000  # blocks: the depth the issue asks about, extrapolated if not run
MEGA = 1_000_000


def build_chain(features: int, updates: int, empty_blocks: int, store: str, workdir: Path) -> dict[str, Any]:
    from chain.chain import Chain
    from chain.config import ChainConfig
    from node.provider import SumchainProvider, poa_web3
    from vm_contracts.client import deploy_framework
    from vm_contracts.encoding import SCALE

    data_dir = workdir / "data" if store == "lmdb" else None
    chain = Chain.open(ChainConfig(genesis_timestamp=1_700_000_000), data_dir=data_dir, sync=False)
    provider = SumchainProvider(chain)
    w3 = poa_web3(provider)
    dispatcher = provider.dispatcher
    framework = deploy_framework(
        w3, "SparsePerceptron", "Points", params={"num_features": features, "learning_rate": SCALE}
    )
    contributor = list(w3.eth.accounts)[1]
    for index in range(updates):
        sample = [(index * 37 + k * 11) % features for k in range(20)]
        framework.add_data(sorted(set(sample)), index % 2, contributor)
    trained = w3.eth.block_number
    started = time.perf_counter()

    def seal_empty(count: int) -> None:
        for _ in range(count):
            chain.build_block([])

    dispatcher.run_sync(seal_empty, empty_blocks)
    seal_seconds = time.perf_counter() - started
    return {
        "chain": chain,
        "w3": w3,
        "framework": framework,
        "trained": trained,
        "seal_seconds": seal_seconds,
        "dispatcher": dispatcher,
    }


def timed_read(
    framework: Any, block: int, repeats: int, via: str = "storage"
) -> tuple[float, dict[str, Any], float]:
    """(median wall seconds, the state read, median CPU seconds of this process)."""
    times, cpu_times = [], []
    state: dict[str, Any] = {}
    for _ in range(repeats):
        cpu, start = time.process_time(), time.perf_counter()
        state = framework.read_model(block=block, via=via)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
    return statistics.median(times), state, statistics.median(cpu_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", type=int, nargs="+", default=list(DEFAULT_DEPTHS))
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES)
    parser.add_argument("--updates", type=int, default=DEFAULT_UPDATES)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--store", choices=("memory", "lmdb"), default="lmdb")
    parser.add_argument(
        "--vias",
        default=",".join(DEFAULT_VIAS),
        help="read methods to time, the first one reported first (default: storage,getters)",
    )
    parser.add_argument("--out", type=Path, default=None, help=out_help("history"))
    args = parser.parse_args(argv)

    from chain.history import export_blocks, replay
    from vm_contracts.versions import parameters

    vias = [v.strip() for v in args.vias.split(",") if v.strip()]
    from vm_contracts.client import READ_VIAS

    unknown = [v for v in vias if v not in READ_VIAS]
    if unknown or not vias:
        parser.error(f"--vias: choose from {', '.join(READ_VIAS)}")
    deepest = max(args.depths)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        built = build_chain(args.features, args.updates, deepest, args.store, workdir)
        chain, framework, dispatcher = built["chain"], built["framework"], built["dispatcher"]
        head = int(built["w3"].eth.block_number)
        print(
            f"chain: {head} blocks ({built['trained']} with the trainer's history, "
            f"{deepest} empty, "
            f"sealed at {deepest / built['seal_seconds']:.0f} blocks/s)",
            file=sys.stderr,
        )
        reads = {}
        timings: dict[tuple[int, str], tuple[float, float]] = {}  # (depth, via) -> (wall, CPU)
        for depth in sorted(args.depths):
            states = []
            for via in vias:
                seconds, state, cpu = timed_read(framework, head - depth, args.repeats, via)
                timings[depth, via] = (seconds, cpu)
                states.append(state)
                print(f"read at depth {depth} via {via}: {seconds * 1000:.1f} ms", file=sys.stderr)
            assert all(s == states[0] for s in states), f"the read methods disagree at depth {depth}"
            reads[depth] = (timings[depth, vias[0]][0], states[0])
        export = workdir / "chain.rlp"
        dispatcher.run_sync(export_blocks, chain, export)
        reached: dict[int, float] = {}
        gas_at: dict[int, int] = {}

        def progress(p: Any) -> None:
            reached[p.number] = p.seconds
            gas_at[p.number] = p.gas

        replayed, result = replay(export, progress=progress)
        dispatcher.run_sync(chain.close)
        dispatcher.close()
        assert replayed.head.hash is not None
        replayed.close()
    trained = built["trained"]
    training_mgas = gas_at[trained] / MEGA / reached[trained]
    empty_rate = (head - trained) / (reached[head] - reached[trained]) if head > trained else 0.0
    rows = []
    for depth in sorted(args.depths):
        target = head - depth
        seconds, state = reads[depth]
        rows.append(
            {
                "depth_blocks": depth,
                "block": target,
                "parameters": sum(len(v) if isinstance(v, list) else 1 for v in parameters(state).values()),
                "read_ms": round(seconds * 1000, 2),
                "replay_to_block_s": round(reached[target], 3),
                "replay_over_read": round(reached[target] / seconds, 1),
                "extrapolated": False,
                **{f"{via}_read_ms": round(timings[depth, via][0] * 1000, 2) for via in vias},
                **{f"{via}_read_cpu_ms": round(timings[depth, via][1] * 1000, 2) for via in vias},
            }
        )
    if EXTRAPOLATED_DEPTH not in args.depths and empty_rate > 0:
        # A chain EXTRAPOLATED_DEPTH empty blocks longer than the training: the trained model
        # read that far back (replay to it is the measured training segment), and the same
        # model read near the head (replay must also cross every empty block).
        read_ms = statistics.median(r["read_ms"] for r in rows)
        long_head = trained + EXTRAPOLATED_DEPTH
        near = min(args.depths)
        for depth, target in ((EXTRAPOLATED_DEPTH, trained), (near, long_head - near)):
            replay_s = reached[trained] + (target - trained) / empty_rate
            rows.append(
                {
                    "depth_blocks": depth,
                    "block": target,
                    "parameters": rows[0]["parameters"],
                    "read_ms": read_ms,
                    "replay_to_block_s": round(replay_s, 1),
                    "replay_over_read": round(replay_s / (read_ms / 1000), 1),
                    "extrapolated": True,
                }
            )
    out_dir = args.out if args.out is not None else default_out("history")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_rows(out_dir / "history.csv", rows)
    command = command_line("python -m bench.history", argv if argv is not None else sys.argv[1:])
    lines = [
        "# Reading a model at an old block vs replaying to it",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine_line()}; store {args.store}; "
        "the machine was shared with other jobs (2 cores), so absolute times are pessimistic.",
        "",
        f"Chain: {head} blocks — trainer with a SparsePerceptron of {args.features} weights, "
        f"{args.updates} addData updates (blocks 1..{trained}), then {deepest} empty blocks.",
        "",
        "| depth (blocks back) | block | parameters | read full model (ms) "
        "| replay to that block (s) | replay / read |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        mark = " (extrapolated)" if row["extrapolated"] else ""
        lines.append(
            f"| {row['depth_blocks']:,}{mark} | {row['block']} | {row['parameters']} | "
            f"{row['read_ms']} | {row['replay_to_block_s']} | {row['replay_over_read']}x |"
        )
    lines += [
        "",
        f"The read above is `read_model(via={vias[0]!r})`. Every read method at each measured "
        "depth (median wall ms / median CPU ms of this process; all methods returned the same "
        "parameters):",
        "",
        "| depth (blocks back) | " + " | ".join(f"{via} wall | {via} CPU" for via in vias) + " |",
        "|---:|" + "---:|---:|" * len(vias),
    ]
    for depth in sorted(args.depths):
        cells = " | ".join(
            f"{timings[depth, via][0] * 1000:.1f} | {timings[depth, via][1] * 1000:.1f}" for via in vias
        )
        lines.append(f"| {depth:,} | {cells} |")
    flat = [timings[depth, vias[0]][0] for depth in args.depths]
    lines.append(f"\nSlowest over fastest depth ({vias[0]}): {max(flat) / min(flat):.2f}x.")
    lines += [
        "",
        f"Replay: {result.imported} blocks in {result.seconds:.1f} s = "
        f"{result.blocks_per_second:.0f} blocks/s, "
        f"{result.mgas_per_second:.2f} Mgas/s over the whole chain; "
        f"{training_mgas:.2f} Mgas/s over the training blocks (1..{trained}); "
        f"empty blocks replay at {empty_rate:.0f} blocks/s.",
        "",
        "Every replayed block is fully verified: seal, signer rules, header rules, and "
        "re-execution checked against the state root, receipts root, bloom and gas used.",
    ]
    if EXTRAPOLATED_DEPTH not in args.depths:
        lines.append(
            f"Rows marked extrapolated describe a chain with {EXTRAPOLATED_DEPTH:,} empty blocks "
            "after the training instead of the measured ones: their read time is the median of "
            "the measured reads (which do not grow with depth), their replay time the measured "
            "replay of the training blocks plus the empty blocks up to the target at the "
            "measured empty-block replay rate. Nothing in those rows was run at that length."
        )
    (out_dir / "history.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"results in {out_dir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
