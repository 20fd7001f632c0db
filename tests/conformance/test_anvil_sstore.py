"""anvil 1.7.1 misprices SSTORE before London; this pins by how much.

The same signed transactions run on sumchain and on anvil with the same hard fork.
Under Petersburg and Istanbul, overwriting a non-zero slot costs 5,000 gas and clearing
one refunds 15,000 (EIP-1283 was withdrawn for Petersburg; EIP-2200 keeps these figures
for a slot first touched in the transaction). anvil charges Berlin's 2,900 and refunds
London's 4,800 instead. Under Istanbul it also adds Berlin's 2,100 cold-slot charge to
every SSTORE, and under Berlin it refunds London's 4,800 for a clear instead of 15,000.
So anvil is no gas reference before London (``bench.gas`` replays on EDR there). When
anvil fixes this, these tests fail: then it can be a reference again. On Cancun the two
agree exactly.
"""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils import to_checksum_address

from bench.gas import Measured, References, reference_node
from bench.nodes import rpc
from bench.tools import ToolMissing, find_anvil
from chain.config import ChainConfig
from node.provider import InProcessNode


@pytest.fixture(scope="module")
def anvil_only() -> References:
    try:
        return References(edr=None, anvil=find_anvil(None, "this test"))
    except ToolMissing as exc:
        pytest.fail(f"{exc} (`make test` runs npm install)")


# SSTORE(CALLDATALOAD(0), CALLDATALOAD(32)); SSTORE(CALLDATALOAD(64), CALLDATALOAD(96)); STOP
RUNTIME = bytes.fromhex("602035600035556060356040355500")
INIT = bytes.fromhex(f"60{len(RUNTIME):02x}600c60003960{len(RUNTIME):02x}6000f3") + RUNTIME
TX_GAS = 200_000
GAS_PRICE = 10**9  # wei
OVERWRITE_SUMCHAIN = 5_000  # gas to overwrite a non-zero slot, Petersburg/Istanbul
OVERWRITE_ANVIL = 2_900  # what anvil 1.7.1 charges
CLEAR_REFUND_SUMCHAIN = 15_000  # gas refunded for clearing a slot, Petersburg/Istanbul
CLEAR_REFUND_ANVIL = 4_800  # what anvil 1.7.1 refunds


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _transactions(chain_id: int) -> list[bytes]:
    """Deploy; set slots 0 and 1; overwrite slot 0 and set slot 2; clear slot 0 and set
    slot 3 (a fresh write in each keeps the refund under the half-of-gas cap)."""
    key = ChainConfig().dev_accounts[0][1]
    sender = Account.from_key(key)
    contract = to_checksum_address(generate_contract_address(bytes.fromhex(sender.address[2:]), 0))
    writes = [(0, 1, 1, 1), (0, 2, 2, 1), (0, 0, 3, 1)]
    txs = [
        sender.sign_transaction(
            {"nonce": 0, "gas": TX_GAS, "gasPrice": GAS_PRICE, "value": 0, "data": INIT, "chainId": chain_id}
        ).raw_transaction
    ]
    for nonce, (slot_a, value_a, slot_b, value_b) in enumerate(writes, start=1):
        data = _word(slot_a) + _word(value_a) + _word(slot_b) + _word(value_b)
        txs.append(
            sender.sign_transaction(
                {
                    "nonce": nonce,
                    "gas": TX_GAS,
                    "gasPrice": GAS_PRICE,
                    "to": contract,
                    "value": 0,
                    "data": data,
                    "chainId": chain_id,
                }
            ).raw_transaction
        )
    return [bytes(tx) for tx in txs]


def _sumchain_gas(fork: str, txs: list[bytes]) -> tuple[list[int], Measured]:
    with InProcessNode.create(config=ChainConfig(fork=fork)) as node:
        gas = []
        for raw in txs:
            receipt = node.w3.eth.wait_for_transaction_receipt(node.w3.eth.send_raw_transaction(raw))
            assert receipt["status"] == 1
            gas.append(int(receipt["gasUsed"]))
        genesis = node.w3.eth.get_block(0)
        measured = Measured(
            fork,
            "on",
            [],
            [],
            int(genesis["timestamp"]),
            int(genesis.get("baseFeePerGas", 0)),
            int(genesis["gasLimit"]),
        )
    return gas, measured


def _anvil_gas(measured: Measured, txs: list[bytes], references: References) -> list[int]:
    gas = []
    with reference_node("anvil", measured, references) as url:
        for raw in txs:
            tx_hash = rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
            receipt = None
            while receipt is None:
                receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
            assert receipt["status"] == "0x1"
            gas.append(int(receipt["gasUsed"], 16))
    return gas


COLD_SLOT = 2_100  # gas Berlin adds for a slot's first access in a transaction
# sumchain minus anvil, per transaction: deploy, two fresh sets, overwrite + fresh set,
# clear + fresh set. Measured with anvil 1.7.1; each entry says why.
ANVIL_DIFFERENCES = {
    # overwrite charged 2,900 not 5,000; clearing refunds 4,800 not 15,000
    "petersburg": (
        0,
        0,
        OVERWRITE_SUMCHAIN - OVERWRITE_ANVIL,
        (OVERWRITE_SUMCHAIN - OVERWRITE_ANVIL) - (CLEAR_REFUND_SUMCHAIN - CLEAR_REFUND_ANVIL),
    ),
    # anvil adds Berlin's cold-slot charge to every SSTORE and refunds 4,800 not 15,000
    "istanbul": (
        0,
        -2 * COLD_SLOT,
        OVERWRITE_SUMCHAIN - (OVERWRITE_ANVIL + COLD_SLOT) - COLD_SLOT,
        OVERWRITE_SUMCHAIN
        - (OVERWRITE_ANVIL + COLD_SLOT)
        - COLD_SLOT
        - (CLEAR_REFUND_SUMCHAIN - CLEAR_REFUND_ANVIL),
    ),
    # Berlin's charges agree; the clearing refund is London's 4,800, not Berlin's 15,000
    "berlin": (0, 0, 0, -(CLEAR_REFUND_SUMCHAIN - CLEAR_REFUND_ANVIL)),
}


@pytest.mark.parametrize("fork", sorted(ANVIL_DIFFERENCES))
def test_anvil_misprices_sstore_before_london(fork: str, anvil_only: References) -> None:
    txs = _transactions(ChainConfig().chain_id)
    ours, measured = _sumchain_gas(fork, txs)
    anvil = _anvil_gas(measured, txs, anvil_only)
    differences = tuple(a - b for a, b in zip(ours, anvil, strict=True))
    assert differences == ANVIL_DIFFERENCES[fork], (
        f"{fork}: sumchain {ours}, anvil {anvil}: anvil's SSTORE pricing changed; "
        "if it now agrees, it can be a gas reference for this fork again"
    )


def test_anvil_agrees_with_sumchain_on_cancun(anvil_only: References) -> None:
    txs = _transactions(ChainConfig().chain_id)
    ours, measured = _sumchain_gas("cancun", txs)
    assert _anvil_gas(measured, txs, anvil_only) == ours
