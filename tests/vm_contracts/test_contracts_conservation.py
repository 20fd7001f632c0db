"""Funds are conserved under any sequence of adds, refunds, reports and time jumps by
several accounts: what the accounts lose is exactly their fees plus what the trainer
holds, the trainer holds exactly the sum of what contributions can still pay out, and
no contribution ever pays out more than its deposit."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from tests.vm_contracts.deploy_util import deploy_trainer, time_travel, tx_params
from vm_contracts import reference as ref
from vm_contracts.fixed_point import SCALE

REFUND_WAIT, OWNER_WAIT, ANY_WAIT = 10, 30, 60  # s
COST_WEIGHT = 10**15  # wei * s
N_FEATURES = 6

people = st.integers(1, 4)  # account indices; 1 is the trainer's owner
sample = st.tuples(st.lists(st.integers(0, N_FEATURES - 1), max_size=3).map(sorted), st.integers(0, 1))
action = st.one_of(
    st.tuples(st.just("add"), people, sample, st.integers(0, 3 * 10**15)),
    st.tuples(st.just("refund"), people, st.integers(0, 20)),
    st.tuples(st.just("report"), people, st.integers(0, 20)),
    st.tuples(st.just("time"), st.sampled_from([5, 11, 31, 61])),
)


def _try(w3, fn, sender, value=0):
    """Send `fn` if a simulation says it succeeds; return the fee paid (0 if skipped)."""
    params = tx_params(w3, sender, value)
    try:
        fn.call({k: v for k, v in params.items() if k != "gas"})
    except Exception:
        return None
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact(params))
    assert receipt.status == 1
    return receipt


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(action, min_size=1, max_size=14))
def test_funds_are_conserved_exactly(w3, actions):
    accounts = w3.eth.accounts[1:5]
    d = deploy_trainer(
        w3,
        "SparsePerceptron",
        (N_FEATURES, SCALE, 0),
        "Stakeable",
        (REFUND_WAIT, OWNER_WAIT, ANY_WAIT, COST_WEIGHT, 10**12, False, 1),
        owner=accounts[0],
    )
    t = d.trainer.functions
    start = sum(w3.eth.get_balance(a) for a in accounts)
    fees = 0
    added: list[dict] = []  # DataAdded args in order
    paid: dict[bytes, int] = {}  # contribution key -> wei paid out of it
    for act in actions:
        kind = act[0]
        if kind == "time":
            time_travel(w3, act[1])
            continue
        who = w3.eth.accounts[act[1]]
        if kind == "add":
            (data, label), value = act[2], act[3]
            receipt = _try(w3, t.addData(data, label), who, value)
            if receipt:
                added.append(d.trainer.events.DataAdded().process_receipt(receipt, errors=DISCARD)[0]["args"])
        else:
            if not added:
                continue
            c = added[act[2] % len(added)]
            fn = getattr(t, kind)(c["contributor"], list(c["data"]), c["label"], c["addedTime"])
            receipt = _try(w3, fn, who)
            if receipt:
                event = (d.trainer.events.Refunded if kind == "refund" else d.trainer.events.Reported)()
                amount = event.process_receipt(receipt, errors=DISCARD)[0]["args"]["amount"]
                key = ref.contribution_key(c["contributor"], list(c["data"]), c["label"], c["addedTime"])
                paid[key] = paid.get(key, 0) + amount
        if receipt:
            assert w3.eth.get_block(receipt.blockNumber)["miner"] not in accounts
            fees += receipt.gasUsed * receipt.effectiveGasPrice
        held = w3.eth.get_balance(d.trainer.address)
        assert sum(w3.eth.get_balance(a) for a in accounts) + held + fees == start
        claimable = 0
        for c in added:
            key = ref.contribution_key(c["contributor"], list(c["data"]), c["label"], c["addedTime"])
            initial, remaining, *_ = d.handler.functions.contributions(key).call()
            assert initial == c["deposit"]
            assert paid.get(key, 0) + remaining == initial  # never more out than in
            claimable += remaining
        assert held == claimable
