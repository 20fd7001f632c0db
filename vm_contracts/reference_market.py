"""Off-chain twin of PredictionMarket.sol (Harris & Waggoner 2019, section III-B).

It computes, with the contract's integer arithmetic, what a round of the market pays:
which test parts a seed draws, each part's hash, the test errors of every model h(t)
(re-applying the contributions in order to the initial model with the SparsePerceptron
twin of :mod:`vm_contracts.reference`), and the balances by the paper's iterated rule.

Balances are in wei times n (n test samples), as on chain, so the loss L = errors / n
enters exactly. Two versions of the rule are kept: :func:`balances_iterated`, the plain
rule one bounty round at a time (the definition; O(B * T)), and :func:`balances`,
which applies runs of rounds in which nobody drops out at once, as the contract does.
A test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak

from vm_contracts.errors import VmContractsError
from vm_contracts.reference import SparsePerceptron

MAX_FEATURES = 65536  # PredictionMarket.MAX_FEATURES: indices are packed as uint16

Sample = tuple[Sequence[int], int]  # (feature indices, label 0 or 1)


class ReferenceMarketError(VmContractsError, ValueError):
    """Raised when the twin is given a round the contract would refuse (e.g. a part
    with no samples, a label other than 0 or 1, a feature index out of range or not
    above the one before)."""


@dataclass(frozen=True)
class MarketTerms:
    """What a provider fixes when opening a round (``PredictionMarket.Terms``).

    Fields:
        stake_unit: wei per stake; each contribution carries exactly one, and the
            bounty is a positive multiple of it (B = bounty / stake_unit rounds).
        num_features: model features (1 .. 65536); data are indices below it.
        learning_rate: perceptron step, fixed point (10^9).
        intercept: initial bias, fixed point.
        initial_parts: k, the test parts revealed before participation.
        duration_s: participation lasts at most this long (s); 0 = no time limit.
        max_contributions: participation ends at this count; 0 = no count limit.
        reveal_window_s: time the provider has for each reveal step (s).
        loss_on_later_parts: the loss counts only the parts revealed after participation
            (the original framework's rule); False: all parts.
    """

    stake_unit: int
    num_features: int
    learning_rate: int
    intercept: int = 0
    initial_parts: int = 10
    duration_s: int = 0
    max_contributions: int = 0
    reveal_window_s: int = 86_400
    loss_on_later_parts: bool = False

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int, int, bool]:
        """The ABI tuple ``commit`` takes."""
        return (
            self.stake_unit,
            self.num_features,
            self.learning_rate,
            self.intercept,
            self.initial_parts,
            self.duration_s,
            self.max_contributions,
            self.reveal_window_s,
            self.loss_on_later_parts,
        )


@dataclass(frozen=True)
class TestPart:
    """One of the K committed parts of a test set.

    Fields:
        data: samples, each a tuple of feature indices.
        labels: their labels, 0 or 1.
        salt: 32 bytes the provider keeps secret until the reveal.
    """

    __test__ = False  # not a pytest class, despite its name

    data: tuple[tuple[int, ...], ...]
    labels: tuple[int, ...]
    salt: bytes

    @property
    def hash(self) -> bytes:
        return part_hash(self.salt, self.data, self.labels)


@dataclass
class MarketOutcome:
    """What the reward phase of a round computes.

    Fields:
        errors: test errors of h(0) .. h(T) (h(0) the initial model).
        balances: b_1 .. b_T at the end, wei times n.
        owed: wei each contributor may withdraw: floor(sum of their balances / n).
        rounds_applied: the run lengths applied (each a run without drop-outs).
    """

    errors: list[int]
    balances: list[int]
    owed: dict[str, int]
    rounds_applied: list[int] = field(default_factory=list)


def pack_sample(indices: Sequence[int]) -> bytes:
    """A test sample as ``revealTestPart`` takes it: each feature index as 2 bytes,
    big-endian (indices must be below 65536; the contract checks the order)."""
    if any(not 0 <= int(i) < MAX_FEATURES for i in indices):
        raise ReferenceMarketError(f"feature indices must be in [0, {MAX_FEATURES})")
    return b"".join(int(i).to_bytes(2, "big") for i in indices)


def part_hash(salt: bytes, data: Sequence[Sequence[int]], labels: Sequence[int]) -> bytes:
    """``PredictionMarket.partHash``: keccak256(abi.encode(salt, data, labels)), data
    as ``bytes[]`` of :func:`pack_sample` s."""
    encoded = encode(
        ["bytes32", "bytes[]", "uint64[]"],
        [salt, [pack_sample(x) for x in data], [int(y) for y in labels]],
    )
    return keccak(encoded)


def draw_parts(seed: bytes, round_id: int, num_parts: int, k: int) -> list[int]:
    """``PredictionMarket.drawParts``: the first k of a seeded Fisher-Yates shuffle."""
    order = list(range(num_parts))
    chosen = []
    for i in range(k):
        draw = int.from_bytes(keccak(encode(["bytes32", "uint256", "uint256"], [seed, round_id, i])), "big")
        j = i + draw % (num_parts - i)
        order[i], order[j] = order[j], order[i]
        chosen.append(order[i])
    return chosen


def split_test_set(samples: Sequence[Sample], num_parts: int, salt_seed: bytes = b"") -> list[TestPart]:
    """Split a test set into ``num_parts`` parts of (almost) equal size, in order, each
    with its own salt derived from ``salt_seed`` (keep it secret until the reveals)."""
    if num_parts < 2:
        raise ReferenceMarketError(f"a test set is split into at least 2 parts, not {num_parts}")
    if len(samples) < num_parts:
        raise ReferenceMarketError(f"{len(samples)} test samples cannot fill {num_parts} non-empty parts")
    parts = []
    for p in range(num_parts):
        chunk = samples[p * len(samples) // num_parts : (p + 1) * len(samples) // num_parts]
        salt = keccak(salt_seed + p.to_bytes(32, "big"))
        parts.append(
            TestPart(
                tuple(tuple(int(i) for i in x) for x, _ in chunk),
                tuple(int(y) for _, y in chunk),
                salt,
            )
        )
    return parts


def model_errors(
    terms: MarketTerms,
    contributions: Sequence[Sample],
    test: Sequence[Sample],
    initial_weights: Sequence[int] | None = None,
) -> list[int]:
    """Test errors of h(0) .. h(T): the contributions re-applied in order to a fresh
    SparsePerceptron (``initial_weights``, zero weights when None, and the terms'
    intercept), as the contract does."""
    _check_samples(test, terms.num_features, "test sample")
    _check_samples(contributions, terms.num_features, "contribution")
    weights = _initial_weights(initial_weights, terms.num_features)
    model = SparsePerceptron(terms.num_features, terms.learning_rate, terms.intercept, weights)
    errors = [_errors(model, test)]
    for data, label in contributions:
        changed = model.update(list(data), int(label))
        errors.append(_errors(model, test) if changed else errors[-1])
    return errors


def balances_iterated(errors: Sequence[int], stake_unit: int, n: int, bounty_rounds: int) -> list[int]:
    """The paper's rule, round by round: b_t starts at one stake; each round, for each t
    still in S in order, b_t += stake * (errors[t'] - errors[t]) with t' the previous
    member (0 first); then members below one stake leave S. Wei times n."""
    one = stake_unit * n
    total = len(errors) - 1
    balance = [one] * (total + 1)
    members = list(range(1, total + 1))
    for _ in range(bounty_rounds):
        if not members:
            break
        previous = 0
        for t in members:
            balance[t] += stake_unit * (errors[previous] - errors[t])
            previous = t
        members = [t for t in members if balance[t] >= one]
    return balance[1:]


def balances(
    errors: Sequence[int],
    stake_unit: int,
    n: int,
    bounty_rounds: int,
    history: list[list[int]] | None = None,
) -> tuple[list[int], list[int]]:
    """Same result as :func:`balances_iterated`, applying each run of rounds without a
    drop-out at once; also returns the run lengths (as the contract's BalanceRounds).
    If ``history`` is given, b_1 .. b_T after each run are appended to it."""
    one = stake_unit * n
    total = len(errors) - 1
    balance = [one] * (total + 1)
    members = list(range(1, total + 1))
    left = bounty_rounds
    runs = []
    while left > 0 and members:
        run = 0
        previous = 0
        for t in members:
            if errors[t] > errors[previous]:
                rounds = (balance[t] - one) // (stake_unit * (errors[t] - errors[previous])) + 1
                run = rounds if run == 0 else min(run, rounds)
            previous = t
        if run == 0 or run > left:
            run = left
        previous = 0
        for t in members:
            balance[t] += run * stake_unit * (errors[previous] - errors[t])
            previous = t
        members = [t for t in members if balance[t] >= one]
        left -= run
        runs.append(run)
        if history is not None:
            history.append(balance[1:])
    return balance[1:], runs


def settle(
    terms: MarketTerms,
    bounty: int,
    contributions: Sequence[tuple[str, Sequence[int], int]],
    test: Sequence[Sample],
    initial_weights: Sequence[int] | None = None,
) -> MarketOutcome:
    """The whole reward phase of a round: ``contributions`` as (contributor, data, label)
    in order, ``test`` the test set D the loss counts (:func:`scored_test_set`),
    ``initial_weights`` h(0)'s weights (None: zero weights, as ``commit``)."""
    if bounty <= 0 or bounty % terms.stake_unit:
        raise ReferenceMarketError(
            f"bounty {bounty} is not a positive multiple of the stake {terms.stake_unit}"
        )
    if not test:
        raise ReferenceMarketError("the test set is empty")
    errors = model_errors(terms, [(d, y) for _, d, y in contributions], test, initial_weights)
    final, runs = balances(errors, terms.stake_unit, len(test), bounty // terms.stake_unit)
    sums: dict[str, int] = {}
    for (who, _, _), b in zip(contributions, final, strict=True):
        sums[who] = sums.get(who, 0) + b
    owed = {who: total // len(test) for who, total in sums.items()}
    return MarketOutcome(errors, final, owed, runs)


def scored_test_set(terms: MarketTerms, parts: Sequence[TestPart], drawn: Sequence[int]) -> list[Sample]:
    """The test set D the loss counts, in the order the contract stores it: the drawn
    parts (unless ``terms.loss_on_later_parts``: then they are not scored), then the
    others by index."""
    order = [p for p in range(len(parts)) if p not in drawn]
    if not terms.loss_on_later_parts:
        order = [*drawn, *order]
    return [(x, y) for p in order for x, y in zip(parts[p].data, parts[p].labels, strict=True)]


def pack_weights(weights: Sequence[int]) -> list[int]:
    """int80 weights (fixed point) as ``commit`` takes them: three to a
    uint256 word, weight i at bits 80 * (i % 3) of word i / 3 (lib/Packed)."""
    words = [0] * ((len(weights) + 2) // 3)
    for i, w in enumerate(weights):
        value = _int80(int(w))
        words[i // 3] |= (value & ((1 << 80) - 1)) << (80 * (i % 3))
    return words


def _initial_weights(weights: Sequence[int] | None, num_features: int) -> list[int]:
    if weights is None:
        return [0] * num_features
    if len(weights) != num_features:
        raise ReferenceMarketError(f"{len(weights)} initial weights for {num_features} features")
    return [_int80(int(w)) for w in weights]


def _int80(value: int) -> int:
    if not -(2**79) <= value < 2**79:
        raise ReferenceMarketError(f"initial weight {value} does not fit int80")
    return value


def _errors(model: SparsePerceptron, test: Sequence[Sample]) -> int:
    return sum(1 for data, label in test if model.predict(list(data)) != label)


def _check_samples(samples: Sequence[Sample], num_features: int, what: str) -> None:
    if not 1 <= num_features <= MAX_FEATURES:
        raise ReferenceMarketError(f"num_features must be 1..{MAX_FEATURES}, got {num_features}")
    for position, (data, label) in enumerate(samples):
        if label not in (0, 1):
            raise ReferenceMarketError(f"{what} {position}: label {label} is not 0 or 1")
        previous = -1
        for i in data:
            if not 0 <= i < num_features:
                raise ReferenceMarketError(f"{what} {position}: feature index {i} not in [0, {num_features})")
            if i <= previous:
                raise ReferenceMarketError(
                    f"{what} {position}: feature indices must be strictly increasing ({i} after {previous})"
                )
            previous = i
