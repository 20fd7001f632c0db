"""CollaborativeTrainer with DataHandler and Stakeable or Points: adding data, refunds,
reports, owner and anyone claims, model replacement, and every refusal on the way."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from tests.vm_contracts.deploy_util import (
    assert_reverts,
    deploy,
    deploy_model,
    deploy_trainer,
    time_travel,
    transact,
)
from vm_contracts import reference as ref
from vm_contracts.fixed_point import SCALE

REFUND_WAIT = 60  # s
OWNER_WAIT = 600  # s
ANY_WAIT = 1200  # s
COST_WEIGHT = 10**16  # wei * s
MIN_DEPOSIT = 10**12  # wei
VALUE = 10**17  # wei sent with every addData in these tests (above any required deposit)
RULES = ref.StakeableRules(REFUND_WAIT, OWNER_WAIT, ANY_WAIT, COST_WEIGHT, MIN_DEPOSIT, False)
A, B = [1, 2], [3, 4]  # two samples
OWNER = 5  # index of the trainer's owner: not the block sealer (account 0), who earns tips


@pytest.fixture
def stake(w3):
    return deploy_trainer(
        w3,
        "SparsePerceptron",
        (10, SCALE, 0),
        "Stakeable",
        (REFUND_WAIT, OWNER_WAIT, ANY_WAIT, COST_WEIGHT, MIN_DEPOSIT, False, 1),
        metadata=("spam", "spam or ham", "bag-of-words/v1"),
        owner=w3.eth.accounts[OWNER],
    )


def _add(w3, d, sender, data, label, value=VALUE):
    receipt = transact(w3, d.trainer.functions.addData(data, label), sender, value)
    return receipt, d.trainer.events.DataAdded().process_receipt(receipt, errors=DISCARD)[0]["args"]


def _fee(w3, receipt):
    return receipt.gasUsed * receipt.effectiveGasPrice


def test_metadata_and_components_are_readable(w3, stake):
    t = stake.trainer.functions
    assert (t.name().call(), t.description().call(), t.encoder().call()) == (
        "spam",
        "spam or ham",
        "bag-of-words/v1",
    )
    assert t.owner().call() == w3.eth.accounts[OWNER]
    assert (t.dataHandler().call(), t.incentiveMechanism().call(), t.model().call()) == (
        stake.handler.address,
        stake.incentive.address,
        stake.model.address,
    )


def test_add_data_keeps_the_required_deposit_and_returns_the_excess(w3, stake):
    alice = w3.eth.accounts[1]
    last = stake.incentive.functions.lastUpdateTimeS().call()
    before = w3.eth.get_balance(alice)
    receipt, ev = _add(w3, stake, alice, A, 1)
    block_time = w3.eth.get_block(receipt.blockNumber)["timestamp"]
    assert ev["addedTime"] == block_time
    assert ev["deposit"] == RULES.add_data_cost(block_time, last)
    assert (ev["contributor"], ev["label"], list(ev["data"])) == (alice, 1, A)
    assert before - w3.eth.get_balance(alice) == ev["deposit"] + _fee(w3, receipt)
    assert w3.eth.get_balance(stake.trainer.address) == ev["deposit"]
    key = ref.contribution_key(alice, A, 1, block_time)
    assert stake.handler.functions.contributionKey(alice, ref.data_hash(A), 1, block_time).call() == key
    assert stake.handler.functions.contributions(key).call() == [
        ev["deposit"],
        ev["deposit"],
        0,
        False,
        True,
    ]
    assert stake.incentive.functions.lastUpdateTimeS().call() == block_time
    assert stake.trainer.functions.predict(A).call() == 1  # trained on it


def test_add_data_below_the_deposit_is_refused(w3, stake):
    data = assert_reverts(w3, stake.trainer.functions.addData(A, 1), "DepositTooLow", w3.eth.accounts[1], 0)
    assert int.from_bytes(data[4:36], "big") >= MIN_DEPOSIT


def test_add_data_checks_the_model_input(w3, stake):
    assert_reverts(w3, stake.trainer.functions.addData([10], 1), "FeatureIndexOutOfRange", value=VALUE)
    assert_reverts(w3, stake.trainer.functions.addData(A, 2), "LabelOutOfRange", value=VALUE)


def test_refund_returns_the_whole_deposit_after_the_wait_when_the_model_agrees(w3, stake):
    alice, bob = w3.eth.accounts[1], w3.eth.accounts[2]
    _, ev = _add(w3, stake, alice, A, 1)
    refund = stake.trainer.functions.refund(alice, A, 1, ev["addedTime"])
    assert_reverts(w3, refund, "TooEarly", alice)
    time_travel(w3, REFUND_WAIT)
    assert_reverts(w3, refund, "NotContributor", bob)
    assert_reverts(
        w3,
        stake.trainer.functions.refund(alice, A, 1, ev["addedTime"] + 1),
        "UnknownContribution",
        alice,
    )
    before = w3.eth.get_balance(alice)
    receipt = transact(w3, refund, alice)
    assert w3.eth.get_balance(alice) == before + ev["deposit"] - _fee(w3, receipt)
    out = stake.trainer.events.Refunded().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (out["contributor"], out["amount"], out["addedTime"], list(out["data"])) == (
        alice,
        ev["deposit"],
        ev["addedTime"],
        A,
    )
    assert stake.handler.functions.goodContributions(alice).call() == 1
    assert stake.handler.functions.totalGoodContributions().call() == 1
    key = ref.contribution_key(alice, A, 1, ev["addedTime"])
    assert stake.handler.functions.contributions(key).call() == [ev["deposit"], 0, 1, True, True]
    assert not stake.handler.functions.hasClaimed(key, alice).call()  # refunds show as `refunded`
    assert_reverts(w3, refund, "AlreadyRefunded", alice)
    assert w3.eth.get_balance(stake.trainer.address) == 0


def test_refund_is_refused_while_the_model_disagrees(w3, stake):
    alice, bob = w3.eth.accounts[1], w3.eth.accounts[2]
    _, ev = _add(w3, stake, alice, A, 1)
    _add(w3, stake, bob, A, 0)  # flips the model back: A now predicts 0
    time_travel(w3, REFUND_WAIT)
    assert_reverts(w3, stake.trainer.functions.refund(alice, A, 1, ev["addedTime"]), "ModelDisagrees", alice)


def _bad_sample_and_good_reporter(w3, d):
    """Carol's B=1 is refunded (Carol is good); Alice's A=1 is bad once Bob relabels A."""
    alice, bob, carol = w3.eth.accounts[1:4]
    _, good = _add(w3, d, carol, B, 1)  # learnt: w3 = w4 = 1, intercept 1
    _, bad = _add(w3, d, alice, A, 1)  # already predicted 1: no update
    _add(w3, d, bob, A, 0)  # learnt: w1 = w2 = -1, intercept 0, so A -> 0 and B -> 1
    time_travel(w3, REFUND_WAIT)
    transact(w3, d.trainer.functions.refund(carol, B, 1, good["addedTime"]), carol)
    return bad


def test_report_takes_the_reporters_share_once(w3, stake):
    alice, bob, carol, dave = w3.eth.accounts[1:5]
    bad = _bad_sample_and_good_reporter(w3, stake)
    report = stake.trainer.functions.report(alice, A, 1, bad["addedTime"])
    assert_reverts(w3, report, "CannotReportOwnContribution", alice)
    assert_reverts(w3, report, "NoGoodContributions", dave)
    before = w3.eth.get_balance(carol)
    receipt = transact(w3, report, carol)
    # Carol holds 1 of 1 good contributions: her share is the whole initial deposit
    share = RULES.report_amount(0, -REFUND_WAIT, bad["deposit"], bad["deposit"], False, 1, 1, False)
    assert share == bad["deposit"]
    assert w3.eth.get_balance(carol) == before + share - _fee(w3, receipt)
    out = stake.trainer.events.Reported().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (out["reporter"], out["contributor"], out["amount"]) == (carol, alice, share)
    # nothing is left, which the original checks first (a second share: the next test)
    assert_reverts(w3, report, "NothingToClaim", carol)
    assert_reverts(w3, report, "NothingToClaim", bob)


def test_a_reporter_who_took_a_share_takes_the_remainder_once_anyone_may(w3, stake):
    """The original framework checks `claimedBy[reporter]` only before anyAddressClaimWaitTimeS."""
    alice, bob, carol, dave = w3.eth.accounts[1:5]
    bad = _bad_sample_and_good_reporter(w3, stake)
    _, good = _add(w3, stake, dave, B, 1)
    time_travel(w3, REFUND_WAIT)
    transact(w3, stake.trainer.functions.refund(dave, B, 1, good["addedTime"]), dave)
    report = stake.trainer.functions.report(alice, A, 1, bad["addedTime"])
    receipt = transact(w3, report, carol)  # Carol holds 1 of 2 good contributions: half
    share = stake.trainer.events.Reported().process_receipt(receipt, errors=DISCARD)[0]["args"]["amount"]
    assert share == bad["deposit"] // 2 > 0
    assert_reverts(w3, report, "AlreadyClaimed", carol)
    time_travel(w3, ANY_WAIT)
    before = w3.eth.get_balance(carol)
    receipt = transact(w3, report, carol)
    assert w3.eth.get_balance(carol) == before + bad["deposit"] - share - _fee(w3, receipt)
    assert_reverts(w3, report, "NothingToClaim", dave)


def test_report_is_refused_before_the_wait_and_while_the_model_agrees(w3, stake):
    alice, carol = w3.eth.accounts[1], w3.eth.accounts[3]
    bad = _bad_sample_and_good_reporter(w3, stake)
    _, fresh = _add(w3, stake, alice, [5], 0)  # model agrees with it
    assert_reverts(w3, stake.trainer.functions.report(alice, [5], 0, fresh["addedTime"]), "TooEarly", carol)
    time_travel(w3, REFUND_WAIT)
    assert_reverts(
        w3, stake.trainer.functions.report(alice, [5], 0, fresh["addedTime"]), "ModelAgrees", carol
    )
    assert bad["deposit"] > 0


def test_owner_then_anyone_take_the_remainder_after_their_waits(w3, stake):
    owner, alice, bob, dave = (
        w3.eth.accounts[OWNER],
        w3.eth.accounts[1],
        w3.eth.accounts[2],
        w3.eth.accounts[4],
    )
    _, s1 = _add(w3, stake, alice, A, 1)
    _, s2 = _add(w3, stake, alice, B, 1)
    time_travel(w3, OWNER_WAIT)
    # the model agrees with both, yet the owner may take after t_c; others may not yet
    assert_reverts(w3, stake.trainer.functions.report(alice, B, 1, s2["addedTime"]), "ModelAgrees", dave)
    before = w3.eth.get_balance(owner)
    receipt = transact(w3, stake.trainer.functions.report(alice, A, 1, s1["addedTime"]), owner)
    assert w3.eth.get_balance(owner) == before + s1["deposit"] - _fee(w3, receipt)
    time_travel(w3, ANY_WAIT - OWNER_WAIT)
    receipt = transact(w3, stake.trainer.functions.report(alice, B, 1, s2["addedTime"]), dave)
    assert (
        stake.trainer.events.Reported().process_receipt(receipt, errors=DISCARD)[0]["args"]["amount"]
        == s2["deposit"]
    )
    assert w3.eth.get_balance(stake.trainer.address) == 0
    assert_reverts(w3, stake.trainer.functions.report(alice, B, 1, s2["addedTime"]), "NothingToClaim", bob)


def test_replace_model_swaps_in_an_initialised_model_owned_by_the_trainer(w3, stake):
    owner, alice = w3.eth.accounts[OWNER], w3.eth.accounts[1]
    _add(w3, stake, alice, A, 1)
    fresh, _ = deploy(w3, "SparsePerceptron", 10, SCALE, 0, sender=owner)
    replace = stake.trainer.functions.replaceModel(fresh.address)
    assert_reverts(w3, replace, "NotOwner", alice)
    assert_reverts(w3, replace, "ModelNotOwnedByTrainer", owner)
    transact(w3, fresh.functions.transferOwnership(stake.trainer.address), owner)
    assert_reverts(w3, replace, "ModelNotInitialized", owner)
    fresh2 = deploy_model(w3, "SparsePerceptron", (10, SCALE, 0), owner=owner)
    transact(w3, fresh2.functions.transferOwnership(stake.trainer.address), owner)
    receipt = transact(w3, stake.trainer.functions.replaceModel(fresh2.address), owner)
    ev = stake.trainer.events.ModelReplaced().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (ev["oldModel"], ev["newModel"]) == (stake.model.address, fresh2.address)
    assert stake.trainer.functions.model().call() == fresh2.address
    assert stake.trainer.functions.predict(A).call() == 0  # the old training is gone


def test_points_returns_all_value_and_awards_one_point_per_agreeing_sample(w3):
    d = deploy_trainer(w3, "SparsePerceptron", (10, SCALE, 0), "Points", (REFUND_WAIT,))
    alice, bob = w3.eth.accounts[1], w3.eth.accounts[2]
    before = w3.eth.get_balance(alice)
    receipt, ev = _add(w3, d, alice, A, 1)
    assert ev["deposit"] == 0
    assert w3.eth.get_balance(alice) == before - _fee(w3, receipt)
    assert d.incentive.functions.getNextAddDataCost().call() == 0
    refund = d.trainer.functions.refund(alice, A, 1, ev["addedTime"])
    assert_reverts(w3, refund, "TooEarly", alice)
    time_travel(w3, REFUND_WAIT)
    receipt = transact(w3, refund, alice)
    assert d.incentive.events.PointAwarded().process_receipt(receipt, errors=DISCARD)[0]["args"]["total"] == 1
    assert d.incentive.functions.points(alice).call() == 1
    assert_reverts(w3, refund, "AlreadyRefunded", alice)
    assert_reverts(w3, d.trainer.functions.report(alice, A, 1, ev["addedTime"]), "ReportNotSupported", bob)
    _, ev2 = _add(w3, d, alice, B, 1)
    _add(w3, d, bob, B, 0)
    time_travel(w3, REFUND_WAIT)
    assert_reverts(w3, d.trainer.functions.refund(alice, B, 1, ev2["addedTime"]), "ModelDisagrees", alice)
    assert w3.eth.get_balance(d.trainer.address) == 0


def test_components_refuse_writes_from_anyone_but_the_trainer(w3, stake):
    alice = w3.eth.accounts[1]
    h, im, m = stake.handler.functions, stake.incentive.functions, stake.model.functions
    assert_reverts(w3, h.handleAddData(alice, b"\0" * 32, 1, 0), "NotOwner", alice)
    assert_reverts(w3, h.handleRefund(alice, b"\0" * 32, 1, 0), "NotOwner", alice)
    assert_reverts(w3, h.handleReport(b"\0" * 32, alice, 0), "NotOwner", alice)
    assert_reverts(w3, im.handleAddData(VALUE), "NotOwner", alice)
    assert_reverts(w3, im.handleRefund(alice, 0, 0, True), "NotOwner", alice)
    assert_reverts(w3, m.update(A, 1), "NotOwner", alice)
    assert_reverts(w3, h.transferOwnership(alice), "NotOwner", alice)


def test_data_handler_refuses_oversized_deposits_and_claims(w3):
    owner, alice = w3.eth.accounts[0], w3.eth.accounts[1]
    h, _ = deploy(w3, "DataHandler")
    dh = b"\x11" * 32
    assert_reverts(w3, h.functions.handleAddData(alice, dh, 1, 2**96), "DepositTooLarge", owner)
    receipt = transact(w3, h.functions.handleAddData(alice, dh, 1, 5), owner)
    t = w3.eth.get_block(receipt.blockNumber)["timestamp"]
    key = h.functions.contributionKey(alice, dh, 1, t).call()
    assert_reverts(w3, h.functions.handleReport(key, owner, 6), "ClaimTooLarge", owner)
    assert_reverts(w3, h.functions.handleReport(b"\0" * 32, owner, 0), "UnknownContribution", owner)
    assert list(h.functions.reportInfo(owner, alice, dh, 1, t).call()) == [key, 5, 5, 0, 0, False]
    transact(w3, h.functions.handleReport(key, owner, 2), owner)
    # the handler records the claim; whether a second one is allowed is the mechanism's rule
    assert list(h.functions.reportInfo(owner, alice, dh, 1, t).call()) == [key, 5, 3, 0, 0, True]
    assert list(h.functions.reportInfo(alice, alice, dh, 1, t).call()) == [key, 5, 3, 0, 0, False]
    assert h.functions.contributions(key).call() == [5, 3, 1, False, True]
    transact(w3, h.functions.handleReport(key, owner, 1), owner)
    assert h.functions.contributions(key).call() == [5, 2, 2, False, True]


def test_stakeable_refuses_unordered_wait_times_and_prices_by_elapsed_time(w3):
    from vm_contracts.build import load_artifact

    art = load_artifact("Stakeable")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    assert_reverts(w3, factory.constructor(10, 5, 20, 1, 0, False, 1), "InvalidWaitTimes")
    assert_reverts(w3, factory.constructor(10, 30, 20, 1, 0, False, 1), "InvalidWaitTimes")
    assert_reverts(w3, factory.constructor(10, 20, 20, 1, 0, False, 0), "InvalidCostUnit")
    s, _ = deploy(w3, "Stakeable", 1, 2, 3, 1000, 7, False, 1)
    last = s.functions.lastUpdateTimeS().call()
    for t in (last - 5, last, last + 1, last + 3, last + 200, last + 10**6):
        assert s.functions.getAddDataCost(t).call() == ref.StakeableRules(1, 2, 3, 1000, 7).add_data_cost(
            t, last
        )


def test_square_root_law_prices_by_the_integer_root_of_elapsed_time(w3):
    s, _ = deploy(w3, "Stakeable", 1, 2, 3, 60_000, 7, True, 1)
    assert s.functions.sqrtDepositLaw().call()
    rules = ref.StakeableRules(1, 2, 3, 60_000, 7, sqrt_deposit_law=True)
    last = s.functions.lastUpdateTimeS().call()
    for t in [last - 5, *range(last, last + 70), last + 599, last + 10**9, last + 2**64]:
        assert s.functions.getAddDataCost(t).call() == rules.add_data_cost(t, last), t - last
    assert rules.add_data_cost(last + 600, last) == 60_000 // 24  # isqrt(600) = 24
    assert rules.add_data_cost(last + 10**9, last) == 7  # the floor


def test_cost_unit_keeps_the_required_deposit_in_whole_units(w3):
    """60 units / isqrt(elapsed), rounded down to whole units of 10^9 wei (the original's int())."""
    unit = 10**9
    s, _ = deploy(w3, "Stakeable", 1, 2, 3, 60, 1, True, unit)
    assert s.functions.costUnitWei().call() == unit
    rules = ref.StakeableRules(1, 2, 3, 60, 1, sqrt_deposit_law=True, cost_unit=unit)
    last = s.functions.lastUpdateTimeS().call()
    for t in [last - 5, *range(last, last + 40), last + 599, last + 600, last + 10**9]:
        assert s.functions.getAddDataCost(t).call() == rules.add_data_cost(t, last), t - last
    assert rules.add_data_cost(last + 600, last) == 2 * unit  # 60 / 24 = 2.5: two whole units
    assert rules.add_data_cost(last + 10**9, last) == unit  # the floor, one unit


def test_contributor_takes_own_remainder_only_once_anyone_may(w3, stake):
    alice, bob = w3.eth.accounts[1], w3.eth.accounts[2]
    _, own = _add(w3, stake, alice, A, 1)
    _add(w3, stake, bob, A, 0)  # the model now disagrees with alice's sample: no refund
    take = stake.trainer.functions.report(alice, A, 1, own["addedTime"])
    time_travel(w3, OWNER_WAIT)
    assert_reverts(w3, take, "CannotReportOwnContribution", alice)
    time_travel(w3, ANY_WAIT - OWNER_WAIT)
    before = w3.eth.get_balance(alice)
    receipt = transact(w3, take, alice)
    assert w3.eth.get_balance(alice) == before + own["deposit"] - _fee(w3, receipt)
    # nothing is left to refund, so it cannot count as a good contribution either
    refund = stake.trainer.functions.refund(alice, A, 1, own["addedTime"])
    assert_reverts(w3, refund, "NothingToClaim", alice)


def test_a_share_that_rounds_to_nothing_takes_the_whole_remainder(w3):
    """The original's rule: when initialDeposit * good / totalGood is 0 wei (too little left to
    divide up) or more than is left, the reporter takes all that is left."""
    s, _ = deploy(w3, "Stakeable", 10, 200, 300, 60, 1, True, 1)
    rules = ref.StakeableRules(10, 200, 300, 60, 1, sqrt_deposit_law=True, cost_unit=1)
    now = w3.eth.get_block("latest")["timestamp"]
    added = now - 50  # past the refund wait, before the owner's and anyone's
    cases = [
        (3, 3, 1, 4),  # share 3 * 1 / 4 = 0 wei: all 3 left
        (1000, 7, 1, 4),  # share 250 > 7 left: the 7
        (1000, 400, 1, 4),  # share 250 of 400 left
    ]
    for deposit, claimable, good, total in cases:
        args = (deposit, claimable, added, False, good, total, False, False, False)
        taken = s.functions.handleReport(*args).call()
        assert taken == rules.report_amount(now, added, deposit, claimable, False, good, total, False)
        assert taken == (250 if claimable == 400 else claimable)
