"""One exception tree for the benchmarks and experiments in ``bench/``.

Everything ``bench`` raises on bad input, on a missing outside tool or on a run that
cannot go on derives from :class:`BenchError`, so the CLI turns any of them into one
clear line. Each class says when it is raised; callers match the class, never the text.
"""

from __future__ import annotations


class BenchError(Exception):
    """Raised when a benchmark or an experiment cannot run as asked; the root of this tree."""


class ToolMissing(BenchError):
    """Raised when a benchmark needs an outside tool (anvil, EDR, eth-tester) that is not
    installed, or a flag names one that is not there.

    Fields:
        tool: what is missing ("anvil", "EDR", "eth-tester").
        install: the one command (or flag) that provides it.
    """

    def __init__(self, tool: str, needed_by: str, install: str) -> None:
        super().__init__(f"{needed_by} needs {tool}, which was not found: {install}")
        self.tool = tool
        self.install = install


class NodeFailed(BenchError):
    """Raised when a node run as a subprocess (anvil, EDR, a sumchain devnet) does not
    start, exits early, or answers a JSON-RPC request with an error.

    Fields:
        node: the node's name ("anvil", "edr", "sumchain").
        detail: what happened (the error object, or the tail of the node's stderr).
    """

    def __init__(self, node: str, detail: str) -> None:
        super().__init__(f"{node}: {detail}")
        self.node = node
        self.detail = detail


class SimulationError(BenchError):
    """Raised when a simulation cannot run as asked (bad parameters, missing data) or
    when the chain and the off-chain twin disagree (a transaction fails, parameters
    read from chain differ from the twin's)."""


class MarketSimulationError(BenchError):
    """Raised when the prediction-market simulation's settings are unusable or the chain
    disagrees with the twin (errors of some h(t), a balance, an amount owed)."""
