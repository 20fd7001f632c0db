"""eth_signTypedData_v4: good typed data is signed (the signature recovers to the account);
rejected inputs get the errors geth gives (signer/core/apitypes: its rules, its order and
its messages), table-driven."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.node.conftest import DEV_ADDRESS

GOOD: dict[str, Any] = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
        "Mail": [
            {"name": "contents", "type": "string"},
            {"name": "count", "type": "uint8"},
            {"name": "to", "type": "address"},
            {"name": "tags", "type": "bytes32[]"},
        ],
    },
    "primaryType": "Mail",
    "domain": {"name": "sumchain", "chainId": 31337},
    "message": {"contents": "hi", "count": 3, "to": DEV_ADDRESS, "tags": ["0x" + "11" * 32]},
}


def changed(edit: Any) -> dict[str, Any]:
    typed = copy.deepcopy(GOOD)
    edit(typed)
    return typed


def field(typed: dict[str, Any], index: int, **values: str) -> None:
    typed["types"]["Mail"][index].update(values)


REJECTED = [
    ("empty type", changed(lambda t: field(t, 0, type="")), 'type "Mail":0: empty Type'),
    ("empty name", changed(lambda t: field(t, 1, name="")), 'type "Mail":1: empty Name'),
    ("self reference", changed(lambda t: field(t, 0, type="Mail")), 'type "Mail" cannot reference itself'),
    (
        "undefined reference",
        changed(lambda t: field(t, 0, type="Person")),
        'reference type "Person" is undefined',
    ),
    ("empty domain", changed(lambda t: t.update(domain={})), "domain is undefined"),
    (
        "extra message field",
        changed(lambda t: t["message"].update(extra=1)),
        "there is extra data provided in the message (4 < 5)",
    ),
    (
        "primary type not among the types",
        changed(lambda t: t.update(primaryType="Letter")),
        "there is extra data provided in the message (0 < 4)",
    ),
    (
        "string given a number",
        changed(lambda t: t["message"].update(contents=5)),
        "provided data '5' doesn't match type 'string'",
    ),
    ("integer too large", changed(lambda t: t["message"].update(count=300)), "integer larger than 'uint8'"),
    (
        "negative unsigned",
        changed(lambda t: t["message"].update(count=-1)),
        "invalid negative value for unsigned type uint8",
    ),
    (
        "bad address",
        changed(lambda t: t["message"].update(to="0x12")),
        "provided data '0x12' doesn't match type 'address'",
    ),
    (
        "short bytes32",
        changed(lambda t: t["message"].update(tags=["0x11"])),
        "provided data '0x11' doesn't match type 'bytes32'",
    ),
    (
        "array given a scalar",
        changed(lambda t: t["message"].update(tags="0x11")),
        "provided data '0x11' doesn't match type 'bytes32[]'",
    ),
]


def sign(w3, typed: Any, account: str = DEV_ADDRESS) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return w3.provider.make_request("eth_signTypedData_v4", [account, typed])  # type: ignore[no-any-return]


def test_good_typed_data_is_signed_by_the_account(w3) -> None:
    for form in (GOOD, json.dumps(GOOD)):  # an object, or the JSON text wallets send
        signature = sign(w3, form)["result"]
        assert (
            Account.recover_message(encode_typed_data(full_message=GOOD), signature=signature) == DEV_ADDRESS
        )


@pytest.mark.parametrize(("case", "typed", "message"), REJECTED, ids=[case for case, _, _ in REJECTED])
def test_rejected_typed_data_gets_geths_error(w3, case: str, typed: dict[str, Any], message: str) -> None:
    error = sign(w3, typed)["error"]
    assert error == {"code": -32000, "message": message}, case


def test_typed_data_that_is_not_an_object_is_an_invalid_parameter(w3) -> None:
    assert sign(w3, "{not json")["error"]["code"] == -32602
    assert sign(w3, 5)["error"]["code"] == -32602
    unknown = sign(w3, GOOD, "0x" + "12" * 20)["error"]
    assert unknown["code"] == -32000 and "unknown account" in unknown["message"]
