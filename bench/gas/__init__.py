"""Gas per model update: what deploying and training a shared model costs, and where it goes.

Every figure is a real transaction on sumchain (in-process, one chain per hard fork
and compiler setting), read from its receipt, and split into parts from a call trace
(``chain.tracing``): intrinsic gas (of which call data), the trainer's own code, the
incentive mechanism, the data handler, the model, minus the end-of-transaction refund.
The parts add up to the receipt's ``gasUsed`` exactly (checked for every row).

Measured, per fork x optimizer setting:

* deployment and initialisation of each model by number of features (each
  transaction, and the total), with the mechanism, data handler and trainer;
* ``addData`` by model, words per sample (sparse models) or features (dense models),
  incentive mechanism, and for the perceptrons where the model agrees and disagrees;
* ``refund`` (after the waiting time) and ``report`` (Stakeable only; Points has none).

``--verify`` replays every block of every measured chain on an independent node with
the same hard fork — Hardhat's EDR for every fork, and anvil as well for Cancun and
Prague — and
fails if any transaction's gas differs. anvil is not a reference before Berlin: it
misprices SSTORE under Petersburg and Istanbul rules (see
``tests/conformance/test_anvil_sstore.py``). The reference nodes are found as
``bench.tools`` says (``--edr``/``--anvil``, PATH, ``./node_modules``); a missing one
refuses before anything is measured. Without ``--out`` the results go to a new
``./sumchain-gas-<UTC time>``.

    sumchain bench gas --out bench/results/gas --verify
    python -m bench.gas --quick --out /tmp/gas

Frameworks are deployed by the SDK's one deployer (``vm_contracts.deploy``) under a
fixed gas policy (``bench.gas.measure.GAS_POLICY``) rather than the SDK's default
``eth_estimateGas`` path: estimation runs a transaction ~20 times in a binary search,
which made one 10,000-feature deployment take 450 s.

The package: ``cases`` (what is measured), ``measure`` (one chain on sumchain),
``references`` (the replay on EDR and anvil), ``run`` (a whole sweep), ``report``
(Markdown, CSV, PNG, run.json, the snapshot) and ``cli`` (the flags).
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.gas.cases import (
    FORKS,
    QUICK,
    TABLE_I,
    MarketSetting,
    Row,
    Sweep,
    core_sweep,
)
from bench.gas.cli import add_arguments, main, main_with_args, sweep_from_args
from bench.gas.measure import GAS_POLICY, Measured, ReplayBlock, measure_chain
from bench.gas.references import Mismatch, References, reference_node, replay, verify
from bench.gas.report import (
    SNAPSHOT_FILE,
    SnapshotChange,
    check_snapshot,
    expensive_parts,
    markdown,
    money,
    snapshot_figures,
    table_i,
    table_i_by_optimizer_markdown,
    table_i_markdown,
    write_outputs,
)
from bench.gas.run import ChainResult, run

__all__ = [
    "FORKS",
    "GAS_POLICY",
    "QUICK",
    "SNAPSHOT_FILE",
    "TABLE_I",
    "BenchError",
    "ChainResult",
    "MarketSetting",
    "Measured",
    "Mismatch",
    "References",
    "ReplayBlock",
    "Row",
    "SnapshotChange",
    "Sweep",
    "add_arguments",
    "check_snapshot",
    "core_sweep",
    "expensive_parts",
    "main",
    "main_with_args",
    "markdown",
    "measure_chain",
    "money",
    "reference_node",
    "replay",
    "run",
    "snapshot_figures",
    "sweep_from_args",
    "table_i",
    "table_i_by_optimizer_markdown",
    "table_i_markdown",
    "verify",
    "write_outputs",
]
