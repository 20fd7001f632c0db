"""The prediction market (Harris & Waggoner 2019, section III-B) run as real
transactions on IMDB: a provider, three honest and two malicious contributors.

One round of ``PredictionMarket.sol`` on a fresh in-process sumchain chain:

1. The provider (a funded dev account) deposits the bounty (100,000 units by default),
   splits the first ``test_size`` IMDB test reviews into ``parts`` parts, commits to
   their hashes, and reveals the ``initial_parts`` drawn from the next block's hash.
2. The five contributors take the first ``train_size`` IMDB training reviews in the
   order their turns come: as in the framework's Python simulation of the market, each
   waits an exponential time between contributions, 10, 20 and 30 minutes on average
   for the honest ones and an hour for each malicious one (so about 15% of the data is
   malicious), drawn from ``seed``. Each contribution stakes one unit. Honest
   contributors send the true label, malicious ones the flipped label. Participation
   ends at ``train_size`` contributions.
3. The provider reveals the remaining parts; one contributor pushes ``advance`` until the
   reward computation is done; everyone withdraws.

Everything is checked against the off-chain twin (``vm_contracts.reference_market``):
the test errors of every h(t) and every balance read from chain must equal the twin's,
or the run stops with :class:`MarketSimulationError`. The figures (``market.png``)
show the accuracy of h(t) over the contributions and each agent's balance over the
bounty rounds (from the twin's runs, whose end point is the on-chain balance); the gas
of each phase goes to ``market_gas.csv`` and a summary to ``market.md``.

Reviews are encoded as the sorted distinct indices of the ``vocab`` most frequent
training words (``vm_contracts.encoding.Vocabulary``), the model is the market's
sparse perceptron (zero weights, learning rate 1, intercept 0).

Units: 1 unit = ``UNIT_WEI`` wei; balances are reported in units.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import MarketSimulationError
from bench.provenance import machine_line

UNIT_WEI = 10**12  # wei per unit (one stake)
DEFAULT_BOUNTY_UNITS = 100_000  # the paper's simulation
DEFAULT_TRAIN_SIZE = 10_000  # the paper's simulation
DEFAULT_TEST_SIZE = 1_000  # the paper's simulation
DEFAULT_PARTS = 10  # K
DEFAULT_INITIAL_PARTS = 1  # k, revealed before participation
DEFAULT_VOCAB = 1_000  # words
LEARNING_RATE = 10**9  # fixed point 1.0
# Block gas limit of the simulation's chain: revealing a part of 100 IMDB reviews
# (about 90 word indices each) costs some 25 M gas, near the default 30 M.
BLOCK_GAS_LIMIT = 100_000_000
CONTRIBUTE_GAS = 8_000_000  # gas given to each contribution (not estimated: speed)
REVEAL_WINDOW_S = 86_400  # s the provider has for each reveal step
AGENTS = ("honest 1", "honest 2", "honest 3", "malicious 1", "malicious 2")
# Mean seconds between an agent's contributions, as in the framework's simulation
# (simulate_prediction_market: Good 1-3 every 10/20/30 min, Bad 1-2 every hour).
MEAN_WAIT_S = {"honest 1": 600, "honest 2": 1200, "honest 3": 1800, "malicious 1": 3600, "malicious 2": 3600}
MALICIOUS = frozenset({"malicious 1", "malicious 2"})
ACCURACY_EVERY = 50  # contributions between accuracy points printed as progress


def contribution_order(count: int, seed: int = 0) -> list[str]:
    """Which agent makes each of ``count`` contributions: every agent waits an
    exponential time (mean ``MEAN_WAIT_S``) between its turns; turns in time order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    due = {agent: rng.exponential(MEAN_WAIT_S[agent]) for agent in AGENTS}
    order = []
    for _ in range(count):
        agent = min(AGENTS, key=lambda a: due[a])
        order.append(agent)
        due[agent] += rng.exponential(MEAN_WAIT_S[agent])
    return order


@dataclass
class MarketResult:
    """What one simulated round measured.

    Fields:
        accuracy: test accuracy of h(0) .. h(T), from the on-chain error counts.
        owed: units each agent withdrew (floor of wei / UNIT_WEI shown in the table).
        stakes: units each agent staked.
        runs: (bounty rounds applied so far, units per agent) after each run.
        gas: phase name -> list of gasUsed of its transactions.
        seconds: wall-clock time of each phase (s).
        locked_wei: what stays in the contract after every withdrawal (wei).
    """

    accuracy: list[float]
    owed: dict[str, float]
    stakes: dict[str, int]
    runs: list[tuple[int, dict[str, float]]]
    gas: dict[str, list[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    locked_wei: int = 0


def run(
    imdb: str | Path,
    train_size: int = DEFAULT_TRAIN_SIZE,
    test_size: int = DEFAULT_TEST_SIZE,
    parts: int = DEFAULT_PARTS,
    initial_parts: int = DEFAULT_INITIAL_PARTS,
    bounty_units: int = DEFAULT_BOUNTY_UNITS,
    vocab: int = DEFAULT_VOCAB,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> MarketResult:
    """Run one round; raise MarketSimulationError on bad settings or any disagreement."""
    from eth_utils import to_checksum_address
    from web3.types import RPCEndpoint

    from chain.config import ChainConfig
    from node.provider import InProcessNode
    from vm_contracts.datasets import load_imdb
    from vm_contracts.encoding import Vocabulary
    from vm_contracts.market import deploy_market
    from vm_contracts.reference_market import MarketTerms, balances, settle, split_test_set

    say = progress or (lambda _: None)
    if train_size < 1 or test_size < parts or parts < 2 or not 1 <= initial_parts < parts:
        raise MarketSimulationError(
            f"need train_size >= 1, parts >= 2, test_size >= parts and 1 <= initial_parts < parts "
            f"(got {train_size}, {parts}, {test_size}, {initial_parts})"
        )
    if bounty_units < 1:
        raise MarketSimulationError(f"the bounty is at least one unit, not {bounty_units}")
    train = load_imdb(imdb, "train", limit=train_size, seed=0)
    test = load_imdb(imdb, "test", limit=test_size, seed=0)
    if len(train) < train_size or len(test) < test_size:
        raise MarketSimulationError(f"{imdb}: only {len(train)} training and {len(test)} test reviews")
    vocabulary = Vocabulary.fit(train.samples, vocab)
    train_x = vocabulary.encode_many(train.samples)
    test_samples = [
        (x, int(y)) for x, y in zip(vocabulary.encode_many(test.samples), test.labels, strict=True)
    ]
    test_parts = split_test_set(test_samples, parts, b"market simulation")

    result = MarketResult([], {}, {a: 0 for a in AGENTS}, [])

    def phase(name: str, receipts_before: int, started: float) -> None:
        result.gas.setdefault(name, []).extend(
            int(r["gasUsed"]) for _, r in market.receipts[receipts_before:]
        )
        result.seconds[name] = result.seconds.get(name, 0.0) + time.time() - started

    with InProcessNode.create(config=ChainConfig(gas_limit=BLOCK_GAS_LIMIT)) as node:
        w3 = node.w3
        accounts = list(w3.eth.accounts)
        provider, pusher = accounts[0], accounts[6]
        agent_account = dict(zip(AGENTS, accounts[1:6], strict=True))
        market = deploy_market(w3, provider)
        terms = MarketTerms(
            stake_unit=UNIT_WEI,
            num_features=len(vocabulary),
            learning_rate=LEARNING_RATE,
            intercept=0,
            initial_parts=initial_parts,
            duration_s=0,
            max_contributions=train_size,
            reveal_window_s=REVEAL_WINDOW_S,
        )

        started, mark = time.time(), len(market.receipts)
        market.commit(terms, test_parts, bounty_units * UNIT_WEI, provider)
        phase("commit", mark, started)
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        started, mark = time.time(), len(market.receipts)
        drawn = market.draw_test_parts(pusher)
        phase("draw", mark, started)
        started, mark = time.time(), len(market.receipts)
        market.reveal_initial_parts(test_parts, provider)
        phase("reveal initial parts", mark, started)
        say(f"committed {parts} parts of {test_size} test reviews; drew {drawn}; participation open")

        started, mark = time.time(), len(market.receipts)
        contributions: list[tuple[str, list[int], int]] = []
        order = contribution_order(train_size, seed)
        for i, (x, y) in enumerate(zip(train_x, train.labels, strict=True)):
            agent = order[i]
            label = 1 - int(y) if agent in MALICIOUS else int(y)
            market.contribute(x, label, agent_account[agent], stake=UNIT_WEI, gas=CONTRIBUTE_GAS)
            contributions.append((agent_account[agent], x, label))
            result.stakes[agent] += 1
            if (i + 1) % ACCURACY_EVERY == 0:
                say(f"{i + 1}/{train_size} contributions")
        phase("contribute", mark, started)

        started, mark = time.time(), len(market.receipts)
        market.reveal_remaining_parts(test_parts, provider)
        phase("reveal remaining parts", mark, started)
        say("test set revealed; computing rewards")
        started, mark = time.time(), len(market.receipts)
        market.compute_rewards(pusher)
        phase("advance", mark, started)

        drawn_order = drawn + [p for p in range(parts) if p not in drawn]
        revealed = [
            (x, y) for p in drawn_order for x, y in zip(test_parts[p].data, test_parts[p].labels, strict=True)
        ]
        twin = settle(terms, bounty_units * UNIT_WEI, contributions, revealed)
        on_chain_errors = market.errors()
        if on_chain_errors != twin.errors:
            raise MarketSimulationError("test errors of h(t) on chain differ from the twin's")
        if market.balances() != twin.balances:
            raise MarketSimulationError("balances on chain differ from the twin's")
        result.accuracy = [1 - e / test_size for e in on_chain_errors]

        started, mark = time.time(), len(market.receipts)
        for agent, account in agent_account.items():
            amount, _ = market.owed_to(account)
            if amount != twin.owed.get(account, 0):
                raise MarketSimulationError(
                    f"{agent}: owed {amount} wei on chain, twin says {twin.owed.get(account)}"
                )
            if amount:
                market.withdraw(account)
            result.owed[agent] = amount / UNIT_WEI
        phase("withdraw", mark, started)
        result.locked_wei = int(w3.eth.get_balance(to_checksum_address(market.address)))

    # Balances over the bounty rounds, run by run (the twin's runs end where the chain does).
    owner: dict[str, str] = {account: agent for agent, account in agent_account.items()}
    done = 0
    history: list[list[int]] = []
    balances(twin.errors, UNIT_WEI, test_size, bounty_units, history=history)
    for run_length, snapshot in zip(twin.rounds_applied, history, strict=True):
        done += run_length
        per_agent = {a: 0.0 for a in AGENTS}
        for (sender, _, _), b in zip(contributions, snapshot, strict=True):
            per_agent[owner[sender]] += b / test_size / UNIT_WEI
        result.runs.append((done, per_agent))
    return result


def write(result: MarketResult, out: str | Path, command: str, settings: dict[str, Any]) -> list[Path]:
    """Write market_gas.csv, market_balances.csv, market_accuracy.csv, market.md and market.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gas_csv = out / "market_gas.csv"
    with gas_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phase", "transactions", "total_gas", "mean_gas", "max_gas", "seconds"])
        for name, values in result.gas.items():
            w.writerow(
                [
                    name,
                    len(values),
                    sum(values),
                    sum(values) // max(len(values), 1),
                    max(values, default=0),
                    f"{result.seconds.get(name, 0.0):.1f}",
                ]
            )
    accuracy_csv = out / "market_accuracy.csv"
    with accuracy_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "accuracy"])
        for t, a in enumerate(result.accuracy):
            w.writerow([t, f"{a:.4f}"])
    balances_csv = out / "market_balances.csv"
    with balances_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["bounty_rounds_done", *AGENTS])
        w.writerow([0, *(result.stakes[a] for a in AGENTS)])
        for done, per_agent in result.runs:
            w.writerow([done, *(f"{per_agent[a]:.3f}" for a in AGENTS)])

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(range(len(result.accuracy)), [100 * a for a in result.accuracy])
    left.set_xlabel("contribution t")
    left.set_ylabel("test accuracy of h(t) (%)")
    left.set_title("Model over the participation phase")
    xs = [0] + [done for done, _ in result.runs]
    for agent in AGENTS:
        ys = [result.stakes[agent]] + [per[agent] for _, per in result.runs]
        right.step(xs, ys, where="post", label=agent, linestyle="--" if agent in MALICIOUS else "-")
    right.set_xscale("symlog")
    right.set_xlabel("bounty rounds applied")
    right.set_ylabel("balance (units)")
    right.set_title("Balances over the reward phase")
    right.legend()
    fig.tight_layout()
    png = out / "market.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)

    md = out / "market.md"
    lines = [
        "# Prediction market on IMDB (PredictionMarket.sol, one round)",
        "",
        f"Command: `{command}`",
        f"Machine: {machine_line()}",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "",
        f"Accuracy of h(0): {100 * result.accuracy[0]:.1f}%, of h(T): {100 * result.accuracy[-1]:.1f}%",
        "",
        "| agent | staked (units) | withdrew (units) |",
        "|---|---|---|",
        *(f"| {a} | {result.stakes[a]} | {result.owed[a]:.3f} |" for a in AGENTS),
        "",
        f"Left in the contract: {result.locked_wei / UNIT_WEI:.3f} units.",
        "",
        "| phase | transactions | total gas | mean gas | max gas | seconds |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {len(v)} | {sum(v)} | {sum(v) // max(len(v), 1)} | {max(v, default=0)} | "
            f"{result.seconds.get(name, 0.0):.1f} |"
            for name, v in result.gas.items()
        ),
        "",
    ]
    md.write_text("\n".join(lines))
    return [gas_csv, accuracy_csv, balances_csv, png, md]
