"""Experiments: gas per update, throughput, paper simulations, sweeps."""
