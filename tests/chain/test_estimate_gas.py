"""eth_estimateGas's search: the least gas limit that succeeds, found by both searches and
equal to a brute-force scan of every limit, for calls whose need exceeds the gas they
consume (63/64 forwarding, one and two levels deep; EIP-2200's SSTORE sentry) and for
one with a refund; the predicted search needs fewer executions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chain.chain import ESTIMATE_SEARCHES, Chain
from chain.errors import CallReverted
from chain.vm import contract_address
from tests.chain.conftest import Sender, open_chain

BURNER = b"\xb0" * 20
MIDDLE = b"\xb1" * 20
CALLER = b"\xb2" * 20
SENDER = b"\x5e" * 20
# Burns 100 loop turns of 26 gas: PUSH1 20; loop: JUMPDEST PUSH1 1 SWAP1 SUB DUP1 PUSH1 2 JUMPI; STOP
BURNER_CODE = bytes.fromhex("60645b6001900380600257" + "00")


def forwarding(callee: bytes) -> bytes:
    """CALL(GAS, callee, 0, 0, 0, 0, 0) with all the gas left (63/64 of it reaches the
    callee), then REVERT if the call failed, else STOP."""
    return bytes.fromhex(
        "60006000600060006000" + "73" + callee.hex() + "5af1" + "602957" + "60006000fd" + "5b00"
    )


# SSTORE(0, 1) over a slot that holds 1: costs 2,200 gas but needs 2,301 left (EIP-2200)
SENTRY_CODE = bytes.fromhex("6001600055" + "00")
# SSTORE(0, 0) over a stored 1: a refund (4,800 since London) the limit must not count
CLEARING_CODE = bytes.fromhex("6000600055" + "00")
# Creation code: SSTORE(0, 1), then return CLEARING_CODE as the runtime
CLEARING_INIT = bytes.fromhex("6001600055" + "6006601160003960066000f3") + CLEARING_CODE
ONE = (1).to_bytes(32, "big")

CASES: dict[str, tuple[bytes, dict[bytes, dict[str, Any]]]] = {
    "plain loop": (BURNER, {BURNER: {"code": BURNER_CODE}}),
    "one level of 63/64": (CALLER, {CALLER: {"code": forwarding(BURNER)}, BURNER: {"code": BURNER_CODE}}),
    "two levels of 63/64": (
        CALLER,
        {
            CALLER: {"code": forwarding(MIDDLE)},
            MIDDLE: {"code": forwarding(BURNER)},
            BURNER: {"code": BURNER_CODE},
        },
    ),
    "SSTORE sentry": (CALLER, {CALLER: {"code": SENTRY_CODE, "stateDiff": {bytes(32): ONE}}}),
    "refund": (b"", {}),  # the contract CLEARING_INIT deploys (the chain fixture's block 1)
}


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    """A chain whose block 1 deploys CLEARING_INIT (slot 0 stored as 1)."""
    opened = open_chain()
    deployer = Sender(opened)
    opened.build_block([deployer.tx(data=CLEARING_INIT)])
    CASES["refund"] = (contract_address(deployer.canonical, 0), {})
    assert opened.state_at().get_storage(CASES["refund"][0], 0) == 1
    yield opened
    opened.close()


def counting(chain: Chain) -> tuple[list[int], Callable[[], None]]:
    """Count the executions of ``chain``'s calls (the gas of each) until restored."""
    runs: list[int] = []
    original = chain._run_call

    def counted(request, header, overrides):  # type: ignore[no-untyped-def]
        runs.append(int(request["gas"]))
        return original(request, header, overrides)

    chain._run_call = counted  # type: ignore[method-assign]
    return runs, lambda: setattr(chain, "_run_call", original)


def brute_minimum(chain: Chain, request: dict[str, Any], overrides: dict[bytes, dict[str, Any]]) -> int:
    """The least limit that succeeds, by trying every limit from the intrinsic gas up."""
    gas = 21_000
    while chain.call({**request, "gas": gas}, None, overrides).reverted:
        gas += 1
    return gas


@pytest.mark.slow  # the brute scan runs every limit from 21,000 up: ~25,000 calls in all
@pytest.mark.parametrize("case", CASES)
def test_every_search_finds_the_least_limit_a_brute_scan_finds(chain, case):
    to, overrides = CASES[case]
    request = {"from": SENDER, "to": to, "data": b""}
    least = brute_minimum(chain, request, overrides)
    for search in ESTIMATE_SEARCHES:
        estimate = chain.estimate_gas(request, None, overrides, search=search)
        assert estimate == least, search
        assert chain.call({**request, "gas": estimate - 1}, None, overrides).reverted
    used = chain.call({**request, "gas": 1_000_000}, None, overrides).gas_used  # before refunds
    if case in ("plain loop", "refund"):
        assert least == used  # what it consumes before refunds is enough
    else:
        assert least > used  # the need exceeds the consumption: the search is exercised


@pytest.mark.parametrize("case", ["one level of 63/64", "two levels of 63/64"])
def test_the_predicted_search_runs_fewer_executions_than_bisection(chain, case):
    to, overrides = CASES[case]
    request = {"from": SENDER, "to": to, "data": b""}
    counts = {}
    for search in ESTIMATE_SEARCHES:
        runs, restore = counting(chain)
        try:
            chain.estimate_gas(request, None, overrides, search=search)
        finally:
            restore()
        counts[search] = len(runs)
    assert counts["predicted"] == 4 < counts["bisection"]  # cap, used, the prediction, one below


def test_an_ordinary_call_takes_two_executions_and_a_failing_one_raises(chain):
    to, overrides = CASES["plain loop"]
    runs, restore = counting(chain)
    try:
        chain.estimate_gas({"from": SENDER, "to": to, "data": b""}, None, overrides)
    finally:
        restore()
    assert len(runs) == 2
    reverting = {CALLER: {"code": bytes.fromhex("60006000fd")}}
    with pytest.raises(CallReverted):
        chain.estimate_gas({"from": SENDER, "to": CALLER, "data": b""}, None, reverting)
    with pytest.raises(ValueError, match="unknown estimate search"):
        chain.estimate_gas({"from": SENDER, "to": to, "data": b""}, None, overrides, search="guess")
