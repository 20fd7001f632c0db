"""``python -m bench.gas``: the gas benchmark's command line (see ``bench.gas.cli``)."""

import sys

from bench.gas.cli import main

sys.exit(main())
