"""The dashboard's HTTP side: static pages plus a small JSON API over the SDK.

Every answer comes from a node over JSON-RPC through the SDK (:mod:`vm_contracts.client`,
:mod:`vm_contracts.versions`), so the dashboard works against any node: sumchain, anvil,
geth. Blocking web3 calls run in worker threads; the event loop stays free. A failure
of any kind becomes one JSON ``{"error": "..."}`` answer written for a person, and the
server keeps running.

State-changing requests (POST) are refused unless they come from the dashboard's own
origin and carry JSON, so another web page cannot make the dev accounts sign.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from node.ui.history import LogsRefused, TrainerHistory
from vm_contracts.encoding import SCALE, Vocabulary
from vm_contracts.errors import ContractRevert, DatasetError, VmContractsError
from vm_contracts.versions import (
    TestSet,
    Version,
    attach_trainer,
    diff_blocks,
    find_trainers,
    has_archive,
    owner_of,
    parameters,
    parse_test_set,
    read_model_at,
    resolve_block,
    revert_model,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FIXED_POINT_KEYS = frozenset({"learning_rate", "intercept", "weights", "smoothing", "centroids", "sums"})
VERSIONS_SHOWN = 100  # newest versions listed with their gas
CHANGES_SHOWN = 100  # ... and at most this many changes in them (a version may hold many)
CONTRIBUTIONS_SHOWN = 200  # newest contributions checked for refund/report per page load
RPC_TIMEOUT = 300  # seconds per JSON-RPC request: eth_getLogs over a long history is slow on
# a loaded machine; a node that is down still fails at once (connection refused)
MAX_JSON = 1 << 20  # bytes in a request body
IMDB_TEST_LIMIT = 1000  # reviews read from an aclImdb folder as a test set


class PageError(Exception):
    """Raised when a request cannot be answered; ``status`` is the HTTP status and the
    message is what the page shows."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Dashboard:
    """What the dashboard serves from.

    Fields:
        rpc_url: the node's JSON-RPC URL (set late for ``devnet --ui``, once bound).
        vocabularies: vocabularies the SDK knows, by encoder name, for typed text.
        chain_id: the chain id the user expects, if named; another one is an error.
    """

    rpc_url: str | None = None
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)
    chain_id: int | None = None
    _w3: Any = None
    _frameworks: dict[str, Any] = field(default_factory=dict)
    _histories: dict[str, TrainerHistory] = field(default_factory=dict)
    _histories_lock: threading.Lock = field(default_factory=threading.Lock)

    def history(self, framework: Any) -> TrainerHistory:
        """The trainer's history (:mod:`node.ui.history`) read up to the head: its events
        are fetched once, then only the blocks since."""
        key = framework.address.lower()
        with self._histories_lock:
            history = self._histories.setdefault(key, TrainerHistory(framework))
        history.framework = framework
        head = int(framework.w3.eth.block_number)
        with history.lock:
            try:
                history.refresh(head)
            except LogsRefused as exc:
                raise PageError(f"the node refuses to list the trainer's events: {exc}", 502) from None
        return history

    # --- the node -------------------------------------------------------------------------

    def w3(self) -> Any:
        if self._w3 is None:
            if self.rpc_url is None:
                raise PageError("the dashboard has no node to talk to yet", 503)
            from web3 import HTTPProvider, Web3
            from web3.middleware import ExtraDataToPOAMiddleware

            w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": RPC_TIMEOUT}))
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            self._w3 = w3
        return self._w3

    def checked_w3(self) -> Any:
        """The web3, with a reachable node on the expected chain."""
        w3 = self.w3()
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # noqa: BLE001 - connection errors come in many kinds
            raise PageError(
                f"cannot reach the node at {self.rpc_url} ({type(exc).__name__}); is it running?",
                502,
            ) from None
        if self.chain_id is not None and chain_id != self.chain_id:
            raise PageError(
                f"wrong chain: the node at {self.rpc_url} is chain {chain_id}, "
                f"the dashboard expects chain {self.chain_id}",
                409,
            )
        return w3

    def framework(self, address: str) -> Any:
        w3 = self.checked_w3()
        key = address.lower()
        if key not in self._frameworks:
            self._frameworks[key] = attach_trainer(w3, address)
        framework = self._frameworks[key]
        current = framework.trainer.functions.model().call()
        if current != framework.model.address:  # replaced since: follow it
            framework.model = framework.w3.eth.contract(address=current, abi=framework.model.abi)
        return framework

    # --- pages' data ----------------------------------------------------------------------

    def node(self) -> dict[str, Any]:
        w3 = self.checked_w3()
        head = int(w3.eth.block_number)
        try:
            client = str(w3.client_version)
        except Exception:  # noqa: BLE001 - optional method
            client = "unknown"
        try:
            accounts = list(w3.eth.accounts)
        except Exception:  # noqa: BLE001 - a public node manages none
            accounts = []
        ws = None
        if self.rpc_url and self.rpc_url.startswith(("http://", "https://")):
            ws = "ws" + self.rpc_url[len("http") :]  # the node's WebSocket on the same port
        return {
            "rpc": self.rpc_url,
            "ws": ws,
            "chain_id": int(w3.eth.chain_id),
            "head": head,
            "client": client,
            "archive": head == 0 or has_archive(w3, 0),
            "accounts": accounts,
        }

    def head(self) -> dict[str, Any]:
        block = self.checked_w3().eth.get_block("latest")
        return {
            "number": int(block["number"]),
            "hash": "0x" + bytes(block["hash"]).hex(),
            "timestamp": int(block["timestamp"]),
            "transactions": len(block["transactions"]),
        }

    def models(self) -> list[dict[str, Any]]:
        w3 = self.checked_w3()
        out = []
        for address in find_trainers(w3):
            framework = self.framework(address)
            out.append(self.summary(framework))
        return out

    def summary(self, framework: Any, history: TrainerHistory | None = None) -> dict[str, Any]:
        meta = framework.metadata()
        model = framework.model.functions
        has_classes = any(entry.get("name") == "numClasses" for entry in framework.model.abi)
        history = history or self.history(framework)
        versions: list[Version] = history.versions
        return {
            "address": framework.address,
            "name": meta["name"],
            "description": meta["description"],
            "encoder": meta["encoder"],
            "model": framework.model_name,
            "model_address": framework.model.address,
            "incentive": framework.incentive_name,
            "features": int(model.numFeatures().call()),
            "classes": int(model.numClasses().call()) if has_classes else 2,
            "owner": owner_of(framework),
            "contributions": len(history.added),
            "last_update": versions[-1].block if versions else None,
            "deployed": versions[0].block if versions else None,
            "text": meta["encoder"] in self.vocabularies,
        }

    def model(self, address: str, block: str | None) -> dict[str, Any]:
        framework = self.framework(address)
        w3 = framework.w3
        number = resolve_block(w3, block or "latest")
        state = read_model_at(framework, number)
        history = self.history(framework)
        with history.lock:
            history.prefetch_states()  # while the rest of the page is read
        versions = list(history.versions)
        summary = self.summary(framework, history)
        shown = newest_versions(versions)
        with history.lock:
            gas = history.transaction_gas([c[3] for v in shown for c in v.changes])
        return {
            **summary,
            "block": number,
            "required_deposit": framework.required_deposit(),
            "parameters": human_parameters(state),
            "versions": [
                {
                    "block": v.block,
                    "kind": v.kind,
                    "changes": [
                        {"by": by, "label": label, "tx": tx, "gas": gas.get(tx)}
                        for by, label, _data, tx in v.changes
                    ],
                }
                for v in shown
            ],
            "version_count": len(versions),
            "archive": has_archive(w3, versions[0].block if versions else 0),
        }

    def accuracy(self, address: str, test_set_path: str) -> dict[str, Any]:
        framework = self.framework(address)
        test_set = self.load_test_set(test_set_path, framework)
        w3 = framework.w3
        history = self.history(framework)
        versions = list(history.versions)
        if not has_archive(w3, versions[0].block):
            return {
                "archive": False,
                "error": "this node keeps no archive: the accuracy of earlier versions cannot be "
                "read (run the model on sumchain, or an archive node, for history)",
                "versions": [],
            }
        key = (tuple(map(tuple, test_set.data)), tuple(test_set.labels))
        with history.lock:
            scores = history.accuracies(test_set, key)
            versions = list(history.versions)
        return {
            "archive": True,
            "test_set": str(test_set.path),
            "samples": len(test_set.labels),
            "versions": [
                {"block": v.block, "kind": v.kind, "accuracy": score}
                for v, score in zip(versions, scores, strict=True)
            ],
        }

    def load_test_set(self, path_text: str, framework: Any) -> TestSet:
        """A test set from a ``.jsonl(.gz)``, a CSV of ``label,index index ...`` rows, or an
        ``aclImdb`` folder (encoded with the model's known vocabulary)."""
        if not path_text.strip():
            raise PageError("name a test set: a .jsonl(.gz) file, a .csv file or an aclImdb folder")
        path = Path(path_text.strip()).expanduser()
        if not path.exists():
            raise PageError(f"test set {path}: no such file or folder")
        if path.is_dir():
            return self._imdb_test_set(path, framework)
        try:
            if path.suffix.lower() == ".csv":
                return _csv_test_set(path)
            opener: Any = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as stream:
                return parse_test_set(list(stream), path)
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise PageError(f"test set {path}: cannot read ({exc})") from None

    def _imdb_test_set(self, path: Path, framework: Any) -> TestSet:
        from vm_contracts.datasets import load_imdb

        vocabulary = self.vocabularies.get(framework.metadata()["encoder"])
        if vocabulary is None:
            raise PageError(
                f"{path} is a folder of reviews, but this model's encoder has no vocabulary "
                "the dashboard knows (start it with --vocabulary FILE)"
            )
        dataset = load_imdb(path, "test", limit=IMDB_TEST_LIMIT)
        return TestSet(path, vocabulary.encode_many(dataset.samples), [int(y) for y in dataset.labels])

    def diff(self, address: str, a: str, b: str) -> dict[str, Any]:
        framework = self.framework(address)
        first = resolve_block(framework.w3, a)
        second = resolve_block(framework.w3, b)
        changes = diff_blocks(framework, first, second)
        return {
            "from": first,
            "to": second,
            "changes": [
                {
                    "parameter": c.name,
                    "changed": c.changed,
                    "size": c.size,
                    "max_abs_delta": _human(c.name, c.max_abs_delta),
                    "l1_delta": _human(c.name, c.l1_delta),
                    "top": [
                        {"index": list(i), "before": _human(c.name, x), "after": _human(c.name, y)}
                        for i, x, y in c.top
                    ],
                }
                for c in changes
            ],
            "model": framework.model_name,
        }

    def encode(self, framework: Any, body: Mapping[str, Any]) -> list[int]:
        text = body.get("text")
        if text:
            encoder = framework.metadata()["encoder"]
            vocabulary = self.vocabularies.get(encoder)
            if vocabulary is None:
                raise PageError(
                    f"this model's encoder {encoder!r} has no vocabulary the dashboard knows; "
                    "give feature indices instead"
                )
            indices = vocabulary.encode(str(text))
            if not indices:
                raise PageError("none of the words is in the model's vocabulary")
            return indices
        raw = str(body.get("indices", "")).replace(",", " ").split()
        if not raw:
            raise PageError("give a text or feature indices")
        try:
            return [int(v) for v in raw]
        except ValueError:
            raise PageError(f"feature indices must be integers, got {' '.join(raw)!r}") from None

    def predict(self, address: str, body: Mapping[str, Any]) -> dict[str, Any]:
        framework = self.framework(address)
        data = self.encode(framework, body)
        number = resolve_block(framework.w3, str(body.get("block") or "latest"))
        try:
            if not framework.w3.eth.get_code(framework.address, block_identifier=number):
                raise PageError(f"the trainer has no code at block {number}: it was deployed later")
            label = framework.predict(data, block=number)
        except (VmContractsError, PageError):
            raise
        except Exception as exc:
            if not has_archive(framework.w3, number):
                raise PageError(f"the node keeps no state for block {number} (no archive)") from exc
            raise
        return {"label": label, "block": number, "data": data}

    def add_data(self, address: str, body: Mapping[str, Any]) -> dict[str, Any]:
        framework = self.framework(address)
        data = self.encode(framework, body)
        label = _int(body.get("label"), "label")
        sender = self.dev_account(body.get("from"))
        receipt = framework.add_data(data, label, sender)
        return _receipt(receipt, {"data": data, "label": label})

    def transaction(self, address: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """An unsigned transaction for the browser's wallet (``window.ethereum``)."""
        framework = self.framework(address)
        if action == "add":
            data = self.encode(framework, body)
            label = _int(body.get("label"), "label")
            calldata = framework.trainer.encode_abi("addData", args=[data, label])
            value = framework.required_deposit()
        elif action in ("refund", "report"):
            c = self._contribution(framework, body)
            calldata = framework.trainer.encode_abi(
                action, args=[c.contributor, c.data, c.label, c.added_time]
            )
            value = 0
        else:
            raise PageError(f"unknown action {action!r}", 404)
        return {"to": framework.address, "data": calldata, "value": hex(value)}

    def claim(self, address: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        framework = self.framework(address)
        contribution = self._contribution(framework, body)
        sender = self.dev_account(body.get("from"))
        if action == "refund":
            receipt = framework.refund(contribution, sender)
        else:
            receipt = framework.report(contribution, sender)
        return _receipt(receipt, {"action": action})

    def _contribution(self, framework: Any, body: Mapping[str, Any]) -> Any:
        tx = str(body.get("tx", "")).lower()
        index = _int(body.get("index", 0), "index")
        matching = [c for c in framework.contributions() if c.transaction_hash.lower() == tx]
        if index >= len(matching):
            raise PageError(f"no contribution in transaction {tx}", 404)
        return matching[index]

    def revert(self, address: str, body: Mapping[str, Any]) -> dict[str, Any]:
        framework = self.framework(address)
        number = resolve_block(framework.w3, str(body.get("block", "")))
        owner = owner_of(framework)
        sender = self.dev_account(body.get("from") or owner)
        if sender.lower() != owner.lower():
            raise PageError(f"only the trainer's owner {owner} may replace its model, not {sender}", 403)
        reverted = revert_model(framework, number, sender)
        return {
            "from_block": reverted.from_block,
            "new_model": reverted.new_model,
            "block": reverted.block,
            "transaction": reverted.transaction,
            "gas_used": reverted.gas_used,
        }

    def contributions(self, address: str, account: str | None) -> dict[str, Any]:
        framework = self.framework(address)
        w3 = framework.w3
        now = int(w3.eth.get_block("latest")["timestamp"])
        found = framework.contributions()
        viewer = account or (w3.eth.accounts[0] if w3.eth.accounts else None)
        rows = []
        per_tx: dict[str, int] = {}
        for c in found:
            position = per_tx.get(c.transaction_hash, 0)
            per_tx[c.transaction_hash] = position + 1
            claimed = c.refunded or bool(c.taken)
            rows.append(
                {
                    "tx": c.transaction_hash,
                    "index": position,
                    "contributor": c.contributor,
                    "label": c.label,
                    "data": c.data,
                    "deposit": c.deposit,
                    "block": c.block_number,
                    "age_s": now - c.added_time,
                    "refunded": c.refunded,
                    "taken": sum(c.taken.values()),
                    "claimed": claimed,
                    "refundable": False,
                    "reportable": False,
                }
            )
        for row, c in list(zip(rows, found, strict=True))[-CONTRIBUTIONS_SHOWN:]:
            if row["claimed"] and c.claimable == 0:
                continue
            args = (c.contributor, c.data, c.label, c.added_time)
            row["refundable"] = _would_succeed(framework.trainer.functions.refund(*args), c.contributor)
            if viewer is not None and viewer.lower() != c.contributor.lower():
                row["reportable"] = _would_succeed(framework.trainer.functions.report(*args), viewer)
        return {"now": now, "viewer": viewer, "contributions": rows[::-1]}

    def dev_account(self, account: Any) -> str:
        accounts = [a.lower() for a in self.checked_w3().eth.accounts]
        if not accounts:
            raise PageError("this node signs for no account: use the browser's wallet")
        chosen = str(account or "")
        if not chosen:
            return self.checked_w3().eth.accounts[0]
        if chosen.lower() not in accounts:
            raise PageError(f"the node does not sign for {chosen}; use the browser's wallet")
        return self.checked_w3().to_checksum_address(chosen)


def newest_versions(versions: Sequence[Version]) -> list[Version]:
    """The newest versions the model page lists with their gas: at most
    ``VERSIONS_SHOWN``, holding at most ``CHANGES_SHOWN`` changes (always the newest one)."""
    shown: list[Version] = []
    changes = 0
    for version in reversed(versions[-VERSIONS_SHOWN:]):
        changes += len(version.changes)
        if shown and changes > CHANGES_SHOWN:
            break
        shown.append(version)
    return shown[::-1]


def _would_succeed(built: Any, sender: str) -> bool:
    try:
        built.call({"from": sender})
    except Exception:  # noqa: BLE001 - any revert means "not now"
        return False
    return True


def _receipt(receipt: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **extra,
        "block": int(receipt["blockNumber"]),
        "transaction": "0x" + bytes(receipt["transactionHash"]).hex(),
        "gas_used": int(receipt["gasUsed"]),
        "status": int(receipt["status"]),
    }


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value), 0)
    except (TypeError, ValueError):
        raise PageError(f"{name} must be an integer, got {value!r}") from None


def _human(name: str, value: int) -> float | int:
    return value / SCALE if name in FIXED_POINT_KEYS else value


def human_parameters(state: Mapping[str, Any]) -> dict[str, Any]:
    """A model's parameters with fixed-point values divided by 10^9 (reals as floats);
    counts stay integers. Long vectors keep their full length."""

    def convert(name: str, value: Any) -> Any:
        if isinstance(value, list):
            return [convert(name, v) for v in value]
        return _human(name, int(value))

    return {name: convert(name, value) for name, value in parameters(state).items()}


def _csv_test_set(path: Path) -> TestSet:
    import csv

    data: list[list[int]] = []
    labels: list[int] = []
    with open(path, newline="") as stream:
        for line_number, row in enumerate(csv.reader(stream), 1):
            if not row or (line_number == 1 and row[0].strip().lower() == "label"):
                continue
            try:
                labels.append(int(row[0]))
                data.append([int(v) for v in " ".join(row[1:]).split()])
            except ValueError:
                raise PageError(
                    f"{path}:{line_number}: expected label,feature indices (e.g. 1,3 17 42)"
                ) from None
    if not labels:
        raise PageError(f"test set {path}: no samples")
    return TestSet(path, data, labels)


# --- HTTP -----------------------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state-changing requests from other origins (and forms, which carry no JSON)."""
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.host}"
        if origin is not None and origin != own:
            return web.json_response({"error": f"refused: a request from {origin}"}, status=403)
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return web.json_response({"error": "refused: a cross-site request"}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"error": "refused: send JSON"}, status=415)
    return await handler(request)


def application(dashboard: Dashboard) -> web.Application:
    """The dashboard as an aiohttp application (mount it anywhere, e.g. under ``/ui``)."""
    app = web.Application(middlewares=[same_origin_only], client_max_size=MAX_JSON)

    def api(work: Callable[[web.Request, dict[str, Any]], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] = {}
            if request.method == "POST":
                try:
                    body = dict(await request.json())
                except (ValueError, TypeError):
                    return web.json_response({"error": "the request is not a JSON object"}, status=400)
            try:
                result = await asyncio.to_thread(work, request, body)
            except PageError as exc:
                return web.json_response({"error": str(exc)}, status=exc.status)
            except ContractRevert as exc:
                return web.json_response({"error": f"the transaction reverted: {exc}"}, status=400)
            except (VmContractsError, DatasetError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            except Exception as exc:  # noqa: BLE001 - the server keeps running, the page says why
                log.warning("dashboard request %s failed", request.path, exc_info=True)
                return web.json_response({"error": _explain(exc, dashboard)}, status=502)
            return web.json_response(result)

        return handle

    def q(request: web.Request, name: str) -> str | None:
        return request.query.get(name)

    routes = [
        web.get("/api/node", api(lambda r, b: dashboard.node())),
        web.get("/api/head", api(lambda r, b: dashboard.head())),
        web.get("/api/models", api(lambda r, b: dashboard.models())),
        web.get("/api/models/{a}", api(lambda r, b: dashboard.model(r.match_info["a"], q(r, "block")))),
        web.get(
            "/api/models/{a}/accuracy",
            api(lambda r, b: dashboard.accuracy(r.match_info["a"], q(r, "test_set") or "")),
        ),
        web.get(
            "/api/models/{a}/diff",
            api(lambda r, b: dashboard.diff(r.match_info["a"], q(r, "from") or "", q(r, "to") or "")),
        ),
        web.get(
            "/api/models/{a}/contributions",
            api(lambda r, b: dashboard.contributions(r.match_info["a"], q(r, "account"))),
        ),
        web.post("/api/models/{a}/predict", api(lambda r, b: dashboard.predict(r.match_info["a"], b))),
        web.post("/api/models/{a}/add", api(lambda r, b: dashboard.add_data(r.match_info["a"], b))),
        web.post("/api/models/{a}/refund", api(lambda r, b: dashboard.claim(r.match_info["a"], "refund", b))),
        web.post("/api/models/{a}/report", api(lambda r, b: dashboard.claim(r.match_info["a"], "report", b))),
        web.post("/api/models/{a}/revert", api(lambda r, b: dashboard.revert(r.match_info["a"], b))),
        web.post(
            "/api/models/{a}/transaction/{action}",
            api(lambda r, b: dashboard.transaction(r.match_info["a"], r.match_info["action"], b)),
        ),
    ]
    app.add_routes(routes)

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app


def _explain(exc: Exception, dashboard: Dashboard) -> str:
    import requests

    if isinstance(exc, requests.exceptions.RequestException):
        return f"cannot reach the node at {dashboard.rpc_url} ({type(exc).__name__}); is it running?"
    return f"the node refused the request: {exc}"


def load_vocabularies(paths: Sequence[str | Path]) -> dict[str, Vocabulary]:
    """Vocabulary files (``Vocabulary.save``) by their encoder name."""
    out = {}
    for path in paths:
        vocabulary = Vocabulary.load(path)
        out[vocabulary.encoder] = vocabulary
    return out
