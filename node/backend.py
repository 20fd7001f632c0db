"""The adapter between the JSON-RPC methods and the node's parts.

:class:`Backend` holds what :func:`node.assemble.assemble` built — the
:class:`chain.chain.Chain`, its :class:`TxPool` and :class:`BlockProducer`, the dev
accounts' :class:`~node.signing.Signer`, polling :class:`~node.filters.Filters` and
WebSocket :class:`~node.subscriptions.Subscriptions` — and the parts that answer in RPC
terms: :attr:`fees` (``node.fees``), :attr:`calls` (``node.calls``), :attr:`tracer`
(``node.tracing``), :attr:`logs` (``node.filters``) and :attr:`dev` (``node.dev``). What
is left here is reading blocks, transactions, receipts, proofs and raw data, and sending.

Every method of the live backend runs on the node's single chain worker thread (see
``node.rpc.dispatcher``); nothing here is thread-safe, by design. Reads and calls run
on *readers* instead (:meth:`Backend.reader`): backends of their own over a view of the
store that sees only committed data, one per thread, sharing nothing mutable with the
live chain but the pool (which locks).
"""

from __future__ import annotations

from typing import Any, Protocol

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, StateAPI
from eth_typing import Address

from chain.chain import Chain
from chain.config import ChainConfig
from chain.mempool import TxPool
from chain.producer import BlockProducer
from chain.store import Store
from node.calls import Calls
from node.dev import DevControls
from node.fees import Fees
from node.filters import Filters, LogQueries
from node.headers import BlockNames
from node.limits import Limits
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import BlockId, TxRequest
from node.signing import Signer
from node.subscriptions import Connection, Subscriptions
from node.tracing import Tracer

MAX_PROOF_SLOTS = 1024  # storage keys one eth_getProof may ask for


class CallRunner(Protocol):
    """What the backend asks of its dispatcher: run a call on a reader, under the deadline."""

    def run_call(self, fn: Any) -> Any: ...


class Backend:
    """Everything the RPC methods ask of the node, in RPC terms (bytes in, JSON-able out)."""

    def __init__(
        self,
        chain: Chain,
        pool: TxPool,
        producer: BlockProducer,
        signer: Signer | None = None,
        filters: Filters | None = None,
        subscriptions: Subscriptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.producer = producer
        self.signer = signer or Signer(chain.config)
        self.logs = LogQueries(chain)
        self.filters = filters or Filters(self.logs)
        self.subscriptions = subscriptions or Subscriptions()
        self.fees = Fees(chain)
        self.blocks = BlockNames(chain, pool, producer.next_block_timestamp)
        """What a block parameter names, the pending block (built from the pool) included."""
        self.calls = Calls(chain, limits or Limits(), self.blocks)
        self.tracer = Tracer(chain, self.calls)
        self.dev = DevControls(chain, pool, producer)
        self.dispatcher: CallRunner | None = None
        """The one Dispatcher (and so the one worker thread) serving this backend."""

    @property
    def limits(self) -> Limits:
        """What one request may cost (gas cap, call timeout, ...); the dispatcher's."""
        return self.calls.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self.calls.limits = limits

    def reader(self) -> Backend:
        """A backend for one thread other than the worker: it reads the committed blocks
        and state of this backend's store (never a block still being built), and looks
        transactions up in the live pool (which locks). It neither mines nor sends.

        Its chain is a second :class:`Chain` on the same store backend, without the fast
        paths whose caches belong to the live chain's thread, and without hooks; its calls
        run in the lean interpreter loop when the live chain's do (it holds no state).
        """
        view = Chain(
            self.config,
            Store(self.chain.store.backend),
            fast_paths=False,
            lean_loop=self.chain.fast_paths,
        )
        return Backend(view, self.pool, self.producer, self.signer, limits=self.limits)

    def close(self) -> None:
        self.chain.close()

    @property
    def config(self) -> ChainConfig:
        return self.chain.config

    @property
    def accounts(self) -> dict[bytes, bytes]:
        """The dev accounts this node signs for: address -> private key."""
        return self.signer.accounts

    def drop_connection(self, connection: Connection) -> None:
        self.subscriptions.drop_connection(connection)

    # --- blocks -----------------------------------------------------------------------------

    def head(self) -> BlockHeaderAPI:
        return self.chain.head

    def header(self, block: BlockId) -> BlockHeaderAPI:
        """The header ``block`` names; -32000 "header not found" when there is none."""
        return self.blocks.header(block)

    def block_or_none(self, block: BlockId) -> BlockAPI | None:
        found = self.blocks.block_or_none(block)
        return None if found is None else found[1]

    def state(self, block: BlockId) -> StateAPI:
        located = self.blocks.locate(block)
        return located.chain.state_at(located.header)

    def nonce(self, account: bytes, block: BlockId) -> int:
        if block.tag == "pending":
            return self.pool.pending_nonce(account)
        return self.state(block).get_nonce(Address(account))

    def coinbase(self) -> bytes:
        return self.chain.signer or b"\0" * 20

    # --- sending --------------------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        pooled = self.pool.add(raw)
        self.producer.transaction_added()
        return bytes(pooled.hash)

    def sign_transaction(self, request: TxRequest) -> bytes:
        return self.signer.sign_transaction(
            request, self.pool.pending_nonce, self.fees, self._estimate_for_sending
        )

    def _estimate_for_sending(self, request: TxRequest) -> int:
        """The gas estimate eth_sendTransaction fills in: in the environment of the block
        it is meant for (the next one: its number and time, a pinned timestamp included)
        on the head's state, as geth estimates on the latest state; under the call timeout
        (on a reader, while this worker waits: the head it reads is the one it would)."""
        pending = BlockId(tag="pending", with_pool=False)
        if self.dispatcher is None:
            return self.calls.estimate_gas(request, pending, None)
        result: int = self.dispatcher.run_call(
            lambda reader: reader.calls.estimate_gas(request, pending, None)
        )
        return result

    def send_transaction(self, request: TxRequest) -> bytes:
        sender = request.sender
        if sender is not None and sender not in self.signer.accounts and self.dev.is_impersonated(sender):
            filled = self.signer.fill_transaction(
                request, self.pool.pending_nonce, self.fees, self._estimate_for_sending
            )
            return self.send_raw_transaction(self.dev.impersonated_raw(filled, sender))
        return self.send_raw_transaction(self.sign_transaction(request))

    # --- transactions and receipts ------------------------------------------------------------

    def transaction_json(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self.chain.transaction(tx_hash)
        if found is not None:
            tx, header, index = found
            return dict(fmt.transaction_json(tx, header, index))
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return dict(fmt.transaction_json(pooled.tx))
        return None

    def receipt_json(self, tx_hash: bytes) -> dict[str, Any] | None:
        info = self.chain.receipt(tx_hash)
        return None if info is None else fmt.receipt_json(info)

    def block_receipts_json(self, block: BlockId) -> list[dict[str, Any]] | None:
        try:
            located = self.blocks.locate(block, built=True)
        except errors.ServerError:
            return None
        return [fmt.receipt_json(info) for info in located.chain.receipts(located.header)]

    # --- proofs ---------------------------------------------------------------------------------

    def proof(self, account: bytes, slots: list[int], block: BlockId) -> dict[str, Any]:
        """Merkle-Patricia proofs of an account and some of its storage slots at a block,
        read straight from the archive's trie nodes (EIP-1186)."""
        from eth.rlp.accounts import Account as AccountRlp
        from eth_utils import keccak
        from trie import HexaryTrie

        if len(slots) > MAX_PROOF_SLOTS:
            raise errors.InvalidParams(f"storageKeys: at most {MAX_PROOF_SLOTS} keys")
        header = self.header(block)
        db = self.chain.evm.chaindb.db
        state_trie = HexaryTrie(db, self.chain.state_root_at(header))  # pending edits included
        account_key = keccak(account)
        encoded = state_trie.get(account_key)
        found = rlp.decode(encoded, sedes=AccountRlp) if encoded else AccountRlp()
        storage_trie = HexaryTrie(db, found.storage_root)
        storage_proofs = []
        for slot in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            raw_value = storage_trie.get(slot_key)
            storage_proofs.append(
                {
                    "key": fmt.word(slot),
                    "value": fmt.qty(
                        rlp.decode(raw_value, sedes=rlp.sedes.big_endian_int) if raw_value else 0
                    ),
                    "proof": [fmt.hexb(rlp.encode(node)) for node in storage_trie.get_proof(slot_key)],
                }
            )
        return {
            "address": fmt.addr(account),
            "accountProof": [fmt.hexb(rlp.encode(node)) for node in state_trie.get_proof(account_key)],
            "balance": fmt.qty(found.balance),
            "codeHash": fmt.hexb(found.code_hash),
            "nonce": fmt.qty(found.nonce),
            "storageHash": fmt.hexb(found.storage_root),
            "storageProof": storage_proofs,
        }

    # --- raw data -------------------------------------------------------------------------------

    def raw_block(self, block: BlockId) -> bytes:
        located = self.blocks.locate(block, built=True)
        return bytes(rlp.encode(located.chain.block(located.header)))

    def raw_header(self, block: BlockId) -> bytes:
        return bytes(rlp.encode(self.blocks.locate(block, built=True).header))

    def raw_transaction(self, tx_hash: bytes) -> bytes | None:
        found = self.chain.transaction(tx_hash)
        if found is not None:
            return _encoded(found[0])
        pooled = self.pool.get(tx_hash)
        return None if pooled is None else bytes(pooled.raw)

    def raw_transaction_in_block(self, block: BlockId, index: int) -> bytes | None:
        """The bytes of the ``index``-th transaction of a block; None when either is missing."""
        found = self.block_or_none(block)
        if found is None or index >= len(found.transactions):
            return None
        return _encoded(found.transactions[index])

    def raw_receipts(self, block: BlockId) -> list[bytes]:
        out = []
        located = self.blocks.locate(block, built=True)
        for receipt in located.chain.receipts_of(located.header):
            out.append(bytes(receipt.encode()) if hasattr(receipt, "encode") else bytes(rlp.encode(receipt)))
        return out


def _encoded(tx: Any) -> bytes:
    """A signed transaction as it travels: the EIP-2718 envelope, or RLP for legacy."""
    return bytes(tx.encode()) if hasattr(tx, "encode") else bytes(rlp.encode(tx))
