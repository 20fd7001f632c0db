"""PredictionMarket with the original framework's rules (an initial model h(0) with
trained weights, the loss over the parts revealed after participation only) beside the
zero-weight round: chain and twin agree balance for balance in both, and the two
variants differ where they must."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from web3 import Web3

from vm_contracts.encoding import SCALE
from vm_contracts.errors import ClientError, ContractRevert
from vm_contracts.market import Market, deploy_market
from vm_contracts.reference import SparsePerceptron
from vm_contracts.reference_market import (
    MarketOutcome,
    MarketTerms,
    TestPart,
    pack_weights,
    scored_test_set,
    settle,
    split_test_set,
)

FEATURES = 16
STAKE = 1_000  # wei
BOUNTY_ROUNDS = 40
PARTS = 5
INITIAL_PARTS = 2
TEST_SAMPLES = 25
CONTRIBUTIONS = 12


def _sample(rng: random.Random) -> tuple[list[int], int]:
    x = sorted(rng.sample(range(FEATURES), 4))
    return x, int(sum(i >= FEATURES // 2 for i in x) > 2)


def _terms(later_only: bool, learning_rate: int = SCALE, intercept: int = 0) -> MarketTerms:
    return MarketTerms(
        stake_unit=STAKE,
        num_features=FEATURES,
        learning_rate=learning_rate,
        intercept=intercept,
        initial_parts=INITIAL_PARTS,
        max_contributions=CONTRIBUTIONS,
        reveal_window_s=600,
        loss_on_later_parts=later_only,
    )


def _round(
    w3: Web3, terms: MarketTerms, parts: Sequence[TestPart], weights: Sequence[int] | None
) -> tuple[Market, list[int], MarketOutcome]:
    """One whole round on a fresh market: the twin's outcome checked against the chain's
    errors, balances and payouts."""
    accounts = w3.eth.accounts
    market = deploy_market(w3, accounts[0])
    market.commit(terms, parts, STAKE * BOUNTY_ROUNDS, accounts[0], initial_weights=weights)
    w3.provider.make_request("evm_mine", [])
    drawn = market.draw_test_parts(accounts[9])
    market.reveal_initial_parts(parts, accounts[0])
    rng = random.Random(7)
    contributions: list[tuple[str, list[int], int]] = []
    for i in range(CONTRIBUTIONS):
        x, y = _sample(rng)
        who = accounts[1 + i % 3]
        if who == accounts[3]:
            y = 1 - y
        market.contribute(x, y, who)
        contributions.append((who, x, y))
    market.reveal_remaining_parts(parts, accounts[0])
    market.advance(3, accounts[5])  # a small chunk first: the split must not matter
    market.compute_rewards(accounts[5])
    test = scored_test_set(terms, parts, drawn)
    twin = settle(terms, STAKE * BOUNTY_ROUNDS, contributions, test, weights)
    assert market.counts()[1] == len(test)
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances
    for who, amount in twin.owed.items():
        assert market.owed_to(who) == (amount, False)
        market.withdraw(who)
    return market, drawn, twin


def _weights(scale: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(-scale, scale) for _ in range(FEATURES)]


@pytest.mark.parametrize(
    ("scale", "rate", "intercept"),
    [
        (3 * SCALE, 7 * SCALE // 10, -(SCALE // 10)),  # trained-model sizes, a step not dividing them
        (2**78, 3, 2**77),  # start values of ~80 bits: the slices widen during indexing
    ],
)
def test_original_rules_pay_what_the_twin_computes(w3: Web3, scale: int, rate: int, intercept: int) -> None:
    rng = random.Random(1)
    parts = split_test_set([_sample(rng) for _ in range(TEST_SAMPLES)], PARTS, b"original")
    weights = _weights(scale, 2)
    terms = _terms(True, rate, intercept)
    market, drawn, twin = _round(w3, terms, parts, weights)
    assert market.initial_weights() == weights
    later = [p for p in range(PARTS) if p not in drawn]
    assert market.counts()[1] == sum(len(parts[p].labels) for p in later)
    # h(0)'s errors are those of the given weights on the later parts only
    h0 = SparsePerceptron(FEATURES, rate, intercept, list(weights))
    assert twin.errors[0] == sum(
        h0.predict(list(x)) != y for p in later for x, y in zip(parts[p].data, parts[p].labels, strict=True)
    )


def test_original_and_zero_weight_rounds_differ_where_they_must(w3: Web3) -> None:
    rng = random.Random(3)
    parts = split_test_set([_sample(rng) for _ in range(TEST_SAMPLES)], PARTS, b"variants")
    weights = _weights(2 * SCALE, 4)
    zero, _, zero_twin = _round(w3, _terms(False), parts, None)
    assert zero.initial_weights() == [0] * FEATURES
    assert zero.counts()[1] == TEST_SAMPLES  # every part scored
    # zero weights and bias score 0 everywhere: h(0) predicts 0, wrong on every 1
    assert zero_twin.errors[0] == sum(y for p in parts for y in p.labels)
    # the same contributions on the original's rules: another h(0), another D
    original, _, original_twin = _round(w3, _terms(True), parts, weights)
    assert original.counts()[1] < TEST_SAMPLES
    assert original_twin.errors != zero_twin.errors
    assert original_twin.balances != zero_twin.balances
    # only the weights, not the loss, changed: h(0) predicts with them before any contribution
    assert original.predict(parts[0].data[0], round_id=1) == SparsePerceptron(
        FEATURES, SCALE, 0, list(weights)
    ).predict(list(parts[0].data[0]))
    # the loss option alone: zero weights, later parts only
    later, later_drawn, later_twin = _round(w3, _terms(True), parts, None)
    later_set = scored_test_set(_terms(True), parts, later_drawn)
    assert len(later_twin.errors) == CONTRIBUTIONS + 1 and later.counts()[1] == len(later_set)


def test_initial_weights_are_checked(w3: Web3) -> None:
    accounts = w3.eth.accounts
    market = deploy_market(w3, accounts[0])
    rng = random.Random(5)
    parts = split_test_set([_sample(rng) for _ in range(TEST_SAMPLES)], PARTS, b"checks")
    terms = _terms(True)
    too_many = pack_weights([1] * FEATURES) + [1]
    with pytest.raises(ContractRevert) as exc:
        market._sender.send(
            market.contract.functions.commit(terms.as_tuple(), [p.hash for p in parts], too_many),
            accounts[0],
            "commit",
            value=STAKE * BOUNTY_ROUNDS,
        )
    assert exc.value.name == "InvalidParameter" and exc.value.args_by_name == {"what": "initialWeights"}
    with pytest.raises(ClientError):
        market.commit(terms, parts, STAKE * BOUNTY_ROUNDS, accounts[0], initial_weights=[1, 2])
    assert market.current_round() == 0  # nothing was committed
