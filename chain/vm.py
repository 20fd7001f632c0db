"""The fork table and every py-evm override sumchain needs, in one place.

py-evm is pinned exactly (see pyproject.toml). sumchain bends it only here:

* Proof of authority replaces proof of work / stake. The seal is checked by
  ``chain.consensus`` (EIP-225), so py-evm's own consensus check is the no-op one.
* ``extraData`` carries the Clique vanity, the signer list at checkpoints and the
  65-byte seal, so its 32-byte cap is lifted.
* Clique pays no block reward, on every fork.
* Importing a block takes its header fields verbatim (difficulty is a Clique value,
  not a proof-of-work target).
* From Paris on, py-evm requires difficulty 0, nonce 0 and rejects anything else on
  creation and validation; Clique needs difficulty 1 or 2 and the vote nonce, so the
  post-merge header rules are replaced by the pre-merge ones (everything else, such as
  base fee, gas limit, withdrawals root and blob gas, stays py-evm's).
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, VirtualMachineAPI
from eth.consensus.noproof import NoProofConsensus
from eth.vm.base import VM
from eth.vm.forks import (
    BerlinVM,
    CancunVM,
    IstanbulVM,
    LondonVM,
    ParisVM,
    PetersburgVM,
    ShanghaiVM,
)

from chain.config import FORKS

MAX_SIGNERS = 256  # signers a checkpoint's extraData may list
EXTRA_DATA_MAX = 32 + 20 * MAX_SIGNERS + 65  # bytes: vanity + signer list + seal

_BASE_VMS: dict[str, type[VM]] = {
    "petersburg": PetersburgVM,
    "istanbul": IstanbulVM,
    "berlin": BerlinVM,
    "london": LondonVM,
    "paris": ParisVM,
    "shanghai": ShanghaiVM,
    "cancun": CancunVM,
}
POST_MERGE = ("paris", "shanghai", "cancun")

# The evmVersion solc calls each fork (compiled artifacts are kept per evmVersion).
EVM_VERSIONS = {fork: fork for fork in FORKS}


def _no_reward() -> int:
    return 0


def _pre_merge_header_rules(
    cls: type[VM], header: BlockHeaderAPI, parent_header: BlockHeaderAPI
) -> None:
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
    header = cls.create_header_from_parent(None, **genesis_params)
    return header.copy(**clique_fields)


def _make_poa_vm(fork: str) -> type[VirtualMachineAPI]:
    base = _BASE_VMS[fork]
    overrides: dict[str, Any] = {
        "__name__": f"PoA{base.__name__}",
        "consensus_class": NoProofConsensus,
        "extra_data_max_bytes": EXTRA_DATA_MAX,
        "get_block_reward": staticmethod(_no_reward),
        "get_nephew_reward": staticmethod(_no_reward),
        "configure_header": _configure_header_verbatim,
    }
    if fork in POST_MERGE:
        overrides["validate_header"] = classmethod(_pre_merge_header_rules)
        overrides["create_genesis_header"] = classmethod(_create_genesis_header)
    return base.configure(**overrides)


VM_CLASSES: dict[str, type[VirtualMachineAPI]] = {fork: _make_poa_vm(fork) for fork in FORKS}


def vm_class_for(fork: str) -> type[VirtualMachineAPI]:
    """The proof-of-authority VM class running ``fork``'s rules."""
    return VM_CLASSES[fork]


def new_header(
    vm_class: type[VirtualMachineAPI], parent: BlockHeaderAPI, **fields: Any
) -> BlockHeaderAPI:
    """A header on top of ``parent`` with py-evm's derived fields (base fee, excess blob
    gas, gas limit), then the Clique fields py-evm would refuse at creation time
    (difficulty, nonce, mix hash) set on the copy."""
    clique_fields = {k: fields.pop(k) for k in ("difficulty", "nonce", "mix_hash") if k in fields}
    header = vm_class.create_header_from_parent(parent, **fields)
    return header.copy(**clique_fields) if clique_fields else header
