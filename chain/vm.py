"""The fork table and every py-evm override sumchain needs, in one place.

py-evm is pinned exactly (see pyproject.toml). sumchain bends it only here:

* Proof of authority replaces proof of work / stake. The seal is checked by
  ``chain.consensus`` (EIP-225), so py-evm's own consensus check is the no-op one.
* ``extraData`` carries the Clique vanity, the signer list at checkpoints and the
  65-byte seal, so its 32-byte cap is lifted.
* Clique pays no block reward, on every fork.
* Importing a block takes its header fields verbatim (difficulty is a Clique value,
  not a proof-of-work target).
* From Shanghai on, EIP-3860 makes a contract creation whose initcode exceeds
  ``MAX_INITCODE_SIZE`` an invalid *transaction* (it may not be in a block), and its
  initcode words part of the intrinsic gas a transaction must cover. py-evm raises
  ``OutOfGas`` from outside the computation for the first (which breaks the block being
  built) and charges the second inside the computation (so a creation that cannot pay it
  is mined as a failure instead of being invalid); the state's ``validate_transaction``
  adds both rules, so such a transaction is refused before it touches the state.
* From Paris on, py-evm requires difficulty 0, nonce 0 and rejects anything else on
  creation and validation; Clique needs difficulty 1 or 2 and the vote nonce, so the
  post-merge header rules are replaced by the pre-merge ones (everything else, such as
  base fee, gas limit, withdrawals root and blob gas, stays py-evm's).
* From Prague on, EIP-7623's calldata floor is charged by py-evm at the end of a
  transaction but never checked against its gas limit; the state's
  ``validate_transaction`` adds that validity rule. EIP-2935's history contract is
  written by py-evm only where its code is in the state: ``system_contracts`` is what
  genesis puts there. Set-code calls (``eth_call`` with an authorization list) run as an
  unsigned set-code transaction, which py-evm's costless execution cannot copy as it
  copies the others (``_SetCodeCall``).
* Refusals carry their rule as a type: header rules (timestamp, gas limit) and every
  transaction-validity refusal raise :class:`BlockRuleBroken`, a ``ValidationError``
  with ``check``, so block import never reads py-evm's message text.
* An impersonated transaction (``chain.edits``) runs as py-evm's ``SpoofTransaction``
  with its sender given and no signature check, and reads back with its sender filled
  into py-evm's cache of the recovered sender.
* py-evm's private helpers that other modules need (the call transaction, the CREATE
  address, the stack, the canonical indices ``set_head`` rewrites) are reached only
  through the plain functions at the end of this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth._utils.numeric import ceil32
from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, VirtualMachineAPI
from eth.consensus.noproof import NoProofConsensus
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth.rlp.sedes import chain_gaps
from eth.vm.base import VM
from eth.vm.forks import (
    BerlinVM,
    CancunVM,
    IstanbulVM,
    LondonVM,
    ParisVM,
    PetersburgVM,
    PragueVM,
    ShanghaiVM,
)
from eth.vm.forks.prague.constants import (
    DELEGATION_DESIGNATION_PREFIX,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
    MAGIC,
    SET_CODE_TRANSACTION_TYPE,
)
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.interrupt import MissingStorageTrieNode
from eth.vm.spoof import SpoofTransaction
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_typing import Address, BlockNumber
from eth_utils import ValidationError

from chain.config import FORKS
from chain.interpreter import lean_computation_class
from chain.storage_trie import Unbatchable, apply_writes

MAX_SIGNERS = 256  # signers a checkpoint's extraData may list
EXTRA_DATA_MAX = 32 + 20 * MAX_SIGNERS + 65  # bytes: vanity + signer list + seal
MAX_CODE_SIZE = 24_576  # bytes of deployed code (EIP-170, Spurious Dragon on)
MAX_INITCODE_SIZE = 2 * MAX_CODE_SIZE  # bytes of a creation's initcode (EIP-3860, Shanghai on)
INITCODE_WORD_GAS = 2  # gas per 32-byte word of a creation's initcode (EIP-3860)
WORD = 32  # bytes
INITCODE_RULES_FROM = "shanghai"  # first fork with EIP-3860
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # order of the curve group
SET_CODE_FROM = "prague"  # first fork with set-code transactions (EIP-7702) and the calldata floor (EIP-7623)
DELEGATION_SIZE = 23  # bytes of a delegation designation: 0xef0100 + 20-byte address (EIP-7702)

_BASE_VMS: dict[str, type[VM]] = {
    "petersburg": PetersburgVM,
    "istanbul": IstanbulVM,
    "berlin": BerlinVM,
    "london": LondonVM,
    "paris": ParisVM,
    "shanghai": ShanghaiVM,
    "cancun": CancunVM,
    "prague": PragueVM,
}
POST_MERGE = FORKS[FORKS.index("paris") :]  # forks whose header rules py-evm writes for proof of stake
assert set(_BASE_VMS) == set(FORKS), "every fork of chain.config.FORKS needs its py-evm VM"

# The evmVersion solc calls each fork (compiled artifacts are kept per evmVersion).
# Prague adds no opcode: solc 0.8.37 emits byte-identical code for evmVersion "prague"
# and "cancun" (all 25 contracts, optimizer on and off; checked by
# tests/chain/test_prague.py's slow artifact test), so Prague runs the Cancun artifacts.
EVM_VERSIONS = {fork: fork for fork in FORKS} | {"prague": "cancun"}


class BlockRuleBroken(ValidationError):
    """py-evm's ``ValidationError`` with the rule it broke named, raised by sumchain's VMs.

    Block import turns it into ``InvalidBlock(check=check)``; everything else that
    catches py-evm's ``ValidationError`` (the block builder, calls, traces) still does.
    ``check`` is ``timestamp``, ``gas_limit`` (gas limit or base fee against the parent)
    or ``transactions`` (a transaction the block holds is invalid on its state).
    """

    def __init__(self, message: str, check: str) -> None:
        super().__init__(message)
        self.check = check


def _no_reward() -> int:
    return 0


def _named_header_rules(base_rules: Any) -> Any:
    """``validate_header`` that checks the rules block import reports by name first and
    raises them as :class:`BlockRuleBroken`, then runs ``base_rules`` (py-evm's own)."""

    def validate_header(cls: type[VM], header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is not None:
            if header.timestamp <= parent_header.timestamp:
                raise BlockRuleBroken(
                    "timestamp must be strictly later than parent, "
                    f"but is {parent_header.timestamp - header.timestamp} seconds before.\n"
                    f"- child  : {header.timestamp}\n"
                    f"- parent : {parent_header.timestamp}. ",
                    check="timestamp",
                )
            try:
                cls.validate_gas(header, parent_header)
            except ValidationError as exc:
                raise BlockRuleBroken(str(exc), check="gas_limit") from None
        base_rules(cls, header, parent_header)

    return classmethod(validate_header)


class _NamedTransactionRulesMixin:
    """State whose transaction validation raises :class:`BlockRuleBroken` (``transactions``)."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        try:
            super().validate_transaction(transaction)  # type: ignore[misc]
        except BlockRuleBroken:
            raise
        except ValidationError as exc:
            raise BlockRuleBroken(str(exc), check="transactions") from None


def _named_block_transaction_rules(base_rule: Any) -> Any:
    """``validate_transaction_against_header`` (gas left in the block, fee cap against the
    base fee) raising py-evm's refusals as :class:`BlockRuleBroken` (``transactions``)."""

    def validate_transaction_against_header(
        self: VM, base_header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> None:
        try:
            base_rule(self, base_header, transaction)
        except ValidationError as exc:
            raise BlockRuleBroken(str(exc), check="transactions") from None

    return validate_transaction_against_header


def _pre_merge_header_rules(cls: type[VM], header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
    """The base header checks (extraData cap, gas limit and base fee, numbering,
    timestamps) without py-evm's post-merge difficulty/nonce/uncles constants; the
    Clique rules for those fields are enforced by chain.consensus."""
    VM.validate_header.__func__(cls, header, parent_header)  # type: ignore[attr-defined]


def _configure_header_verbatim(self: VM, **header_params: Any) -> BlockHeaderAPI:
    """Take the sealed block's header fields as they are. py-evm's pre-merge version
    recomputes the proof-of-work difficulty from the timestamp, which would overwrite
    Clique's in-turn/out-of-turn difficulty while importing a block."""
    return self.get_header().copy(**header_params)


def _create_genesis_header(cls: type[VM], **genesis_params: Any) -> BlockHeaderAPI:
    """Genesis with Clique's difficulty and nonce on forks whose header factory refuses them."""
    clique_fields = {k: genesis_params.pop(k) for k in ("difficulty", "nonce") if k in genesis_params}
    header = cls.create_header_from_parent(None, **genesis_params)  # type: ignore[arg-type]  # py-evm's stub: no parent means genesis, which it accepts
    return header.copy(**clique_fields)


# --- EIP-3860: initcode limits ------------------------------------------------------------


def limits_initcode(fork: str) -> bool:
    """True when ``fork`` applies EIP-3860 (Shanghai and later)."""
    return FORKS.index(fork) >= FORKS.index(INITCODE_RULES_FROM)


def max_initcode_size(fork: str) -> int | None:
    """Most initcode bytes a creation transaction may carry on ``fork``; None: no limit."""
    return MAX_INITCODE_SIZE if limits_initcode(fork) else None


def initcode_gas(tx: SignedTransactionAPI) -> int:
    """EIP-3860's intrinsic charge for a creation's initcode (gas); 0 for a call."""
    if tx.to:
        return 0
    return INITCODE_WORD_GAS * ceil32(len(tx.data)) // WORD


def intrinsic_gas(fork: str, tx: SignedTransactionAPI) -> int:
    """The gas ``tx`` must cover before execution on ``fork``: py-evm's intrinsic gas
    (base, calldata, creation, access list) plus, from Shanghai on, the initcode words."""
    extra = initcode_gas(tx) if limits_initcode(fork) else 0
    return int(tx.intrinsic_gas) + extra


class _InitcodeRulesMixin:
    """State whose transaction validation adds EIP-3860's two transaction-validity rules.

    The charge itself stays py-evm's (consumed as the computation starts, the same total
    gas); only the validity rules are added, so a transaction breaking them raises
    ``ValidationError`` like every other invalid transaction, and the block builder and
    block import treat it as such.
    """

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if not transaction.to and len(transaction.data) > MAX_INITCODE_SIZE:
            raise ValidationError(
                f"max initcode size exceeded: code size {len(transaction.data)} bytes, "
                f"limit {MAX_INITCODE_SIZE} bytes"
            )
        needed = int(transaction.intrinsic_gas) + initcode_gas(transaction)
        if transaction.gas < needed:
            raise ValidationError(
                f"intrinsic gas too low: the creation needs {needed} gas including its "
                f"initcode, its gas limit is {transaction.gas}"
            )
        super().validate_transaction(transaction)  # type: ignore[misc]


# --- Prague: the calldata floor (EIP-7623), set-code transactions (EIP-7702), history ----


def has_set_code(fork: str) -> bool:
    """True when ``fork`` has set-code transactions (EIP-7702) and the calldata floor
    (EIP-7623): Prague and later."""
    return FORKS.index(fork) >= FORKS.index(SET_CODE_FROM)


def floor_data_gas(fork: str, tx: SignedTransactionAPI) -> int:
    """EIP-7623's floor (gas): from Prague on a transaction pays at least 21,000 + 10 gas
    per calldata token (a zero byte is one token, any other byte four), and its gas limit
    must cover it; 0 before Prague. py-evm's own formula, charged at the end."""
    if not has_set_code(fork):
        return 0
    return int(PragueTransactionExecutor.calc_data_floor_gas(tx, 0, 0))


def delegation_target(code: bytes) -> bytes | None:
    """The 20-byte address an account's code delegates to (EIP-7702's ``0xef0100 ||
    address``), or None when the code is not a delegation designation."""
    if len(code) == DELEGATION_SIZE and code.startswith(DELEGATION_DESIGNATION_PREFIX):
        return bytes(code[len(DELEGATION_DESIGNATION_PREFIX) :])
    return None


def authorization_authority(auth: Any) -> bytes | None:
    """The 20-byte account that signed one EIP-7702 authorization tuple (py-evm's
    ``Authorization``: chain id, address, nonce, y parity, r, s), recovered from
    ``keccak(0x05 || rlp([chain_id, address, nonce]))``; None when the signature does not
    recover (such a tuple is skipped by execution, not a reason to refuse the transaction)."""
    if auth.y_parity not in (0, 1) or not 0 < auth.r < SECP256K1_N or not 0 < auth.s <= SECP256K1_N // 2:
        return None
    message = MAGIC + rlp.encode([auth.chain_id, auth.address, auth.nonce])
    try:
        signature = keys.Signature(vrs=(auth.y_parity, auth.r, auth.s))
        return bytes(signature.recover_public_key_from_msg(message).to_canonical_address())
    except (BadSignature, ValidationError, ValueError):
        return None


def system_contracts(fork: str) -> dict[bytes, bytes]:
    """Code the fork's system contracts have at genesis (address -> code). From Prague on,
    EIP-2935's block-hash history contract: py-evm writes each parent hash into it before a
    block's transactions only where that code is in the state, so a chain starting on
    Prague gets it at genesis (as geth's and anvil's dev chains do); nonce 1 as on mainnet."""
    if not has_set_code(fork):
        return {}
    return {bytes(HISTORY_STORAGE_ADDRESS): HISTORY_STORAGE_CONTRACT_CODE}


class _CalldataFloorRulesMixin:
    """State whose transaction validation adds EIP-7623's validity rule: the gas limit
    must cover the calldata floor. py-evm charges the floor at the end of the transaction
    but never checks it, so a transaction below it would pay more gas than its limit."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        floor = int(PragueTransactionExecutor.calc_data_floor_gas(transaction, 0, 0))
        if transaction.gas < floor:
            raise ValidationError(
                f"insufficient gas for floor data gas cost: gas {transaction.gas}, minimum needed {floor}"
            )
        super().validate_transaction(transaction)  # type: ignore[misc]


def _make_poa_vm(fork: str, lean: bool) -> type[VirtualMachineAPI]:
    base = _BASE_VMS[fork]
    overrides: dict[str, Any] = {
        "__name__": f"{'Lean' if lean else ''}PoA{base.__name__}",
        "consensus_class": NoProofConsensus,
        "extra_data_max_bytes": EXTRA_DATA_MAX,
        "get_block_reward": staticmethod(_no_reward),
        "get_nephew_reward": staticmethod(_no_reward),
        "configure_header": _configure_header_verbatim,
        "validate_transaction_against_header": _named_block_transaction_rules(
            base.validate_transaction_against_header
        ),
    }
    state_class = base.get_state_class()
    account_db_class = state_class.get_account_db_class()
    if limits_initcode(fork):
        state_class = type(state_class.__name__, (_InitcodeRulesMixin, state_class), {})
    if has_set_code(fork):
        state_class = type(state_class.__name__, (_CalldataFloorRulesMixin, state_class), {})
    state_class = type(state_class.__name__, (_NamedTransactionRulesMixin, state_class), {})
    state_fields: dict[str, Any] = {
        "__name__": f"PoA{state_class.__name__}",
        "account_db_class": type(
            f"Flat{account_db_class.__name__}", (_FlatAccountDBMixin, account_db_class), {}
        ),
    }
    if lean:
        state_fields["computation_class"] = lean_computation_class(state_class.computation_class)
    overrides["_state_class"] = state_class.configure(**state_fields)
    header_rules = _pre_merge_header_rules if fork in POST_MERGE else base.validate_header.__func__  # type: ignore[attr-defined]
    overrides["validate_header"] = _named_header_rules(header_rules)
    if fork in POST_MERGE:
        overrides["create_genesis_header"] = classmethod(_create_genesis_header)
    return base.configure(**overrides)


# --- fast path: account values carried from block to block ----------------------------
#
# py-evm reads every account through the state trie (a walk of RLP-decoded nodes from
# the root) and forgets what it read when a state root is made. Building on a head whose
# accounts the previous block just wrote, that is the same handful of walks every block.
# ``FlatAccounts`` remembers the encoded account of each address as of one state root,
# and moves to the next root with the diff py-evm applies to the trie, so the next
# block, the pool's nonce checks and head reads find them without a walk. The plain path
# (an account database class without ``flat_accounts``) is py-evm's own; tests/chain/test_fast_paths.py
# checks both give the same blocks.

FLAT_ACCOUNTS_MAX = 200_000  # addresses remembered before the map starts over


class FlatAccounts:
    """Encoded accounts (address -> RLP, or None when absent) of the trie at ``root``.

    Values are a function of the root alone, so a map whose block was later discarded
    is still right for that root; readers at any other root simply do not use it.
    """

    def __init__(self) -> None:
        self.root: bytes | None = None  # 32-byte state root the values belong to
        self.values: dict[bytes, bytes | None] = {}

    def advance(self, before: bytes, after: bytes, diff: Any) -> None:
        """The trie went from ``before`` to ``after`` by ``diff`` (py-evm's DBDiff)."""
        if self.root != before or len(self.values) > FLAT_ACCOUNTS_MAX:
            self.values = {}
        for key in diff.deleted_keys():
            self.values[key] = None
        for key, value in diff.pending_items():
            self.values[key] = value
        self.root = after


class _FlatView:
    """The account trie read through a :class:`FlatAccounts` map (writes pass through)."""

    def __init__(self, trie: Any, flat: FlatAccounts) -> None:
        self._trie = trie
        self._flat = flat

    def __getitem__(self, address: bytes) -> bytes:
        flat = self._flat
        if flat.root == self._trie.root_hash:
            if address in flat.values:
                value = flat.values[address]
            else:
                try:
                    value = self._trie[address]
                except KeyError:
                    value = None
                flat.values[address] = value
            if value is None:
                raise KeyError(address)
            return value
        return self._trie[address]

    def __setitem__(self, address: bytes, value: bytes) -> None:
        self._trie[address] = value

    def __delitem__(self, address: bytes) -> None:
        del self._trie[address]

    def __contains__(self, address: bytes) -> bool:
        try:
            self[address]
        except KeyError:
            return False
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trie, name)


_UNSEEN = object()


# --- fast path: storage values carried from block to block ----------------------------
#
# The same for contract storage: an SLOAD in a new block walks the contract's storage
# trie from its root, although the previous block just wrote (or read) that slot.
# ``StorageCache`` remembers encoded slot values per storage root; a contract's storage
# reads go through it while its trie is unchanged in this state (py-evm's journal holds
# the block's own writes above it), and when the state root is made, the values move to
# the new storage root with the writes that produced it.

STORAGE_CACHE_ROOTS = 512  # storage roots remembered before the oldest is dropped


class StorageCache:
    """Encoded storage values (slot key -> RLP, or None when absent) per storage root.

    Like :class:`FlatAccounts`, values are a function of the root alone, so a root whose
    block was discarded (a rewind, a refused block) is still right for that root."""

    def __init__(self) -> None:
        self.roots: dict[bytes, dict[bytes, bytes | None]] = {}

    def at(self, root: bytes) -> dict[bytes, bytes | None]:
        values = self.roots.get(root)
        if values is None:
            if len(self.roots) >= STORAGE_CACHE_ROOTS:
                del self.roots[next(iter(self.roots))]
            values = self.roots[root] = {}
        return values

    def advance(self, before: bytes, after: bytes, writes: dict[bytes, bytes | None]) -> None:
        """A storage trie went from ``before`` to ``after`` by ``writes``. The values move
        (the old root is seldom read again; if it is, its reads walk the trie)."""
        values = self.roots.pop(before, None) or {}
        values.update(writes)
        self.roots.pop(after, None)
        if len(self.roots) >= STORAGE_CACHE_ROOTS:
            del self.roots[next(iter(self.roots))]
        self.roots[after] = values


class _StorageView:
    """A contract's storage lookup (py-evm's StorageLookup) read through a
    :class:`StorageCache` while it has no pending trie writes. Writes are noted, for
    :meth:`settle` to move the cache to the new root, and held until :meth:`flush`
    applies them to the trie in one pass (:func:`chain.storage_trie.apply_writes`)."""

    def __init__(self, lookup: Any, cache: StorageCache) -> None:
        self.lookup = lookup
        self.cache = cache
        self.base: bytes | None = None  # the trie root the noted writes apply to
        self.writes: dict[bytes, bytes | None] = {}
        self.held: dict[bytes, bytes | None] = {}  # slot key -> value (None: deleted), not yet in the trie

    def __getitem__(self, key: bytes) -> bytes:
        held = self.held.get(key, _UNSEEN)
        if held is not _UNSEEN:
            if held is None:
                raise KeyError(key)
            return held  # type: ignore[return-value]
        lookup = self.lookup
        if lookup._write_trie is not None:  # mid-flush: read the trie being written
            return lookup[key]
        values = self.cache.at(lookup._starting_root_hash)
        value = values.get(key, _UNSEEN)
        if value is _UNSEEN:
            try:
                value = lookup[key]
            except MissingStorageTrieNode:
                raise
            except KeyError:
                value = None
            values[key] = value
        if value is None:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __contains__(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def _note(self, key: bytes, value: bytes | None) -> None:
        if self.base is None:
            trie = self.lookup._write_trie
            self.base = trie.root_hash if trie is not None else self.lookup._starting_root_hash
        self.writes[key] = value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._note(key, value)
        self.held[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._note(key, None)
        self.held[key] = None

    def flush(self) -> None:
        """Put the held writes into the lookup's trie: in one pass, or one by one as
        py-evm writes them when the pass cannot (a trie shape it does not handle, a
        node missing from the database: py-evm's own path raises its error)."""
        held, self.held = self.held, {}
        if not held:
            return
        lookup = self.lookup
        try:
            apply_writes(
                lookup._get_write_trie(),
                {lookup._decode_key(key): value for key, value in held.items()},
            )
        except (Unbatchable, KeyError):
            for key, value in held.items():
                if value is None:
                    del lookup[key]
                else:
                    lookup[key] = value

    def settle(self) -> None:
        """After the storage root is made: move the cache along the noted writes, unless
        the storage was emptied meanwhile (then the trie did not move by them alone)."""
        if not self.writes:
            return
        lookup = self.lookup
        trie = lookup._write_trie
        if trie is not None and not lookup._historical_write_tries and self.base is not None:
            self.cache.advance(self.base, trie.root_hash, self.writes)
        self.base = None
        self.writes = {}


class _FlatAccountDBMixin:
    """AccountDB reading accounts through its class's ``flat_accounts`` map and storage
    through its ``storage_cache``, when :func:`vm_class_for` gave it them (fast paths)."""

    flat_accounts: FlatAccounts | None = None  # one per chain (vm_class_for); None: py-evm's reads
    storage_cache: StorageCache | None = None

    def __init__(self, db: Any, state_root: bytes = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)  # type: ignore[call-arg]
        self._flat = self.flat_accounts
        self._storage = self.storage_cache
        self._storage_views: dict[bytes, _StorageView] = {}
        self._last_diff: Any = None
        if self._flat is not None:
            logger = self._trie_logger  # type: ignore[attr-defined]
            logger.wrapped_db = _FlatView(logger.wrapped_db, self._flat)

    def _get_address_store(self, address: bytes) -> Any:
        store = super()._get_address_store(address)  # type: ignore[misc]
        if self._storage is not None:
            view = self._storage_views.get(address)
            if view is None or view.lookup is not store._storage_lookup:
                view = _StorageView(store._storage_lookup, self._storage)
                store._storage_cache._db = view  # py-evm's CacheDB over the lookup
                self._storage_views[address] = view
        return store

    def _apply_account_diff_without_proof(self, diff: Any, trie: Any) -> None:
        super()._apply_account_diff_without_proof(diff, trie)  # type: ignore[misc]
        self._last_diff = diff

    def make_state_root(self) -> bytes:
        if self._storage is not None:
            # py-evm's make_state_root writes each dirty contract's storage, then reads
            # its root: write them here first, each trie in one pass (the second write
            # finds nothing left to write)
            for address, store in self._dirty_account_stores():  # type: ignore[attr-defined]
                store.make_storage_root()
                view = self._storage_views.get(address)
                if view is not None and view.lookup is store._storage_lookup:
                    view.flush()
        if self._flat is None:
            after = super().make_state_root()  # type: ignore[misc]
        else:
            before = self.state_root  # type: ignore[attr-defined]
            self._last_diff = None
            after = super().make_state_root()  # type: ignore[misc]
            if self._last_diff is not None:
                self._flat.advance(before, after, self._last_diff)
        for view in self._storage_views.values():
            assert not view.held, "storage written after the pass above: py-evm's order changed"
            view.settle()
        return after


VM_CLASSES: dict[str, type[VirtualMachineAPI]] = {fork: _make_poa_vm(fork, False) for fork in FORKS}
# The same VMs with the lean interpreter loop (chain/interpreter.py): a fast path
# (``Chain(fast_paths=True)``) whose blocks tests/chain/test_fast_paths.py compares.
LEAN_VM_CLASSES: dict[str, type[VirtualMachineAPI]] = {fork: _make_poa_vm(fork, True) for fork in FORKS}


def vm_class_for(fork: str, fast_paths: bool = False, lean_loop: bool = False) -> type[VirtualMachineAPI]:
    """The proof-of-authority VM class running ``fork``'s rules. With ``fast_paths``, a
    new class for one chain: its computations run in the lean interpreter loop (same
    gas, same results) and its account database carries accounts and storage values
    from block to block (caches of its own, so call this once per chain). With
    ``lean_loop`` alone, the shared class with the lean loop and no caches (for chains
    that only read and call, on threads of their own)."""
    if not fast_paths:
        return LEAN_VM_CLASSES[fork] if lean_loop else VM_CLASSES[fork]
    lean = LEAN_VM_CLASSES[fork]
    state_class = lean.get_state_class()
    account_db_class = state_class.get_account_db_class()
    carrying = type(
        account_db_class.__name__,
        (account_db_class,),
        {"flat_accounts": FlatAccounts(), "storage_cache": StorageCache()},
    )
    return lean.configure(  # type: ignore[no-any-return]
        __name__=lean.__name__, _state_class=state_class.configure(account_db_class=carrying)
    )


def fast_path_caches(vm_class: type[VirtualMachineAPI]) -> tuple[FlatAccounts | None, StorageCache | None]:
    """The accounts map and storage cache a VM class from :func:`vm_class_for` carries
    between blocks; (None, None) for the plain path."""
    account_db_class = vm_class.get_state_class().get_account_db_class()
    return getattr(account_db_class, "flat_accounts", None), getattr(account_db_class, "storage_cache", None)


def new_header(vm_class: type[VirtualMachineAPI], parent: BlockHeaderAPI, **fields: Any) -> BlockHeaderAPI:
    """A header on top of ``parent`` with py-evm's derived fields (base fee, excess blob
    gas, gas limit), then the Clique fields py-evm would refuse at creation time
    (difficulty, nonce, mix hash) set on the copy."""
    clique_fields = {k: fields.pop(k) for k in ("difficulty", "nonce", "mix_hash") if k in fields}
    header = vm_class.create_header_from_parent(parent, **fields)
    return header.copy(**clique_fields) if clique_fields else header


# --- py-evm internals other modules need, behind plain functions -------------------------


def contract_address(sender: bytes, nonce: int) -> bytes:
    """The 20-byte address a creation by ``sender`` at ``nonce`` deploys to (CREATE)."""
    return bytes(generate_contract_address(Address(sender), nonce))


class _SetCodeCall(SpoofTransaction):
    """An unsigned set-code transaction run as a call. py-evm's costless execution copies
    the call with ``gas_price=0``, a field a set-code transaction does not have (it is
    priced by its fee caps, zero here); the spoofed ``gas_price`` is already 0."""

    def copy(self, **kwargs: Any) -> _SetCodeCall:
        kwargs.pop("gas_price", None)
        return super().copy(**kwargs)  # type: ignore[return-value]


def call_transaction(
    vm: VirtualMachineAPI,
    request: dict[str, Any],
    gas: int,
    access_list: Sequence[tuple[bytes, Sequence[int]]] = (),
) -> SignedTransactionAPI:
    """The unsigned transaction an ``eth_call``-like request runs as, from
    ``request["from"]`` (zero address if absent) without a signature (py-evm's
    ``SpoofTransaction``), at the sender's nonce, gas price 0. With ``access_list`` a
    type-1 transaction (Berlin on); with ``request["authorization_list"]`` (EIP-7702
    tuples as dicts: chain_id, address, nonce, y_parity, r, s) a set-code transaction
    (Prague on), whose authorizations the call applies. ``request`` keys: from, to (None
    or b"" creates), value, data, authorization_list."""
    sender = Address(request.get("from") or ZERO_ADDRESS)
    fields: dict[str, Any] = {
        "nonce": vm.state.get_nonce(sender),
        "gas_price": 0,
        "gas": gas,
        "to": request.get("to") or b"",
        "value": int(request.get("value") or 0),
        "data": request.get("data") or b"",
    }
    authorizations = request.get("authorization_list")
    if authorizations:
        set_code_builder: Any = vm.get_transaction_builder()  # Prague's builder: set-code transactions
        unsigned_set_code = set_code_builder.new_unsigned_set_code_transaction(
            chain_id=vm.chain_context.chain_id,  # type: ignore[attr-defined]  # see below
            max_priority_fee_per_gas=0,
            max_fee_per_gas=0,
            access_list=[(address, list(slots)) for address, slots in access_list],
            authorization_list=list(authorizations),
            **{k: v for k, v in fields.items() if k != "gas_price"},
        )
        return _SetCodeCall(  # type: ignore[return-value]  # proxies a signed transaction
            unsigned_set_code, from_=sender, gas_price=0, type_id=SET_CODE_TRANSACTION_TYPE
        )
    if access_list:
        builder: Any = vm.get_transaction_builder()  # Berlin's builder on: access lists
        unsigned = builder.new_unsigned_access_list_transaction(
            chain_id=vm.chain_context.chain_id,  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits chain_context, which its VM class defines
            access_list=[(address, list(slots)) for address, slots in access_list],
            **fields,
        )
    else:
        unsigned = vm.create_unsigned_transaction(**fields)
    return SpoofTransaction(unsigned, from_=sender)  # type: ignore[return-value]  # py-evm's SpoofTransaction proxies a signed transaction; its stub does not say so


def simulated_transaction(
    vm: VirtualMachineAPI, sender: bytes, fields: dict[str, Any], dynamic_fee: dict[str, Any] | None
) -> SignedTransactionAPI:
    """A transaction ``eth_simulateV1`` runs: built from ``fields`` (nonce, gas, to, value,
    data; ``gas_price`` for a legacy one) or, with ``dynamic_fee`` (chain_id,
    max_fee_per_gas, max_priority_fee_per_gas, access_list), an EIP-1559 one, with a
    placeholder signature r = s = 1 (in range, as py-evm's checks want, so it has a hash
    and can go into a block) and ``sender`` as its sender: py-evm's cached sender is set,
    so the signature is never recovered."""
    builder: Any = vm.get_transaction_builder()
    if dynamic_fee is not None:
        made = builder.new_dynamic_fee_transaction(y_parity=0, r=1, s=1, **dynamic_fee, **fields)
        # py-evm's Cancun (and later) builders inherit London's and make London's class,
        # which their blocks do not encode: decode it with the fork's own builder
        signed = builder.decode(made.encode())
    else:
        signed = builder.new_transaction(v=27, r=1, s=1, **fields)
    for target in (signed, getattr(signed, "_inner", None)):
        if target is not None:
            target.__dict__["sender"] = Address(sender)  # py-evm's cached_property slot
    return signed  # type: ignore[no-any-return]


def stack_values(computation: ComputationAPI) -> list[int]:
    """The computation's stack, bottom first, as integers (py-evm keeps ints or bytes)."""
    items = computation._stack.values  # type: ignore[attr-defined]
    return [item if isinstance(item, int) else int.from_bytes(item, "big") for item in items]


def unindex_canonical_block(db: AtomicDB, number: int, transactions: Iterable[SignedTransactionAPI]) -> None:
    """Take block ``number`` and its transactions out of py-evm's canonical indices."""
    for tx in transactions:
        ChainDB._remove_transaction_from_canonical_chain(db, tx.hash)
    del db[SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(number))]


def index_canonical_block(
    db: AtomicDB, header: BlockHeaderAPI, transactions: Iterable[SignedTransactionAPI]
) -> None:
    """Make ``header`` the canonical block at its number, with its transactions indexed."""
    key = SchemaV1.make_block_number_to_hash_lookup_key(header.block_number)
    db[key] = rlp.encode(header.hash, sedes=rlp.sedes.binary)
    for index, tx in enumerate(transactions):
        ChainDB._add_transaction_to_canonical_chain(db, tx.hash, header, index)


def set_canonical_head(db: AtomicDB, header: BlockHeaderAPI) -> None:
    """Point py-evm's head at ``header``, holding exactly blocks 0..its number (no gaps:
    py-evm tracks which block numbers it holds, and after a rewind that is all of them)."""
    db[SchemaV1.make_canonical_head_hash_lookup_key()] = header.hash
    no_gaps = rlp.encode(((), header.block_number + 1), sedes=chain_gaps)
    db[SchemaV1.make_header_chain_gaps_lookup_key()] = no_gaps
    db[SchemaV1.make_chain_gaps_lookup_key()] = no_gaps


# --- impersonated transactions (chain.edits) ---------------------------------------------------


def with_known_sender(tx: SignedTransactionAPI, sender: bytes) -> SignedTransactionAPI:
    """``tx`` with its sender set instead of recovered: py-evm caches the recovered sender on
    the transaction (``cached_property``), so the cache is filled. For an impersonated
    transaction, whose marker signature recovers to no one (``chain.edits``)."""
    tx.__dict__["sender"] = Address(sender)
    return tx


def impersonated_execution(tx: SignedTransactionAPI, sender: bytes) -> SignedTransactionAPI:
    """``tx`` as py-evm executes it for an impersonated ``sender``: py-evm's
    ``SpoofTransaction`` with the sender given and validation without the signature check
    (intrinsic gas only). The block's body holds ``tx`` itself."""

    def validate() -> None:
        if tx.gas < tx.intrinsic_gas:
            raise ValidationError("Insufficient gas")

    return SpoofTransaction(  # type: ignore[return-value]  # py-evm's SpoofTransaction proxies a signed transaction
        tx,
        sender=Address(sender),
        get_sender=lambda: Address(sender),
        validate=validate,
        check_signature_validity=lambda: None,
    )
