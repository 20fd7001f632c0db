"""A process that writes a chain as fast as it can, for the crash test to kill.

Usage: python -m tests.chain.crash_writer DATA_DIR

It opens (or continues) the chain in DATA_DIR, then loops: adds transactions to the
pool, printing ``ACK <hash>`` after each one is journalled, and seals a block every
few transactions, printing ``BLOCK <number>``. Everything it acknowledges must
survive a SIGKILL at any instant.

Each line goes out in one ``os.write`` of a few dozen bytes, which a pipe delivers whole
(POSIX: writes up to PIPE_BUF bytes are atomic), so a kill can drop a line but never tear
one. ``print(..., flush=True)`` gave no such promise: with ``PYTHONUNBUFFERED=1`` it is
several writes, and a kill between them left a bare ``ACK``.
"""

from __future__ import annotations

import os
import sys

from eth_account import Account

from chain.config import ChainConfig
from node.assemble import assemble

TXS_PER_BLOCK = 3
GENESIS_TIME = 1_700_000_000


def emit(*words: object) -> None:
    """Write one whole line to stdout in a single system call."""
    os.write(sys.stdout.fileno(), (" ".join(str(word) for word in words) + "\n").encode())


def main(data_dir: str) -> None:
    config = ChainConfig(genesis_timestamp=GENESIS_TIME)
    node = assemble(config, data_dir=data_dir, sync=True, mode="manual")
    chain, pool, producer = node.chain, node.pool, node.producer
    senders = config.dev_accounts[1:5]
    nonces = {address: pool.pending_nonce(bytes.fromhex(address[2:])) for address, _ in senders}
    emit("READY", chain.head.block_number)
    round_ = 0
    while True:
        for i in range(TXS_PER_BLOCK):
            address, key = senders[(round_ + i) % len(senders)]
            tx = {
                "nonce": nonces[address],
                "gas": 21_000,
                "to": config.dev_accounts[9][0],
                "value": round_ + 1,
                "chainId": config.chain_id,
                "maxFeePerGas": 10 * 10**9,
                "maxPriorityFeePerGas": 1,
            }
            raw = bytes(Account.sign_transaction(tx, key).raw_transaction)
            pooled = pool.add(raw)
            nonces[address] += 1
            emit("ACK", pooled.hash.hex())
        [built] = producer.mine()
        emit("BLOCK", built.block.number)
        round_ += 1


if __name__ == "__main__":
    main(sys.argv[1])
