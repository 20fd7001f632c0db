"""A whole gas run: every fork x optimizer chain of a sweep measured on sumchain
(``bench.gas.measure``), each optionally replayed on reference nodes
(``bench.gas.references``), in parallel processes if asked."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.gas.cases import FORKS, Sweep
from bench.gas.measure import Measured, measure_chain
from bench.gas.references import Mismatch, References, verify


@dataclass
class ChainResult:
    """What one fork x optimizer chain produced, measured and (optionally) verified."""

    measured: Measured
    replayed: dict[str, int] = field(default_factory=dict)  # reference -> transactions
    mismatches: list[Mismatch] = field(default_factory=list)
    verify_error: str | None = None  # why the replay could not run (results are kept)


def measure_and_verify(
    fork: str, optimizer: str, sweep: Sweep, references: References | None, verbose: bool
) -> ChainResult:
    def progress(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    measured = measure_chain(fork, optimizer, sweep, progress)
    measured.seconds = time.perf_counter() - started
    result = ChainResult(measured)
    if references is not None:
        progress(f"{fork}/{optimizer}: replaying {len(measured.replayable())} blocks on reference nodes")
        try:
            result.replayed, result.mismatches = verify(measured, references)
        except BenchError as exc:  # keep the measurements; the run fails at the end
            result.verify_error = str(exc)
    return result


def run(
    sweep: Sweep,
    check: bool = False,
    jobs: int = 1,
    verbose: bool = False,
    references: References | None = None,
) -> list[ChainResult]:
    """Measure every fork x optimizer chain of ``sweep`` (``jobs`` in parallel); with
    ``check``, replay each on the ``references`` (default: found on PATH / node_modules)."""
    for fork in sweep.forks:
        if fork not in FORKS:
            raise BenchError(f"unknown fork {fork!r}; choose from {', '.join(FORKS)}")
    if check and references is None:
        references = References.find(sweep.forks)
    if not check:
        references = None
    configs = [(fork, optimizer) for fork in sweep.forks for optimizer in sweep.optimizer]
    grid = sweep.grid_chains or ()
    configs.sort(key=lambda config: config not in grid)  # the long chains start first
    if jobs <= 1:
        return [measure_and_verify(f, o, sweep, references, verbose) for f, o in configs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(measure_and_verify, f, o, sweep, references, verbose) for f, o in configs]
        return [future.result() for future in futures]
