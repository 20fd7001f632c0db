"""The Python SDK for PredictionMarket.sol, on web3.py (the style of ``client.py``).

* :func:`deploy_market` deploys the market, linked to its reward-stage libraries
  (``MarketLosses``, ``MarketBalances``: deployed once, by :func:`deploy_market_libraries`
  unless their addresses are given); :class:`Market` wraps a deployed one.
* A round: the provider :meth:`Market.commit` s a bounty and the hashes of a test set
  split with :func:`~vm_contracts.reference_market.split_test_set`; anyone
  :meth:`Market.draw_test_parts`; the provider reveals the drawn parts
  (:meth:`Market.reveal_initial_parts`); contributors :meth:`Market.contribute`; after
  the end the provider reveals the rest (:meth:`Market.reveal_remaining_parts`); anyone
  :meth:`Market.compute_rewards` (as many ``advance`` transactions as the gas limit
  needs); everyone :meth:`Market.withdraw` s.
* Reverts surface as :class:`~vm_contracts.errors.ContractRevert` naming the custom
  error, e.g. ``PartHashMismatch(part=3)``; receipts are kept in ``Market.receipts``
  as (label, receipt) so benchmarks can read the gas of each phase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from web3 import Web3

from vm_contracts.deploy import (
    DEFAULT_EVM_VERSION,
    Account,
    BlockId,
    Deployer,
    Sender,
    address_of,
    load_contract,
)
from vm_contracts.errors import ClientError, ContractRevert, TransactionFailed
from vm_contracts.reference_market import MarketTerms, TestPart, pack_sample, pack_weights
from vm_contracts.revert import ErrorDecoder

CONTRACT = "PredictionMarket"
LIBRARIES = ("MarketLosses", "MarketBalances")  # linked (external) libraries of the market
PHASES = ("None", "Commitment", "Participation", "Reveal", "Computing", "Finished", "Aborted")
ADVANCE_GAS_SHARE = 0.5  # share of the block gas limit one advance transaction aims at
ADVANCE_GAS_GIVEN = 0.7  # gas each advance is given, as a share of the block gas limit
ADVANCE_FIRST_STEPS = 64  # steps of the first advance, used to measure gas per step
ADVANCE_MAX_STEPS = 1_000_000  # steps per advance transaction at most
# Gas given to drawTestParts: a Fisher-Yates shuffle of K indices in memory, then k
# fresh `selected` slots and the event (generous; what is not used is not paid).
DRAW_GAS_BASE = 150_000
DRAW_GAS_PER_PART = 3_000
DRAW_GAS_PER_DRAWN = 40_000
ADVANCE_MAX_TRANSACTIONS = 100_000  # give up after this many (a bug, not a workload)


def _decoder(evm_version: str, optimized: bool) -> ErrorDecoder:
    """Revert decoding for the market and the libraries it runs by DELEGATECALL."""
    return ErrorDecoder([load_contract(name, evm_version, optimized).abi for name in (CONTRACT, *LIBRARIES)])


def deploy_market_libraries(
    w3: Web3,
    account: Account,
    evm_version: str = DEFAULT_EVM_VERSION,
    optimized: bool = True,
    receipts: list[tuple[str, Any]] | None = None,
) -> dict[str, str]:
    """Deploy the market's linked libraries from ``account`` (the SDK's deployer):
    name -> address. One set serves every market of the same build (they hold no state
    of their own)."""
    deployer = Deployer(w3, account, decoder=_decoder(evm_version, optimized), receipts=receipts)
    for name in LIBRARIES:
        deployer.library(load_contract(name, evm_version, optimized))
    return dict(deployer.libraries)


def deploy_market(
    w3: Web3,
    account: Account,
    evm_version: str = DEFAULT_EVM_VERSION,
    libraries: Mapping[str, str] | None = None,
    optimized: bool = True,
) -> Market:
    """Deploy a PredictionMarket from ``account``, linked to ``libraries`` (name ->
    address; deployed first when not given); the returned Market sends as it."""
    receipts: list[tuple[str, Any]] = []
    if libraries is None:
        libraries = deploy_market_libraries(w3, account, evm_version, optimized, receipts)
    deployer = Deployer(
        w3, account, decoder=_decoder(evm_version, optimized), receipts=receipts, libraries=libraries
    )
    contract = deployer.contract(load_contract(CONTRACT, evm_version, optimized))
    return Market(w3, contract.address, evm_version, receipts, optimized)


class Market:
    """A deployed PredictionMarket.

    Fields:
        w3: the web3 every call goes through.
        contract: the web3 contract object.
        receipts: (label, receipt) of every transaction sent through this object.
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        evm_version: str = DEFAULT_EVM_VERSION,
        receipts: list[tuple[str, Any]] | None = None,
        optimized: bool = True,
    ) -> None:
        artifact = load_contract(CONTRACT, evm_version, optimized)
        self.w3 = w3
        self.contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
        self.receipts: list[tuple[str, Any]] = receipts if receipts is not None else []
        self.decoder = _decoder(evm_version, optimized)
        self._sender = Sender(w3, self.decoder, self.receipts)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # --- transactions --------------------------------------------------------------

    def commit(
        self,
        terms: MarketTerms,
        parts: Sequence[TestPart],
        bounty: int,
        provider: Account,
        initial_weights: Sequence[int] | None = None,
        gas: int | None = None,
    ) -> Any:
        """Open a round as ``provider`` with ``bounty`` wei and the parts' hashes; h(0)
        has zero weights, or ``initial_weights`` (fixed point, one per feature:
        packed by :func:`~vm_contracts.reference_market.pack_weights`). Gas is estimated
        unless given."""
        words: list[int] = []
        if initial_weights is not None:
            if len(initial_weights) != terms.num_features:
                raise ClientError(f"{len(initial_weights)} initial weights for {terms.num_features} features")
            words = pack_weights(initial_weights)
        built = self.contract.functions.commit(terms.as_tuple(), [p.hash for p in parts], words)
        return self._sender.send(built, provider, "commit", value=bounty, gas=gas)

    def draw_test_parts(self, account: Account) -> list[int]:
        """Draw the initial parts (needs one block after the commit); their indices.

        Gas is given, not estimated: an estimate runs in the latest block's context,
        where the draw is still TooEarly on nodes that mine the next block only when
        the transaction arrives (anvil, geth's dev mode)."""
        info = self.round_info()
        gas = (
            DRAW_GAS_BASE
            + DRAW_GAS_PER_PART * info["num_parts"]
            + DRAW_GAS_PER_DRAWN * int(info["terms"].initial_parts)
        )
        receipt = self._sender.send(
            self.contract.functions.drawTestParts(), account, "drawTestParts", gas=gas
        )
        events = self.contract.events.TestPartsDrawn().process_receipt(receipt)
        return [int(i) for i in events[0]["args"]["parts"]]

    def reveal_part(
        self, index: int, part: TestPart, provider: Account, label: str = "revealTestPart"
    ) -> Any:
        """Reveal one part (checked against its hash on chain)."""
        built = self.contract.functions.revealTestPart(
            index, part.salt, [pack_sample(x) for x in part.data], list(part.labels)
        )
        return self._sender.send(built, provider, label)

    def reveal_initial_parts(
        self, parts: Sequence[TestPart], provider: Account, round_id: int | None = None
    ) -> list[int]:
        """Reveal the drawn parts; returns their indices."""
        rid = self.current_round() if round_id is None else round_id
        drawn = self.selected_parts(rid, len(parts))
        for i in drawn:
            self.reveal_part(i, parts[i], provider, "revealTestPart initial")
        return drawn

    def reveal_remaining_parts(
        self, parts: Sequence[TestPart], provider: Account, round_id: int | None = None
    ) -> list[int]:
        """Reveal every part not yet revealed (after participation has ended)."""
        rid = self.current_round() if round_id is None else round_id
        remaining = [i for i in range(len(parts)) if not self.part_status(rid, i)[1]]
        for i in remaining:
            self.reveal_part(i, parts[i], provider, "revealTestPart remaining")
        return remaining

    def contribute(
        self,
        data: Sequence[int],
        label: int,
        account: Account,
        stake: int | None = None,
        gas: int | None = None,
    ) -> Any:
        """Add (data, label) with one stake unit (read from the round unless given);
        gas is estimated unless given."""
        value = self.terms().stake_unit if stake is None else stake
        built = self.contract.functions.contribute([int(i) for i in data], int(label))
        return self._sender.send(built, account, "contribute", value=value, gas=gas)

    def advance(self, max_steps: int, account: Account, gas: int | None = None) -> Any:
        """One ``advance(max_steps)`` transaction (gas estimated unless given)."""
        return self._sender.send(self.contract.functions.advance(int(max_steps)), account, "advance", gas=gas)

    def compute_rewards(self, account: Account, progress: Callable[[int, Any], None] | None = None) -> int:
        """Push the reward computation to the end; each transaction's step count aims
        at ADVANCE_GAS_SHARE of the block gas limit. Returns the transactions sent.
        A transaction that runs out of gas (in the market, or in a stage library, whose
        call then fails with empty revert data) is retried with a quarter of the steps.
        ``progress(sent, receipt)`` is called after each successful transaction."""
        limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        budget = int(limit * ADVANCE_GAS_SHARE)
        # Gas is given, not estimated: estimating re-runs the chunk a score of times.
        gas = int(limit * ADVANCE_GAS_GIVEN)
        steps = ADVANCE_FIRST_STEPS
        sent = 0
        while self.phase() == "Computing":
            if sent >= ADVANCE_MAX_TRANSACTIONS:
                raise ClientError(f"reward computation unfinished after {sent} advance transactions")
            try:
                receipt = self.advance(steps, account, gas=gas)
            except (TransactionFailed, ContractRevert) as exc:
                # out of gas in a library's DELEGATECALL: the market bubbles up empty data
                out_of_gas = isinstance(exc, TransactionFailed) or (
                    exc.name == "UnknownError" and not exc.data
                )
                if steps == 1 or not out_of_gas:
                    raise
                steps = max(1, steps // 4)  # out of gas: a smaller chunk
                continue
            finally:
                sent += 1
            if progress is not None:
                progress(sent, receipt)
            used = int(receipt["gasUsed"])
            # Aim the next chunk at the budget, growing at most 4x per transaction.
            steps = max(1, min(ADVANCE_MAX_STEPS, steps * 4, steps * budget // max(used, 1)))
        return sent

    def withdraw(self, account: Account, round_id: int | None = None) -> Any:
        rid = self.current_round() if round_id is None else round_id
        return self._sender.send(self.contract.functions.withdraw(rid), account, "withdraw")

    def abort_round(self, account: Account) -> Any:
        return self._sender.send(self.contract.functions.abortRound(), account, "abortRound")

    # --- views ---------------------------------------------------------------------

    def current_round(self, block: BlockId = "latest") -> int:
        return int(self._sender.call(self.contract.functions.currentRound(), block))

    def phase(self, round_id: int | None = None, block: BlockId = "latest") -> str:
        rid = self.current_round(block) if round_id is None else round_id
        return PHASES[int(self._sender.call(self.contract.functions.phaseOf(rid), block))]

    def terms(self, round_id: int | None = None) -> MarketTerms:
        rid = self.current_round() if round_id is None else round_id
        info = self._sender.call(self.contract.functions.roundInfo(rid))
        return _terms(info[2])

    def round_info(self, round_id: int | None = None) -> dict[str, Any]:
        rid = self.current_round() if round_id is None else round_id
        provider, bounty, terms, parts, seed, started, closed = self._sender.call(
            self.contract.functions.roundInfo(rid)
        )
        return {
            "provider": provider,
            "bounty": int(bounty),
            "terms": _terms(terms),
            "num_parts": int(parts),
            "seed_block": int(seed),
            "started_at": int(started),
            "closed_at": int(closed),
        }

    def counts(self, round_id: int | None = None) -> tuple[int, int, bool]:
        rid = self.current_round() if round_id is None else round_id
        c, n, drawn = self._sender.call(self.contract.functions.counts(rid))
        return int(c), int(n), bool(drawn)

    def part_status(self, round_id: int, part: int) -> tuple[bool, bool]:
        selected, revealed = self._sender.call(self.contract.functions.partStatus(round_id, part))
        return bool(selected), bool(revealed)

    def selected_parts(self, round_id: int, num_parts: int) -> list[int]:
        return [i for i in range(num_parts) if self.part_status(round_id, i)[0]]

    def initial_weights(self, round_id: int | None = None) -> list[int]:
        """h(0)'s weights (fixed point; zeros for a round committed without weights)."""
        rid = self.current_round() if round_id is None else round_id
        n = self.terms(rid).num_features
        return [int(self._sender.call(self.contract.functions.initialWeight(rid, i))) for i in range(n)]

    def errors(self, round_id: int | None = None) -> list[int]:
        """Test errors of h(0) .. h(T) as computed on chain."""
        rid = self.current_round() if round_id is None else round_id
        total = self.counts(rid)[0]
        return [int(self._sender.call(self.contract.functions.errorsOf(rid, t))) for t in range(total + 1)]

    def balances(self, round_id: int | None = None) -> list[int]:
        """b_1 .. b_T (wei times the test-set size)."""
        rid = self.current_round() if round_id is None else round_id
        total = self.counts(rid)[0]
        return [
            int(self._sender.call(self.contract.functions.balanceOf(rid, t))) for t in range(1, total + 1)
        ]

    def owed_to(self, account: Account, round_id: int | None = None) -> tuple[int, bool]:
        rid = self.current_round() if round_id is None else round_id
        amount, done = self._sender.call(self.contract.functions.owedTo(rid, address_of(account)))
        return int(amount), bool(done)

    def predict(self, data: Sequence[int], round_id: int | None = None, block: BlockId = "latest") -> int:
        rid = self.current_round(block) if round_id is None else round_id
        return int(self._sender.call(self.contract.functions.predict(rid, [int(i) for i in data]), block))

    def gas_used(self, label: str | None = None) -> list[int]:
        return [int(r["gasUsed"]) for lab, r in self.receipts if label is None or lab == label]


def _terms(values: Sequence[Any]) -> MarketTerms:
    """MarketTerms from the ABI tuple ``roundInfo`` returns."""
    unit, features, rate, intercept, parts, duration, count, window, later = values
    return MarketTerms(
        int(unit),
        int(features),
        int(rate),
        int(intercept),
        int(parts),
        int(duration),
        int(count),
        int(window),
        bool(later),
    )
