"""Gas budgets of the paper's reference case, measured on py-evm under Petersburg and
Cancun: addData to a SparsePerceptron with 100 features, 15 words per sample, under
Stakeable, when the model agrees and when it disagrees, and the whole deployment.

The figures print with ``pytest -s``; the budgets are what the contracts achieve today
with a margin, so a change that costs gas fails here first. Reference figures for the
original Solidity 0.6 framework on the same setup (py-evm): Petersburg 188,681 (agrees),
278,870 (disagrees), 4,344,076 (deployment); Cancun 238,389 / 295,326 / 4,015,980.
"""

from __future__ import annotations

import random

import pytest

from tests.vm_contracts.deploy_util import deploy_trainer, now, transact
from vm_contracts.reference import StakeableRules

N_FEATURES, N_WORDS = 100, 15
RULES = StakeableRules(60, 3600, 7200, 10**15, 0)
STAKEABLE_ARGS = (60, 3600, 7200, 10**15, 0, False, 1)

# gas: measured figure + ~3%; deployment includes 100 non-zero initial weights
BUDGETS = {
    "petersburg": {"agree": 85_000, "disagree": 184_000, "deploy": 5_100_000},
    "cancun": {"agree": 120_000, "disagree": 188_000, "deploy": 3_950_000},
}


def _py_evm_web3(fork: str):
    from eth.vm.forks import CancunVM, PetersburgVM
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3

    from chain.config import DEFAULT_MNEMONIC

    vm = {"petersburg": PetersburgVM, "cancun": CancunVM}[fork]
    backend = PyEVMBackend(vm_configuration=((0, vm),), mnemonic=DEFAULT_MNEMONIC)
    return Web3(EthereumTesterProvider(EthereumTester(backend)))


def measure(fork: str, optimized: bool = True) -> dict[str, int]:
    """Gas of deployment and of addData (exact deposit) when the model agrees/disagrees."""
    w3 = _py_evm_web3(fork)
    call = {"gasPrice": 10**9} if fork == "petersburg" else {}
    rng = random.Random(0)
    weights = [rng.randint(-(10**9), 10**9) for _ in range(N_FEATURES)]
    d = deploy_trainer(
        w3,
        "SparsePerceptron",
        (N_FEATURES, 10**9, 0),
        "Stakeable",
        STAKEABLE_ARGS,
        init=[("initializeWeights", (0, weights))],
        evm_version=fork,
        optimized=optimized,
    )
    gas = {"deploy": sum(d.gas.values())}
    for case in ("agree", "disagree"):
        data = sorted(rng.sample(range(N_FEATURES), N_WORDS))
        prediction = d.trainer.functions.predict(data).call(call)
        label = prediction if case == "agree" else 1 - prediction
        last = d.incentive.functions.lastUpdateTimeS().call(call)
        t = now(w3) + 100
        w3.testing.timeTravel(t)  # fixes the next block's time, hence the exact deposit
        receipt = transact(w3, d.trainer.functions.addData(data, label), value=RULES.add_data_cost(t, last))
        gas[case] = receipt.gasUsed
    return gas


@pytest.mark.parametrize("fork", ["petersburg", "cancun"])
def test_add_data_and_deployment_stay_within_budget(fork):
    gas = measure(fork)
    print(f"\n{fork}: {gas}")
    for case, budget in BUDGETS[fork].items():
        assert gas[case] <= budget, f"{fork} {case}: {gas[case]} gas > budget {budget}"
    assert gas["agree"] < gas["disagree"]
