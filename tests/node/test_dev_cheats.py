"""The cheats on sumchain's own terms: what a pending edit is, what reset, coinbase, base
fee and snapshots do with it, impersonated transactions in traces, and bad parameters
(-32602 with a clear message, the node serving on)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from chain.config import ChainConfig
from node.provider import InProcessNode
from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS, Devnet

STORE_AND_LOAD = "0x602035600035556000355460005260206000f3"  # SSTORE(cd[0], cd[32]); return SLOAD(cd[0])
ETHER = 10**18
ACCOUNT = "0x00000000000000000000000000000000000000e1"
SIGNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # the devnet's authority (its first dev account)


def call(node: InProcessNode, method: str, *params: Any) -> Any:
    answer = node.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def error(node: InProcessNode, method: str, *params: Any) -> dict[str, Any]:
    answer = node.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" in answer, answer
    return dict(answer["error"])


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def test_an_edit_is_visible_at_once_and_rides_in_the_next_block(in_process: InProcessNode) -> None:
    call(in_process, "evm_setAutomine", False)
    call(in_process, "anvil_setBalance", ACCOUNT, hex(ETHER))
    assert call(in_process, "eth_blockNumber") == "0x0"  # no block was made
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "latest"), 16) == ETHER
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "0x0"), 16) == ETHER  # the head, by number
    assert int(call(in_process, "eth_getProof", ACCOUNT, [], "latest")["balance"], 16) == ETHER
    call(in_process, "evm_mine")
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "0x0"), 16) == 0  # genesis itself is untouched
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "0x1"), 16) == ETHER
    chain = in_process.backend.chain
    assert chain.block_edits(chain.head) is not None and chain.pending_edits() is None


def test_the_pool_rereads_balances_and_nonces_after_an_edit(in_process: InProcessNode) -> None:
    call(in_process, "evm_setAutomine", False)
    call(in_process, "anvil_impersonateAccount", ACCOUNT)
    refused = error(in_process, "eth_sendTransaction", {"from": ACCOUNT, "to": OTHER_ADDRESS, "value": "0x1"})
    assert "balance" in refused["message"]  # the estimate (or the pool) finds no funds
    call(in_process, "anvil_setBalance", ACCOUNT, hex(ETHER))
    call(in_process, "anvil_setNonce", ACCOUNT, "0x5")
    sent = call(in_process, "eth_sendTransaction", {"from": ACCOUNT, "to": OTHER_ADDRESS, "value": "0x1"})
    assert call(in_process, "eth_getTransactionByHash", sent)["nonce"] == "0x5"
    call(in_process, "evm_mine")
    assert call(in_process, "eth_getTransactionReceipt", sent)["status"] == "0x1"


def test_revert_to_a_snapshot_takes_back_edits_made_after_it(in_process: InProcessNode) -> None:
    call(in_process, "anvil_setBalance", ACCOUNT, hex(1))
    snapshot = call(in_process, "evm_snapshot")
    call(in_process, "anvil_setBalance", ACCOUNT, hex(2))
    call(in_process, "anvil_setCode", ACCOUNT, STORE_AND_LOAD)
    assert call(in_process, "evm_revert", snapshot) is True
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "latest"), 16) == 1
    assert call(in_process, "eth_getCode", ACCOUNT, "latest") == "0x"


def test_reset_goes_back_to_genesis_and_forgets_the_cheats(in_process: InProcessNode) -> None:
    call(in_process, "anvil_setBalance", ACCOUNT, hex(ETHER))
    call(in_process, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"})
    call(in_process, "anvil_impersonateAccount", ACCOUNT)
    call(in_process, "anvil_setBalance", OTHER_ADDRESS, "0x0")
    call(in_process, "evm_setAutomine", False)
    call(in_process, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"})
    assert call(in_process, "anvil_reset") is None
    assert call(in_process, "eth_blockNumber") == "0x0"
    assert call(in_process, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert call(in_process, "eth_getBalance", ACCOUNT, "latest") == "0x0"
    assert int(call(in_process, "eth_getBalance", OTHER_ADDRESS, "latest"), 16) == 10_000 * ETHER
    refused = error(in_process, "eth_sendTransaction", {"from": ACCOUNT, "to": OTHER_ADDRESS})
    assert "unknown account" in refused["message"]
    assert call(in_process, "hardhat_reset", {}) is None
    forking = error(in_process, "hardhat_reset", {"forking": {"jsonRpcUrl": "http://127.0.0.1:8545"}})
    assert forking["code"] == -32602 and "forking another node is not supported" in forking["message"]


def test_the_coinbase_takes_the_tips_but_never_an_authority(in_process: InProcessNode) -> None:
    refused = error(in_process, "anvil_setCoinbase", SIGNER)
    assert refused["code"] == -32602 and "would vote it out" in refused["message"]
    call(in_process, "anvil_setCoinbase", ACCOUNT)
    tip = 2 * 10**9
    sent = call(
        in_process,
        "eth_sendTransaction",
        {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "maxPriorityFeePerGas": hex(tip), "gas": hex(21_000)},
    )
    block = call(
        in_process,
        "eth_getBlockByHash",
        call(in_process, "eth_getTransactionReceipt", sent)["blockHash"],
        False,
    )
    assert block["miner"].lower() == ACCOUNT
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "latest"), 16) == 21_000 * tip


def test_the_next_base_fee_applies_once_and_the_rule_goes_on_from_it(in_process: InProcessNode) -> None:
    call(in_process, "anvil_setNextBlockBaseFeePerGas", hex(7 * 10**9))
    assert int(call(in_process, "eth_gasPrice"), 16) >= 7 * 10**9  # quoted from the chosen fee
    call(in_process, "evm_mine")
    call(in_process, "evm_mine")
    first, second = (call(in_process, "eth_getBlockByNumber", hex(n), False) for n in (1, 2))
    assert int(first["baseFeePerGas"], 16) == 7 * 10**9
    assert int(second["baseFeePerGas"], 16) == 7 * 10**9 * 7 // 8  # an empty block: EIP-1559 lowers it by 1/8


def test_there_is_no_base_fee_to_set_before_london() -> None:
    with InProcessNode.create(config=ChainConfig(fork="berlin")) as node:
        refused = error(node, "anvil_setNextBlockBaseFeePerGas", "0x1")
        assert refused["code"] == -32602 and "berlin" in refused["message"]


def test_an_impersonated_transaction_traces_with_its_sender(in_process: InProcessNode) -> None:
    call(in_process, "anvil_setCode", ACCOUNT, STORE_AND_LOAD)
    whale = "0x00000000000000000000000000000000000000f2"
    call(in_process, "anvil_setBalance", whale, hex(ETHER))
    call(in_process, "anvil_impersonateAccount", whale)
    sent = call(
        in_process, "eth_sendTransaction", {"from": whale, "to": ACCOUNT, "data": _word(3) + _word(4)[2:]}
    )
    trace = call(in_process, "debug_traceTransaction", sent, {"tracer": "callTracer"})
    assert trace["from"].lower() == whale and trace["to"].lower() == ACCOUNT
    assert trace["output"] == _word(4)
    assert call(in_process, "eth_getTransactionByHash", sent)["from"].lower() == whale


def test_a_raw_impersonated_transaction_is_refused_unless_impersonating(in_process: InProcessNode) -> None:
    whale = "0x00000000000000000000000000000000000000f3"
    call(in_process, "anvil_setBalance", whale, hex(ETHER))
    call(in_process, "anvil_impersonateAccount", whale)
    call(in_process, "evm_setAutomine", False)
    sent = call(in_process, "eth_sendTransaction", {"from": whale, "to": OTHER_ADDRESS, "value": "0x1"})
    pooled = in_process.backend.pool.get(bytes.fromhex(sent[2:]))
    assert pooled is not None
    raw = "0x" + pooled.raw.hex()
    call(in_process, "anvil_reset")
    refused = error(in_process, "eth_sendRawTransaction", raw)
    assert "impersonation marker" in refused["message"] and "does not impersonate" in refused["message"]
    call(in_process, "anvil_autoImpersonateAccount", True)
    call(in_process, "anvil_setBalance", whale, hex(ETHER))
    assert call(in_process, "eth_sendRawTransaction", raw) == sent


def test_load_state_takes_plain_json_too_and_dump_is_anvils_format(in_process: InProcessNode) -> None:
    plain = {
        "accounts": {
            ACCOUNT: {"balance": "0x10", "nonce": 3, "code": STORE_AND_LOAD, "storage": {"0x1": "0x2"}}
        }
    }
    assert call(in_process, "anvil_loadState", "0x" + json.dumps(plain).encode().hex()) is True
    assert call(in_process, "eth_getStorageAt", ACCOUNT, "0x1", "latest") == _word(2)
    dump = json.loads(gzip.decompress(bytes.fromhex(call(in_process, "anvil_dumpState")[2:])))
    assert set(dump) == {
        "block",
        "accounts",
        "best_block_number",
        "blocks",
        "transactions",
        "historical_states",
    }
    mine = dump["accounts"][ACCOUNT]
    assert mine == {"nonce": 3, "balance": "0x10", "code": STORE_AND_LOAD, "storage": {_word(1): _word(2)}}
    assert dump["accounts"][DEV_ADDRESS.lower()]["balance"] == hex(10_000 * ETHER)


BAD_PARAMS = [
    ("anvil_setBalance", ["0x12", "0x1"], "address: expected 20 bytes"),
    ("anvil_setBalance", [ACCOUNT], "missing value for required argument 1 (balance)"),
    ("anvil_setBalance", [ACCOUNT, "0x1" + "0" * 64], "balance: must be from 0 to 2**256-1"),
    ("anvil_setBalance", [ACCOUNT, "0x1" + "0" * 200], "balance: hex string too long"),
    ("hardhat_setBalance", [ACCOUNT, "ten"], "balance: expected a 0x hex quantity or an integer"),
    ("anvil_setBalance", [ACCOUNT, -1], "balance: must be from 0 to 2**256-1"),
    ("anvil_setNonce", [ACCOUNT, hex(2**64)], "nonce: must be from 0 to 2**64-1"),
    ("anvil_setNonce", [ACCOUNT, "zz"], "nonce: expected a 0x hex quantity"),
    ("anvil_setCode", [ACCOUNT, "0x123"], "code: hex string of odd length"),
    ("anvil_setStorageAt", [ACCOUNT, "0x1", "0x" + "1" * 65], "value: expected 0x and 1 to 64 hex digits"),
    ("anvil_setStorageAt", [ACCOUNT, "slot", _word(1)], "slot: expected 0x and 1 to 64 hex digits"),
    ("anvil_impersonateAccount", ["0xnothex"], "address: invalid hex string"),
    ("anvil_autoImpersonateAccount", ["yes"], "enabled: expected true or false"),
    ("anvil_setCoinbase", [123], "address: expected a hex string"),
    ("anvil_setNextBlockBaseFeePerGas", [None], "missing value for required argument 0 (baseFeePerGas)"),
    ("anvil_loadState", ["0x1234"], "state: neither gzipped nor plain JSON"),
    ("anvil_loadState", ["0x1f8b0000"], "state: not a gzipped state dump"),
    ("anvil_loadState", ["0x" + b'{"accounts": []}'.hex()], "a JSON object with an accounts object"),
    (
        "anvil_loadState",
        ["0x" + b'{"accounts": {"0x12": {}}}'.hex()],
        "state.accounts[0x12]: expected 20 bytes",
    ),
    (
        "anvil_loadState",
        ["0x" + json.dumps({"accounts": {ACCOUNT: {"balance": "0xzz"}}}).encode().hex()],
        "balance: invalid hex",
    ),
    ("anvil_reset", ["now"], "expected an object (forking options) or nothing"),
]


@pytest.mark.parametrize(
    ("method", "params", "message"), BAD_PARAMS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD_PARAMS)]
)
def test_bad_parameters_get_invalid_params_and_the_node_serves_on(
    devnet: Devnet, method: str, params: list[Any], message: str
) -> None:
    refused = devnet.error(method, *params)
    assert refused["code"] == -32602, refused
    assert message in refused["message"], refused
    assert devnet.rpc("eth_getBalance", ACCOUNT, "latest") is not None
    assert int(devnet.rpc("eth_blockNumber"), 16) >= 0


def test_a_contract_can_be_impersonated(in_process: InProcessNode) -> None:
    contract = "0x00000000000000000000000000000000000000f4"  # e.g. a multisig admin, as users do
    call(in_process, "anvil_setCode", contract, STORE_AND_LOAD)
    call(in_process, "anvil_setBalance", contract, hex(ETHER))
    call(in_process, "hardhat_impersonateAccount", contract)
    sent = call(in_process, "eth_sendTransaction", {"from": contract, "to": OTHER_ADDRESS, "value": "0x5"})
    receipt = call(in_process, "eth_getTransactionReceipt", sent)
    assert receipt["status"] == "0x1" and receipt["from"].lower() == contract


def test_ganaches_names_edit_the_same_state(in_process: InProcessNode) -> None:
    assert call(in_process, "evm_setAccountBalance", ACCOUNT, hex(ETHER)) is True
    assert call(in_process, "evm_setAccountNonce", ACCOUNT, "0x3") is True
    assert call(in_process, "evm_setAccountCode", ACCOUNT, STORE_AND_LOAD) is True
    assert call(in_process, "evm_setAccountStorageAt", ACCOUNT, "0x1", _word(8)) is True
    assert int(call(in_process, "eth_getBalance", ACCOUNT, "latest"), 16) == ETHER
    assert call(in_process, "eth_getTransactionCount", ACCOUNT, "latest") == "0x3"
    assert call(in_process, "eth_getCode", ACCOUNT, "latest") == STORE_AND_LOAD
    assert call(in_process, "eth_getStorageAt", ACCOUNT, "0x1", "latest") == _word(8)
