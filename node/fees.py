"""Fee suggestions and history: eth_gasPrice, eth_maxPriorityFeePerGas, eth_blobBaseFee,
eth_feeHistory (tips at gas-weighted percentiles, as geth computes them)."""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI

from chain.chain import Chain
from node.headers import resolve_header
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import BlockId

GWEI = 10**9  # wei
DEFAULT_TIP = 1 * GWEI  # wei per gas suggested as priority fee (eth_maxPriorityFeePerGas)
LEGACY_GAS_PRICE = 1 * GWEI  # wei per gas suggested before London
MIN_BLOB_BASE_FEE = 1  # wei per blob gas


class Fees:
    """What a transaction on ``chain`` should pay, and what blocks paid."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def suggested_tip(self) -> int:
        return DEFAULT_TIP

    def gas_price(self) -> int:
        base_fee = self.chain.next_base_fee()
        return LEGACY_GAS_PRICE if base_fee is None else base_fee + self.suggested_tip()

    def next_base_fee(self) -> int:
        """The next block's base fee, 0 before London."""
        return self.chain.next_base_fee() or 0

    def blob_base_fee(self) -> int:
        if not self.chain.config.fork_at_least("cancun"):
            raise errors.MethodNotSupported("blobs need the Cancun fork")
        from eth.vm.forks.cancun.constants import BLOB_BASE_FEE_UPDATE_FRACTION
        from eth.vm.forks.cancun.state import fake_exponential

        excess = getattr(self.chain.head, "excess_blob_gas", 0) or 0
        return int(fake_exponential(MIN_BLOB_BASE_FEE, excess, BLOB_BASE_FEE_UPDATE_FRACTION))

    def fee_history(self, count: int, newest: BlockId, percentiles: list[float] | None) -> dict[str, Any]:
        last = resolve_header(self.chain, newest).block_number
        first = max(0, last - count + 1)
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        header = None
        for number in range(first, last + 1):
            header = self.chain.header(number)
            base_fees.append(fmt.qty(getattr(header, "base_fee_per_gas", 0) or 0))
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            if percentiles is not None:
                rewards.append([fmt.qty(r) for r in self._rewards(header, percentiles)])
        next_base = 0
        if header is not None and getattr(header, "base_fee_per_gas", None) is not None:
            from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

            next_base = calculate_expected_base_fee_per_gas(header)
        base_fees.append(fmt.qty(next_base))
        out: dict[str, Any] = {
            "oldestBlock": fmt.qty(first),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if self.chain.config.fork_at_least("cancun"):
            out["baseFeePerBlobGas"] = [fmt.qty(MIN_BLOB_BASE_FEE)] * len(base_fees)
            out["blobGasUsedRatio"] = [0.0] * len(ratios)
        if percentiles is not None:
            out["reward"] = rewards
        return out

    def _rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[int]:
        """Tips at the given gas-weighted percentiles of the block, as geth computes them."""
        if not percentiles:
            return []
        infos = self.chain.receipts(header) if header.gas_used else []
        if not infos:
            return [0] * len(percentiles)
        base_fee = getattr(header, "base_fee_per_gas", 0) or 0
        tips = sorted((info.effective_gas_price - base_fee, info.gas_used) for info in infos)
        out = []
        for percentile in percentiles:
            threshold = header.gas_used * percentile / 100
            total = 0
            chosen = tips[-1][0]
            for tip, gas in tips:
                total += gas
                if total >= threshold:
                    chosen = tip
                    break
            out.append(max(0, chosen))
        return out
