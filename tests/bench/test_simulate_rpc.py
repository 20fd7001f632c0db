"""Fig. 3 runs on any node through its JSON-RPC interface: the short run gives the same
trajectory on the in-process fast path, on ``sumchain devnet`` over HTTP and on anvil
over HTTP, seeded alike (balance for balance, accuracy point for accuracy point)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.nodes import free_port, start_anvil, start_devnet
from bench.simulate import Result, Simulation, SimulationError, load_data
from tests.bench.test_offchain import IMDB, short_config, trajectory


def _same_run(a: Result, b: Result) -> None:
    assert trajectory(a) == trajectory(b)
    assert a.submitted == b.submitted and a.rejected == b.rejected
    assert a.days_to_exhaust == b.days_to_exhaust
    assert a.txs == b.txs and a.blocks == b.blocks
    for name in ("honest", "malicious"):
        assert a.gas[name]["txs"] == b.gas[name]["txs"]
        # gas may differ by a few units: refunds and reports carry the sample's absolute
        # timestamp in their calldata, and each node starts its clock elsewhere
        assert a.gas[name]["gas_used"] > 0 and b.gas[name]["gas_used"] > 0


@pytest.mark.anvil
def test_fig3_short_run_is_the_same_in_process_and_over_json_rpc_on_sumchain_and_anvil() -> None:
    config = short_config("paper")
    data = load_data(IMDB, config)
    in_process = Simulation(config, data).run()
    with start_devnet() as devnet:
        on_sumchain = Simulation(config, data, rpc=devnet.url).run()
    with start_anvil(needed_by="the Fig. 3 run on anvil", fork="cancun") as anvil:
        on_anvil = Simulation(config, data, rpc=anvil.url).run()
    assert len(in_process.rows) > 3 and in_process.txs > 0
    assert in_process.node is None and on_sumchain.node == devnet.url and on_anvil.node == anvil.url
    _same_run(on_sumchain, in_process)
    _same_run(on_anvil, on_sumchain)


def test_the_off_chain_engine_refuses_a_node() -> None:
    config = short_config("paper")
    with pytest.raises(SimulationError, match="off-chain engine uses no node"):
        Simulation(config, load_data(IMDB, config), on_chain=False, rpc="http://127.0.0.1:1/")


def test_cli_on_an_unreachable_node_is_one_line_error(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "simulate", "imdb", "--imdb", str(IMDB), "--rpc", dead]
        + ["--train-limit", "300", "--test-limit", "200", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the node" in proc.stderr and "Traceback" not in proc.stderr
