"""The framework on chain: contracts, artifacts, SDK, encodings and off-chain twins."""
