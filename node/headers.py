"""The header a JSON-RPC block parameter names, shared by every part of the backend."""

from __future__ import annotations

from eth.abc import BlockHeaderAPI

from chain.chain import Chain
from chain.errors import UnknownBlock
from node.rpc import errors
from node.rpc.params import BlockId


def resolve_header(chain: Chain, block: BlockId) -> BlockHeaderAPI:
    """The header ``block`` names; -32000 "header not found" when there is none."""
    try:
        header = chain.resolve(block.key)
    except UnknownBlock as exc:
        raise errors.ServerError(f"header not found: {exc}") from None
    if block.require_canonical and not chain.is_canonical(header):
        raise errors.ServerError(f"block 0x{header.hash.hex()} is not canonical")
    return header
