"""sumchain: the ledger — blocks, state, consensus, history. No network code."""
