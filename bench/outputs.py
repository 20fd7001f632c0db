"""Where a command writes when it is not told: a new folder named after the run, under the
current directory (``./sumchain-gas-20260101-120000``), never inside the installed package."""

from __future__ import annotations

import time
from pathlib import Path


def default_out(run: str) -> Path:
    """``./sumchain-<run>-<UTC date-time>``: the default of every ``--out``.

    ``run`` names the experiment ("gas", "throughput", ...); the time keeps two runs
    apart. The folder is not created here: the command creates it when it writes.
    """
    return Path(f"sumchain-{run}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")


def out_help(run: str) -> str:
    """The ``--out`` help text of a command whose outputs default to :func:`default_out`."""
    return f"output folder (default: a new ./sumchain-{run}-<UTC time> in the current directory)"
