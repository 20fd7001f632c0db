"""sumchain: the ledger — blocks, state, consensus, history. No network code.

Importing the package selects eth-hash's pysha3 keccak backend (safe-pysha3, pinned),
unless ``ETH_HASH_BACKEND`` already names one: eth-hash reads the variable when the
first hash is taken, and its default (pycryptodome) builds Python wrapper objects on
every call. Both give the same digests; see bench/throughput.py for what each costs.
"""

import os
from importlib.util import find_spec

if find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
