"""The shared node launchers start a real node that answers JSON-RPC and stop its whole
process group; a node that cannot start is one clear error. Run provenance names the
machine, the versions and the command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError, NodeFailed
from bench.nodes import free_port, start, start_anvil, start_devnet, start_edr
from bench.provenance import command_line, run_info


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` still runs (a zombie waiting to be reaped does not)."""
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


@pytest.mark.anvil
def test_anvil_answers_and_its_whole_process_group_is_stopped() -> None:
    with start_anvil(fork="cancun") as anvil:
        assert int(anvil.rpc("eth_chainId"), 16) == 31337
        group = anvil.pid
        assert _group_alive(group)
    assert not _group_alive(group), "the npm launcher's child must stop too"


def test_edr_serves_the_fork_chain_id_and_genesis_balances_it_was_given() -> None:
    funded = "0x00000000000000000000000000000000000000aa"
    genesis = {"chain_id": 1337, "gas_limit": 30_000_000, "genesis_time": 1_700_000_000}
    with start_edr(fork="cancun", accounts={funded: 5 * 10**18}, **genesis) as edr:
        assert int(edr.rpc("eth_chainId"), 16) == 1337
        assert int(edr.rpc("eth_getBalance", [funded, "latest"]), 16) == 5 * 10**18
        assert int(edr.rpc("eth_getBlockByNumber", ["0x0", False])["timestamp"], 16) == 1_700_000_000


def test_a_devnet_answers_on_the_port_it_was_given() -> None:
    port = free_port()
    with start_devnet(port=port) as devnet:
        assert devnet.url == f"http://127.0.0.1:{port}/"
        assert int(devnet.rpc("eth_blockNumber"), 16) == 0


def test_a_node_that_exits_is_one_error_with_its_stderr() -> None:
    command = [sys.executable, "-c", "import sys; sys.stderr.write('no such fork'); sys.exit(3)"]
    with pytest.raises(NodeFailed, match=r"^broken: exited with 3: no such fork$") as raised:
        start("broken", command, free_port())
    assert isinstance(raised.value, BenchError) and raised.value.node == "broken"


def test_run_provenance_names_machine_versions_and_command() -> None:
    run = run_info("python -m bench.throughput", ["--out", "a dir"])
    assert run["command"] == "python -m bench.throughput --out 'a dir'"
    assert run["machine"]["cpus"] and run["machine"]["cpu"]
    assert run["versions"]["py-evm"] and run["versions"]["python"]
    assert command_line("sumchain simulate", []) == "sumchain simulate"
