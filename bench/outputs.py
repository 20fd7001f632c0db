"""Where a command writes when it is not told: a new folder named after the run, under the
current directory (``./sumchain-gas-20260101-120000``), never inside the installed package;
and the CSV form every benchmark's rows are written in."""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def default_out(run: str) -> Path:
    """``./sumchain-<run>-<UTC date-time>``: the default of every ``--out``.

    ``run`` names the experiment ("gas", "throughput", ...); the time keeps two runs
    apart. The folder is not created here: the command creates it when it writes.
    """
    return Path(f"sumchain-{run}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")


def out_help(run: str) -> str:
    """The ``--out`` help text of a command whose outputs default to :func:`default_out`."""
    return f"output folder (default: a new ./sumchain-{run}-<UTC time> in the current directory)"


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as a CSV file, with the first row's keys as the header."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
