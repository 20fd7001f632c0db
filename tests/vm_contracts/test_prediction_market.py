"""PredictionMarket on a real chain: every phase and its errors, balances equal to the
off-chain twin's for random rounds, exact fund conservation, and the mislabelled-test-set
attack the commitment guards against."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from vm_contracts.encoding import SCALE
from vm_contracts.errors import ContractRevert
from vm_contracts.market import Market, deploy_market
from vm_contracts.reference_market import (
    MarketTerms,
    TestPart,
    balances,
    balances_iterated,
    settle,
    split_test_set,
)

FEATURES = 16
STAKE = 1_000  # wei
BOUNTY_ROUNDS = 40
PARTS = 5
INITIAL_PARTS = 2
TEST_SAMPLES = 20
REVEAL_WINDOW_S = 600
DURATION_S = 3_600


def _sample(rng: random.Random) -> tuple[list[int], int]:
    """Label 1 when most indices are in the upper half: learnable by a perceptron."""
    x = sorted(rng.sample(range(FEATURES), 4))
    return x, int(sum(i >= FEATURES // 2 for i in x) > 2)


def _terms(max_contributions: int = 0, duration_s: int = 0) -> MarketTerms:
    return MarketTerms(
        stake_unit=STAKE,
        num_features=FEATURES,
        learning_rate=SCALE,
        intercept=0,
        initial_parts=INITIAL_PARTS,
        duration_s=duration_s,
        max_contributions=max_contributions,
        reveal_window_s=REVEAL_WINDOW_S,
    )


def _parts(seed: int, flip_labels: bool = False) -> list[TestPart]:
    rng = random.Random(seed)
    test = [_sample(rng) for _ in range(TEST_SAMPLES)]
    if flip_labels:
        test = [(x, 1 - y) for x, y in test]
    return split_test_set(test, PARTS, seed.to_bytes(8, "big"))


def _travel(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def _open(
    w3: Web3,
    market: Market,
    parts: Sequence[TestPart],
    terms: MarketTerms,
    bounty: int = STAKE * BOUNTY_ROUNDS,
    provider: str | None = None,
) -> list[int]:
    provider = provider or w3.eth.accounts[0]
    market.commit(terms, parts, bounty, provider)
    w3.provider.make_request("evm_mine", [])
    market.draw_test_parts(w3.eth.accounts[9])
    return market.reveal_initial_parts(parts, provider)


def _test_set(market: Market, parts: Sequence[TestPart], round_id: int) -> list[tuple[tuple[int, ...], int]]:
    """D in the order the contract stored it: drawn parts first, then the rest."""
    drawn = market.selected_parts(round_id, len(parts))
    order = drawn + [i for i in range(len(parts)) if i not in drawn]
    return [(x, y) for i in order for x, y in zip(parts[i].data, parts[i].labels, strict=True)]


def _revert(exc: pytest.ExceptionInfo[ContractRevert]) -> str:
    return exc.value.name


@pytest.fixture
def market(w3: Web3) -> Market:
    return deploy_market(w3, w3.eth.accounts[0])


# --- a whole round ------------------------------------------------------------------------


def test_round_pays_what_the_twin_computes_and_conserves_funds(w3: Web3, market: Market) -> None:
    accounts = w3.eth.accounts
    parts = _parts(1)
    terms = _terms(max_contributions=9)
    drawn = _open(w3, market, parts, terms)
    assert len(drawn) == INITIAL_PARTS and market.phase() == "Participation"
    rng = random.Random(2)
    contributions: list[tuple[str, list[int], int]] = []
    for i in range(9):
        x, y = _sample(rng)
        who = accounts[1 + i % 3]
        if who == accounts[3]:
            y = 1 - y  # a malicious contributor
        market.contribute(x, y, who)
        contributions.append((who, x, y))
    assert market.phase() == "Reveal"
    market.reveal_remaining_parts(parts, accounts[0])
    assert market.phase() == "Computing"
    for _ in range(3):  # a few tiny chunks, then the rest: the split must not matter
        market.advance(2, accounts[5])
    market.compute_rewards(accounts[5])
    assert market.phase() == "Finished"

    twin = settle(terms, STAKE * BOUNTY_ROUNDS, contributions, _test_set(market, parts, 1))
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances
    paid = 0
    for who, amount in twin.owed.items():
        assert market.owed_to(who) == (amount, False)
        before = w3.eth.get_balance(who)
        receipt = market.withdraw(who)
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert w3.eth.get_balance(who) == before + amount - fee
        paid += amount
    assert w3.eth.get_balance(market.address) == STAKE * BOUNTY_ROUNDS + 9 * STAKE - paid
    assert twin.owed[accounts[3]] < twin.owed[accounts[1]]  # bad data earns less


def test_time_limit_ends_participation(w3: Web3, market: Market) -> None:
    parts = _parts(3)
    _open(w3, market, parts, _terms(duration_s=DURATION_S))
    market.contribute([1, 2], 0, w3.eth.accounts[1])
    _travel(w3, DURATION_S)
    assert market.phase() == "Reveal"
    with pytest.raises(ContractRevert) as exc:
        market.contribute([1, 2], 0, w3.eth.accounts[1])
    assert _revert(exc) == "ParticipationClosed"


# --- commitment errors --------------------------------------------------------------------


def test_commitment_errors(w3: Web3, market: Market) -> None:
    provider = w3.eth.accounts[0]
    parts = _parts(4)
    with pytest.raises(ContractRevert) as exc:
        market.commit(_terms(max_contributions=3), parts, STAKE * 3 + 1, provider)
    assert _revert(exc) == "BountyNotMultipleOfStake"
    with pytest.raises(ContractRevert) as exc:
        market.commit(_terms(), parts, STAKE, provider)  # no end condition
    assert exc.value.args_by_name == {"what": "end condition"}
    market.commit(_terms(max_contributions=3), parts, STAKE * 10, provider)
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(0, parts[0], provider)
    assert _revert(exc) == "NotDrawn"
    # The draw needs the block after the commit, which the provider could not see.
    with pytest.raises(ContractRevert) as exc:
        market.draw_test_parts(w3.eth.accounts[2])
    assert _revert(exc) == "TooEarly"
    w3.provider.make_request("evm_mine", [])
    drawn = market.draw_test_parts(w3.eth.accounts[2])
    with pytest.raises(ContractRevert) as exc:
        market.draw_test_parts(w3.eth.accounts[2])
    assert _revert(exc) == "AlreadyDrawn"
    undrawn = next(i for i in range(PARTS) if i not in drawn)
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(undrawn, parts[undrawn], provider)
    assert _revert(exc) == "PartNotSelected"
    wrong = TestPart(parts[drawn[0]].data, tuple(1 - y for y in parts[drawn[0]].labels), parts[drawn[0]].salt)
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(drawn[0], wrong, provider)
    assert exc.value.name == "PartHashMismatch" and exc.value.args_by_name == {"part": drawn[0]}
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(drawn[0], parts[drawn[0]], w3.eth.accounts[1])
    assert _revert(exc) == "NotProvider"
    with pytest.raises(ContractRevert) as exc:
        market.contribute([1], 1, w3.eth.accounts[1])
    assert _revert(exc) == "WrongPhase"
    market.reveal_part(drawn[0], parts[drawn[0]], provider)
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(drawn[0], parts[drawn[0]], provider)
    assert _revert(exc) == "PartAlreadyRevealed"
    market.reveal_part(drawn[1], parts[drawn[1]], provider)
    assert market.phase() == "Participation"
    with pytest.raises(ContractRevert) as exc:
        market.commit(_terms(max_contributions=3), parts, STAKE * 10, w3.eth.accounts[4])
    assert _revert(exc) == "RoundInProgress"


# --- participation and reward errors -----------------------------------------------------------


def test_participation_and_reward_errors(w3: Web3, market: Market) -> None:
    accounts = w3.eth.accounts
    parts = _parts(5)
    drawn = _open(w3, market, parts, _terms(max_contributions=2))
    undrawn = next(i for i in range(PARTS) if i not in drawn)
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(undrawn, parts[undrawn], accounts[0])
    assert exc.value.name == "RevealOutOfPhase"
    with pytest.raises(ContractRevert) as exc:
        market.contribute([1], 1, accounts[1], stake=STAKE * 2)
    assert exc.value.name == "WrongStake"
    with pytest.raises(ContractRevert) as exc:
        market.contribute([FEATURES], 1, accounts[1])
    assert exc.value.name == "FeatureIndexOutOfRange"
    with pytest.raises(ContractRevert) as exc:
        market.contribute([1], 2, accounts[1])
    assert exc.value.name == "LabelOutOfRange"
    market.contribute([9, 10, 11], 1, accounts[1])
    market.contribute([1, 2, 3], 0, accounts[2])
    with pytest.raises(ContractRevert) as exc:
        market.contribute([1, 2, 3], 0, accounts[2])
    assert exc.value.name == "ParticipationClosed"
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(accounts[1])
    assert exc.value.name == "RewardPhaseNotFinished"
    with pytest.raises(ContractRevert) as exc:
        market.advance(10, accounts[1])
    assert exc.value.name == "ComputationNotStarted"
    market.reveal_remaining_parts(parts, accounts[0])
    with pytest.raises(ContractRevert) as exc:
        market.reveal_part(undrawn, parts[undrawn], accounts[0])
    assert exc.value.name == "RevealOutOfPhase"  # every part is out: computing now
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(accounts[1])
    assert exc.value.name == "RewardPhaseNotFinished"
    market.compute_rewards(accounts[7])
    with pytest.raises(ContractRevert) as exc:
        market.advance(10, accounts[7])
    assert exc.value.name == "ComputationFinished"
    market.withdraw(accounts[1])
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(accounts[1])
    assert exc.value.name == "AlreadyWithdrawn"
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(accounts[8])
    assert exc.value.name == "NothingToWithdraw"


def test_missed_reveal_aborts_keeps_bounty_and_refunds_stakes(w3: Web3, market: Market) -> None:
    accounts = w3.eth.accounts
    parts = _parts(6)
    bounty = STAKE * BOUNTY_ROUNDS
    _open(w3, market, parts, _terms(max_contributions=2))
    market.contribute([9, 10], 1, accounts[1])
    market.contribute([1, 2], 0, accounts[2])
    with pytest.raises(ContractRevert) as exc:
        market.abort_round(accounts[3])
    assert exc.value.name == "CannotAbort"
    _travel(w3, REVEAL_WINDOW_S + 1)
    with pytest.raises(ContractRevert) as exc:
        market.advance(10, accounts[3])
    assert exc.value.name == "ComputationNotStarted"
    market.abort_round(accounts[3])
    assert market.phase() == "Aborted"
    with pytest.raises(ContractRevert) as exc:
        market.reveal_remaining_parts(parts, accounts[0])
    assert exc.value.name == "RevealOutOfPhase"
    market.withdraw(accounts[1])
    market.withdraw(accounts[2])
    assert w3.eth.get_balance(market.address) == bounty  # locked for good
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(accounts[0])  # the provider gets nothing back
    assert exc.value.name == "NothingToWithdraw"
    # A new round, with a new provider.
    _open(w3, market, _parts(7), _terms(max_contributions=1), provider=accounts[4])
    assert market.current_round() == 2 and market.round_info()["provider"] == accounts[4]


def test_provider_missing_initial_reveals_loses_the_bounty(w3: Web3, market: Market) -> None:
    parts = _parts(8)
    market.commit(_terms(max_contributions=1), parts, STAKE * 5, w3.eth.accounts[0])
    _travel(w3, REVEAL_WINDOW_S + 1)
    market.abort_round(w3.eth.accounts[6])
    with pytest.raises(ContractRevert) as exc:
        market.withdraw(w3.eth.accounts[0])
    assert exc.value.name == "NothingToWithdraw"
    assert w3.eth.get_balance(market.address) == STAKE * 5


# --- the twin and random rounds ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    errors=st.lists(st.integers(0, 12), min_size=1, max_size=12),
    rounds=st.integers(0, 60),
    stake=st.integers(1, 5),
)
def test_rounds_without_dropouts_applied_at_once_equal_the_iterated_rule(
    errors: list[int], rounds: int, stake: int
) -> None:
    n = 12
    assert balances(errors, stake, n, rounds)[0] == balances_iterated(errors, stake, n, rounds)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    labels_flipped=st.lists(st.booleans(), min_size=2, max_size=7),
    rounds=st.integers(1, 60),
)
def test_random_rounds_balances_equal_the_twin(
    w3: Web3, seed: int, labels_flipped: list[bool], rounds: int
) -> None:
    accounts = w3.eth.accounts
    market = deploy_market(w3, accounts[0])
    rng = random.Random(seed)
    parts = _parts(seed)
    terms = _terms(max_contributions=len(labels_flipped))
    _open(w3, market, parts, terms, bounty=STAKE * rounds)
    contributions: list[tuple[str, list[int], int]] = []
    for i, flipped in enumerate(labels_flipped):
        x, y = _sample(rng)
        y = 1 - y if flipped else y
        market.contribute(x, y, accounts[1 + i % 4])
        contributions.append((accounts[1 + i % 4], x, y))
    market.reveal_remaining_parts(parts, accounts[0])
    market.compute_rewards(accounts[8])
    twin = settle(terms, STAKE * rounds, contributions, _test_set(market, parts, 1))
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances
    assert {who: market.owed_to(who)[0] for who in twin.owed} == twin.owed
    assert sum(twin.owed.values()) <= STAKE * (rounds + len(labels_flipped))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    contributions=st.integers(1, 40),
    flip_share=st.floats(0.0, 0.7),
    rounds=st.integers(1, 500),
    learning_rate=st.sampled_from([1, 3, SCALE]),
    intercept_steps=st.integers(-8, 8),
    intercept_offset=st.floats(0.0, 0.999),
    test_samples=st.sampled_from([7, 256, 300, 530]),
)
def test_bit_sliced_losses_and_scheduled_balances_equal_the_twin(
    w3: Web3,
    seed: int,
    contributions: int,
    flip_share: float,
    rounds: int,
    learning_rate: int,
    intercept_steps: int,
    intercept_offset: float,
    test_samples: int,
) -> None:
    """The contract keeps the test scores bit-sliced (256 samples a word, so 256, 300
    and 530 samples cross word boundaries) and jumps between drop-out rounds; the twin
    re-scores D with the weights and iterates; any intercept and learning rate."""
    accounts = w3.eth.accounts
    market = deploy_market(w3, accounts[0])
    rng = random.Random(seed)

    def sample() -> tuple[list[int], int]:
        x = sorted(rng.sample(range(FEATURES), rng.randint(1, 12)))
        return x, int(sum(i >= FEATURES // 2 for i in x) * 2 > len(x))

    test = [sample() for _ in range(test_samples)]
    parts = split_test_set(test, PARTS if test_samples >= PARTS else 2, seed.to_bytes(8, "big"))
    intercept = intercept_steps * learning_rate + int(intercept_offset * learning_rate)
    terms = MarketTerms(
        stake_unit=STAKE,
        num_features=FEATURES,
        learning_rate=learning_rate,
        intercept=intercept,
        initial_parts=1,
        max_contributions=contributions,
        reveal_window_s=REVEAL_WINDOW_S,
    )
    _open(w3, market, parts, terms, bounty=STAKE * rounds)
    sent: list[tuple[str, list[int], int]] = []
    for i in range(contributions):
        x, y = sample()
        y = 1 - y if rng.random() < flip_share else y
        who = accounts[1 + i % 4]
        market.contribute(x, y, who)
        sent.append((who, x, y))
    market.reveal_remaining_parts(parts, accounts[0])
    market.compute_rewards(accounts[8])
    twin = settle(terms, STAKE * rounds, sent, _test_set(market, parts, 1))
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances
    assert {who: market.owed_to(who)[0] for who in twin.owed} == twin.owed
    runs = [e["args"]["rounds"] for e in market.contract.events.BalanceRounds().get_logs(from_block=0)]
    assert runs == twin.rounds_applied


def test_feature_indices_must_be_strictly_increasing(w3: Web3, market: Market) -> None:
    parts = _parts(5)
    _open(w3, market, parts, _terms(max_contributions=3))
    for data, position in (([3, 3], 1), ([5, 2, 9], 1), ([1, 4, 4], 2)):
        with pytest.raises(ContractRevert) as exc:
            market.contribute(data, 1, w3.eth.accounts[1])
        assert exc.value.name == "FeatureIndicesNotIncreasing"
        assert exc.value.args_by_name == {"position": position}


# --- the attack the commitment guards against -----------------------------------------------------


def _agrees_with_own_labels(part: TestPart, threshold: float = 0.8) -> bool:
    """A careful contributor's check of a revealed part: do its labels match theirs?"""
    agree = sum(
        int(sum(i >= FEATURES // 2 for i in x) > 2) == y for x, y in zip(part.data, part.labels, strict=True)
    )
    return agree >= threshold * len(part.labels)


def test_mislabelled_test_set_with_matching_bad_data_does_not_profit_the_provider(
    w3: Web3, market: Market
) -> None:
    accounts = w3.eth.accounts
    provider, sybil = accounts[0], accounts[1]  # the provider also contributes, as `sybil`
    parts = _parts(9, flip_labels=True)
    bounty = STAKE * BOUNTY_ROUNDS
    drawn = _open(w3, market, parts, _terms(max_contributions=4), bounty=bounty, provider=provider)
    # The drawn parts are public before anyone stakes: careful contributors see the
    # mislabelling and stay out, so the provider's matching bad data earns only from
    # the provider's own bounty.
    assert not all(_agrees_with_own_labels(parts[i]) for i in drawn)
    rng = random.Random(10)
    outlay = bounty
    for _ in range(4):
        x, y = _sample(rng)
        market.contribute(x, 1 - y, sybil)  # data labelled like the bad test set
        outlay += STAKE
    market.reveal_remaining_parts(parts, provider)
    market.compute_rewards(accounts[7])
    received = 0
    for who in (provider, sybil):
        amount, _ = market.owed_to(who)
        if amount:
            market.withdraw(who)
            received += amount
    assert received <= outlay

    # Had an honest contributor joined blindly, they would have lost stake to the bad
    # test set (what the check above prevents), and still the provider, whose gains
    # come out of its own bounty first, would not have profited.
    rng = random.Random(10)
    blind: list[tuple[str, list[int], int]] = []
    for _ in range(4):
        x, y = _sample(rng)
        blind.append((accounts[2], x, y))  # honest first
        blind.append((sybil, x, 1 - y))  # then the provider's matching bad copy
    outcome = settle(_terms(), bounty, blind, _test_set(market, parts, 1))
    assert outcome.owed[accounts[2]] < 4 * STAKE  # the honest contributor loses
    assert outcome.owed[sybil] <= bounty + 4 * STAKE


# --- the command line -------------------------------------------------------------------------


def test_simulate_market_names_a_missing_dataset_in_one_line(tmp_path: Any) -> None:
    import subprocess
    import sys

    missing = tmp_path / "no-imdb-here"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "simulate-market",
            "--imdb",
            str(missing),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert str(missing) in proc.stderr and "internal error" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("market*"))


# --- linked libraries ---------------------------------------------------------------------


def test_unoptimized_market_deploys_under_eip170_and_pays_what_the_twin_computes(w3: Web3) -> None:
    """Without the optimizer the market's code fits EIP-170 (py-evm enforces it on
    deployment) now that its reward stages are linked libraries; it computes the same."""
    accounts = w3.eth.accounts
    market = deploy_market(w3, accounts[0], optimized=False)
    assert [label for label, _ in market.receipts] == [
        "deploy MarketLosses",
        "deploy MarketBalances",
        "deploy PredictionMarket",
    ]
    assert 0 < len(w3.eth.get_code(market.address)) <= 24_576
    parts = _parts(3)
    terms = _terms(max_contributions=6)
    _open(w3, market, parts, terms)
    rng = random.Random(4)
    contributions = []
    for i in range(6):
        x, y = _sample(rng)
        who = accounts[1 + i % 2]
        market.contribute(x, y if i % 3 else 1 - y, who)
        contributions.append((who, x, y if i % 3 else 1 - y))
    market.reveal_remaining_parts(parts, accounts[0])
    market.compute_rewards(accounts[5])
    twin = settle(terms, STAKE * BOUNTY_ROUNDS, contributions, _test_set(market, parts, 1))
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances


def test_one_set_of_libraries_serves_several_markets(w3: Web3) -> None:
    from vm_contracts.market import deploy_market_libraries

    libraries = deploy_market_libraries(w3, w3.eth.accounts[0])
    first = deploy_market(w3, w3.eth.accounts[0], libraries=libraries)
    second = deploy_market(w3, w3.eth.accounts[0], libraries=libraries)
    assert first.address != second.address
    assert [label for label, _ in second.receipts] == ["deploy PredictionMarket"]
    for market in (first, second):
        _open(w3, market, _parts(5), _terms(max_contributions=1))
        market.contribute([0, 9, 10, 11], 1, w3.eth.accounts[1])
        market.reveal_remaining_parts(_parts(5), w3.eth.accounts[0])
        market.compute_rewards(w3.eth.accounts[5])
        assert market.phase() == "Finished"


def test_an_advance_that_runs_out_of_gas_is_retried_with_fewer_steps(
    w3: Web3, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`compute_rewards` gives each advance a fixed share of the block gas limit. Squeeze
    that share to a few steps' worth: the 64-step first chunk then runs out of gas on
    chain, is retried with a quarter of the steps until one fits, and the round still
    ends with the twin's balances."""
    import vm_contracts.market as market_module

    accounts = w3.eth.accounts
    parts = _parts(4)
    terms = _terms(max_contributions=6)
    _open(w3, market, parts, terms)
    rng = random.Random(5)
    contributions: list[tuple[str, list[int], int]] = []
    for i in range(6):
        x, y = _sample(rng)
        market.contribute(x, y, accounts[1 + i % 2])
        contributions.append((accounts[1 + i % 2], x, y))
    market.reveal_remaining_parts(parts, accounts[0])
    assert market.phase() == "Computing"
    limit = int(w3.eth.get_block("latest")["gasLimit"])
    one_step = market.contract.functions.advance(1).estimate_gas({"from": accounts[5]})
    sixty_four = market.contract.functions.advance(64).estimate_gas({"from": accounts[5]})
    assert sixty_four > 4 * one_step  # else the squeeze below would not bite
    monkeypatch.setattr(market_module, "ADVANCE_GAS_GIVEN", 3 * one_step / limit)
    monkeypatch.setattr(market_module, "ADVANCE_GAS_SHARE", 2 * one_step / limit)
    succeeded: list[int] = []
    sent = market.compute_rewards(accounts[5], progress=lambda _, r: succeeded.append(int(r["status"])))
    assert market.phase() == "Finished"
    assert succeeded and set(succeeded) == {1}
    assert sent > len(succeeded)  # the out-of-gas attempts were sent, failed and retried
    twin = settle(terms, STAKE * BOUNTY_ROUNDS, contributions, _test_set(market, parts, 1))
    assert market.errors() == twin.errors
    assert market.balances() == twin.balances
