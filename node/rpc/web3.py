"""The ``web3_`` namespace: client version and Keccak-256."""

from __future__ import annotations

from eth_utils import keccak

from node.rpc import params as p
from node.rpc.registry import Context, rpc

CLIENT_NAME = "sumchain"


def client_version() -> str:
    """``sumchain/v<version>/<platform>/python<major.minor>``, geth's layout."""
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("sumchain")
    except PackageNotFoundError:
        ours = "0.0.0"
    return (
        f"{CLIENT_NAME}/v{ours}/{sys.platform}-{platform.machine().lower()}/"
        f"python{sys.version_info.major}.{sys.version_info.minor}"
    )


@rpc("web3_clientVersion", on_worker=False)
def web3_clientVersion(ctx: Context) -> str:
    return client_version()


@rpc("web3_sha3", p.Param("data", p.data), on_worker=False)
def web3_sha3(ctx: Context, payload: bytes) -> str:
    return "0x" + keccak(payload).hex()
