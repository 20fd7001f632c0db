"""Prague on `sumchain devnet` against anvil (`--hardfork prague`) and Hardhat's EDR (the
gas benchmark's two references): the same signed transactions, sent over HTTP to each
node, must use the same gas and give the same answers.

- EIP-7623: a calldata-heavy transfer pays the floor on every node.
- EIP-7702: a delegation by a set-code transaction, then a call through the delegated
  account; the transaction and receipt objects as anvil shows them (authorizationList,
  type 0x4).
- EIP-2537: a transaction to each of the seven BLS12-381 precompiles, and their outputs.
- EIP-2935: the history contract answers each node's own block hashes (anvil; EDR 0.22
  has only a stub there that reverts "EIP2935 is not supported").
- ethers v6 signs an authorization and sends a set-code transaction to the devnet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from py_ecc.optimized_bls12_381 import G1, G2, multiply, neg, normalize

from bench.nodes import rpc, start_anvil, start_devnet, start_edr
from bench.tools import find_edr
from chain.config import ChainConfig

REPO = Path(__file__).resolve().parents[2]
ETHERS_SCRIPT = Path(__file__).with_name("ethers_set_code.mjs")
CHAIN_ID = 31337
GENESIS_TIME = 1_700_000_000
GAS_LIMIT = 30_000_000
FEES = {"maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
HISTORY = "0x0000f90827f1c53a10cb7a02335b175320002935"
# runtime: MSTORE(0, 42); RETURN(0, 32); and its creation code
ANSWER_RUNTIME = "602a60005260206000f3"
ANSWER_INIT = bytes.fromhex("69" + ANSWER_RUNTIME + "600052600a6016f3")
ACCOUNTS = ChainConfig().dev_accounts
pytestmark = pytest.mark.xdist_group("prague_references")


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, str]]:
    config = ChainConfig()
    with (
        start_devnet("--fork", "prague") as devnet,
        start_anvil(needed_by="the Prague reference tests", fork="prague", chain_id=CHAIN_ID) as anvil,
        start_edr(
            find_edr(None, "the Prague reference tests"),
            needed_by="the Prague reference tests",
            fork="prague",
            chain_id=CHAIN_ID,
            gas_limit=GAS_LIMIT,
            genesis_time=GENESIS_TIME,
            accounts=dict(config.genesis_alloc),
            base_fee=10**9,
        ) as edr,
    ):
        yield {"sumchain": devnet.url, "anvil": anvil.url, "edr": edr.url}


class Signer:
    """Signs the same transactions for every node (same keys, chain id and nonces)."""

    def __init__(self, index: int) -> None:
        self.address, self.key = ACCOUNTS[index]
        self.nonce = 0

    def sign(self, **fields: Any) -> str:
        tx = {
            "chainId": CHAIN_ID,
            "nonce": self.nonce,
            "value": 0,
            "data": b"",
            "gas": 500_000,
            **FEES,
            **fields,
        }
        if "to" in fields:
            tx["to"] = to_checksum_address(fields["to"])
        if "authorizationList" in fields:
            tx["type"] = 4
        self.nonce += 1
        return "0x" + bytes(Account.sign_transaction(tx, self.key).raw_transaction).hex()


def _send_everywhere(nodes: dict[str, str], raw: str) -> dict[str, dict[str, Any]]:
    """Send ``raw`` to every node, mine it, and return each node's receipt."""
    receipts = {}
    for name, url in nodes.items():
        tx_hash = rpc(url, "eth_sendRawTransaction", [raw])
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is None:  # a node whose automine answers before the block is read
            rpc(url, "evm_mine", [])
            receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        assert receipt is not None, name
        receipts[name] = receipt
    return receipts


def _gas(receipts: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {name: int(receipt["gasUsed"], 16) for name, receipt in receipts.items()}


def _same(values: dict[str, Any]) -> Any:
    assert len(set(map(str, values.values()))) == 1, values
    return next(iter(values.values()))


@pytest.fixture(scope="module")
def target(nodes: dict[str, str]) -> str:
    """The contract every node's delegation points to (the same address on each)."""
    receipts = _send_everywhere(nodes, DEPLOYER.sign(data=ANSWER_INIT))
    return str(_same({name: r["contractAddress"] for name, r in receipts.items()}))


DEPLOYER, SPONSOR, AUTHORITY, CALLER = Signer(0), Signer(1), Signer(2), Signer(3)


def test_calldata_floor_gas_is_the_same_on_every_node(nodes: dict[str, str]) -> None:
    data = bytes(range(1, 201)) * 5  # 1,000 non-zero bytes: 4,000 tokens
    receipts = _send_everywhere(nodes, CALLER.sign(to=ACCOUNTS[5][0], data=data, gas=100_000))
    assert _same(_gas(receipts)) == 21_000 + 10 * 4_000  # the floor, not 21,000 + 16 per byte


def test_set_code_delegation_is_the_same_on_every_node(nodes: dict[str, str], target: str) -> None:
    auth = Account.sign_authorization({"chainId": CHAIN_ID, "address": target, "nonce": 0}, AUTHORITY.key)
    raw = SPONSOR.sign(to=AUTHORITY.address, authorizationList=[auth], gas=200_000)
    receipts = _send_everywhere(nodes, raw)
    _same(_gas(receipts))
    assert _same({name: r["type"] for name, r in receipts.items()}) == "0x4"
    assert _same({name: r["status"] for name, r in receipts.items()}) == "0x1"
    codes = {name: rpc(url, "eth_getCode", [AUTHORITY.address, "latest"]) for name, url in nodes.items()}
    assert _same(codes) == "0xef0100" + target[2:].lower()
    # the transaction object as anvil shows it, authorizationList included
    tx_hash = receipts["sumchain"]["transactionHash"]
    ours = rpc(nodes["sumchain"], "eth_getTransactionByHash", [tx_hash])
    theirs = rpc(nodes["anvil"], "eth_getTransactionByHash", [tx_hash])
    assert ours["authorizationList"] == theirs["authorizationList"]
    for key in (
        "type",
        "chainId",
        "nonce",
        "to",
        "gas",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "yParity",
        "r",
        "s",
    ):
        assert ours[key] == theirs[key], key
    block = rpc(nodes["sumchain"], "eth_getBlockByNumber", [ours["blockNumber"], True])
    assert block["transactions"][0]["authorizationList"] == theirs["authorizationList"]
    # a call through the delegated account runs the target's code, at the same gas
    called = _send_everywhere(nodes, CALLER.sign(to=AUTHORITY.address, gas=100_000))
    _same(_gas(called))
    answers = {
        name: rpc(url, "eth_call", [{"to": AUTHORITY.address}, "latest"]) for name, url in nodes.items()
    }
    assert int(_same(answers), 16) == 42


def _fp(value: int) -> bytes:
    return int(value).to_bytes(64, "big")


def _g1(point: Any) -> bytes:
    x, y = normalize(point)
    return _fp(x) + _fp(y)


def _g2(point: Any) -> bytes:
    x, y = normalize(point)
    return _fp(x.coeffs[0]) + _fp(x.coeffs[1]) + _fp(y.coeffs[0]) + _fp(y.coeffs[1])


def _scalar(value: int) -> bytes:
    return value.to_bytes(32, "big")


PAIRING = "0x000000000000000000000000000000000000000f"
BLS_CALLS = {  # precompile address -> input (EIP-2537's encodings)
    "0x000000000000000000000000000000000000000b": _g1(G1) + _g1(multiply(G1, 2)),  # G1ADD
    "0x000000000000000000000000000000000000000c": _g1(G1)
    + _scalar(5)
    + _g1(multiply(G1, 3))
    + _scalar(7),  # G1MSM
    "0x000000000000000000000000000000000000000d": _g2(G2) + _g2(multiply(G2, 2)),  # G2ADD
    "0x000000000000000000000000000000000000000e": _g2(G2) + _scalar(11),  # G2MSM
    PAIRING: _g1(G1) + _g2(G2) + _g1(neg(G1)) + _g2(G2),  # e(G1, G2) * e(-G1, G2) == 1
    "0x0000000000000000000000000000000000000010": _fp(12345),  # MAP_FP_TO_G1
    "0x0000000000000000000000000000000000000011": _fp(1) + _fp(2),  # MAP_FP2_TO_G2
}


@pytest.mark.parametrize("precompile", sorted(BLS_CALLS))
def test_bls_precompile_gives_the_same_output_and_gas_on_every_node(
    nodes: dict[str, str], precompile: str
) -> None:
    data = BLS_CALLS[precompile]
    call = {"to": precompile, "data": "0x" + data.hex()}
    # py-evm's pairing is pure Python (py_ecc): ~4 s a pair, near the devnet's 5 s call
    # deadline, so its answer is checked in process (tests/chain/test_prague.py)
    asked = {k: v for k, v in nodes.items() if not (precompile == PAIRING and k == "sumchain")}
    outputs = {name: rpc(url, "eth_call", [call, "latest"]) for name, url in asked.items()}
    assert len(_same(outputs)) > 2  # a non-empty answer, the same everywhere
    receipts = _send_everywhere(nodes, CALLER.sign(to=precompile, data=data, gas=300_000))
    assert _same({name: r["status"] for name, r in receipts.items()}) == "0x1"
    _same(_gas(receipts))


def test_history_contract_answers_the_nodes_own_block_hashes(nodes: dict[str, str]) -> None:
    for url in (nodes["sumchain"], nodes["anvil"]):
        for _ in range(3):
            rpc(url, "evm_mine", [])
        head = int(rpc(url, "eth_blockNumber", []), 16)
        for number in (1, head - 1):
            call = {"to": HISTORY, "data": "0x" + number.to_bytes(32, "big").hex()}
            answer = rpc(url, "eth_call", [call, "latest"])
            assert answer == rpc(url, "eth_getBlockByNumber", [hex(number), False])["hash"], url


def test_ethers_sends_a_set_code_transaction(nodes: dict[str, str], target: str) -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "ethers").is_dir():
        pytest.fail("node and node_modules/ethers are needed (run npm ci)")
    key = "0x" + ACCOUNTS[8][1].hex()  # a dev account no other test here sends from
    done = subprocess.run(
        [node, str(ETHERS_SCRIPT), nodes["sumchain"], key, target],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["type"] == 4 and seen["seenType"] == 4 and seen["status"] == 1
    assert seen["authorizations"] == [
        {"address": to_checksum_address(target), "nonce": "0", "chainId": str(CHAIN_ID)}
    ]
    assert seen["code"] == "0xef0100" + target[2:].lower()
    # a new (empty) authority: 21,000 + 25,000 for the tuple (no refund: the account did not
    # exist), + 18 for the target's code the call then runs (its delegation address is warm)
    assert int(seen["gasUsed"]) == 46_018
