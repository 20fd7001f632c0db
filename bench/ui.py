"""How fast the dashboard's accuracy chart comes up on a long history.

Builds, in this process on an LMDB data directory, a chain whose trainer holds
``--contributions`` samples (10,000 by default) added in ``--versions`` blocks (1,000),
every block changing the model; then serves it with ``sumchain devnet --datadir DIR --ui``
in a subprocess and drives the real dashboard in headless Chromium (Debian's
/usr/bin/chromium, through Playwright), timing:

* the model page (summary, versions and gas of the newest updates, from events): first
  open (the dashboard reads the trainer's whole history, :mod:`node.ui.history`) and
  opened again (only the blocks since);
* the accuracy chart: from the click on "draw" to the chart on screen (the server replays
  every contribution on the model's twin and scores each of the 1,000 versions), and the
  part of that spent in the browser drawing it (uPlot);
* the same click on a first visit to a second dashboard (``sumchain ui --rpc``, nothing
  read before): the page is opened and "draw" clicked as soon as it shows, so the
  history, the archive reads the replay starts from and the scoring all count;
* a new block: one more ``addData`` sent, until the chart on the page shows its version
  (the dashboard reads and scores only the new block);
* side by side, the CLI doing the same reads and scoring over the same node
  (``sumchain model history --rpc URL --test-set FILE --json``), the peer this view has:
  no other node keeps the history the chart draws.

Run: ``python -m bench.ui [--contributions 10000 --versions 1000]``; results are printed
and written to ``bench/results/ui/`` (Markdown, with the command and the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.nodes import start_devnet, start_sumchain
from bench.provenance import command_line, machine_line

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FEATURES = 1000  # the sparse model's feature space
WORDS = 20  # feature indices per sample
TEST_SAMPLES = 200  # samples in the test set the chart scores
SEED = 7
TIMEOUT_MS = 600_000  # Playwright waits this long at most
PEER_VERSIONS = 50  # versions the CLI peer scores by archive reads (about 2 s each)
DEVNET_READY_S = 120.0  # seconds the devnet may take to open a long chain and serve the dashboard


def build_chain(data_dir: Path, contributions: int, versions: int) -> dict[str, Any]:
    """A trainer with ``contributions`` samples in ``versions`` blocks; each block holds a
    sample the model gets wrong (the same words under both labels), so each is a version."""
    from web3.types import RPCEndpoint

    from chain.chain import Chain
    from chain.config import ChainConfig
    from node.provider import SumchainProvider, poa_web3
    from vm_contracts.client import deploy_framework
    from vm_contracts.encoding import SCALE

    rng = random.Random(SEED)
    # no fsync per block: this builds a test chain quickly; the devnet reopens it after close
    chain = Chain.open(ChainConfig(genesis_timestamp=1_700_000_000), data_dir=data_dir, sync=False)
    provider = SumchainProvider(chain)
    w3 = poa_web3(provider)
    framework = deploy_framework(
        w3,
        "SparsePerceptron",
        "Points",
        params={"num_features": FEATURES, "learning_rate": SCALE},
        name="bench: 10,000 contributions",
    )
    provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    accounts = w3.eth.accounts
    per_block = max(1, contributions // versions)
    started = time.perf_counter()
    sent = 0
    mined: list[int] = []
    for _ in range(versions):
        words = sorted(rng.sample(range(FEATURES), WORDS))
        for slot in range(per_block):
            if sent == contributions:
                break
            call = framework.trainer.functions.addData(words, slot % 2)
            call.transact({"from": accounts[slot % len(accounts)], "gas": 1_000_000})
            sent += 1
        provider.make_request(RPCEndpoint("evm_mine"), [])
        mined.append(int(w3.eth.block_number))
    build_seconds = time.perf_counter() - started
    head = int(w3.eth.block_number)
    trainer = framework.address
    provider.dispatcher.run_sync(chain.close)
    provider.dispatcher.close()
    test = [
        {"data": sorted(rng.sample(range(FEATURES), WORDS)), "label": rng.randrange(2)}
        for _ in range(TEST_SAMPLES)
    ]
    return {
        "trainer": trainer,
        "head": head,
        "sent": sent,
        "build_seconds": build_seconds,
        "test": test,
        "mined": mined,
    }


def measure(
    url: str, cold_url: str, rpc: str, trainer: str, test_path: Path, shot_path: Path
) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        started = time.perf_counter()
        page.goto(url + f"#/model/{trainer}")
        page.wait_for_selector("#model-name")
        out["model_page_s"] = time.perf_counter() - started
        started = time.perf_counter()
        page.reload()
        page.wait_for_selector("#model-name")
        out["model_page_again_s"] = time.perf_counter() - started
        page.fill("#test-set", str(test_path))
        started = time.perf_counter()
        page.click("#score")
        page.wait_for_function("document.querySelector('#chart canvas') !== null")
        out["chart_total_s"] = time.perf_counter() - started
        out["chart_draw_in_browser_s"] = page.evaluate("dashboard.chartDrawnMs") / 1000
        out["chart_points"] = float(page.evaluate("dashboard.accuracy.versions.length"))
        started = time.perf_counter()
        page.evaluate("dashboard.chart.setSize({width: 1000, height: 320})")  # a redraw
        out["chart_redraw_s"] = time.perf_counter() - started
        page.screenshot(path=str(shot_path))
        last = int(page.evaluate("dashboard.accuracy.versions.at(-1).block"))
        started = time.perf_counter()
        send_update(rpc, trainer)
        page.wait_for_function(f"dashboard.accuracy.versions.at(-1).block > {last}")
        out["new_block_s"] = time.perf_counter() - started
        cold = browser.new_page(viewport={"width": 1200, "height": 900})
        cold.set_default_timeout(TIMEOUT_MS)
        started = time.perf_counter()
        cold.goto(cold_url + f"#/model/{trainer}")
        cold.wait_for_selector("#model-name")
        out["cold_model_page_s"] = time.perf_counter() - started
        cold.fill("#test-set", str(test_path))
        started = time.perf_counter()
        cold.click("#score")
        cold.wait_for_function("document.querySelector('#chart canvas') !== null")
        out["cold_chart_s"] = time.perf_counter() - started
        browser.close()
    return out


def send_update(rpc: str, trainer: str) -> None:
    """One more ``addData`` the model gets wrong (a new version), mined at once."""
    from web3 import HTTPProvider, Web3
    from web3.middleware import ExtraDataToPOAMiddleware

    from vm_contracts.versions import attach_trainer

    w3 = Web3(HTTPProvider(rpc))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    framework = attach_trainer(w3, trainer)
    words = list(range(WORDS))
    label = 1 - framework.predict(words)
    framework.add_data(words, label, w3.eth.accounts[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contributions", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument(
        "--peer-versions",
        type=int,
        default=PEER_VERSIONS,
        help="versions the CLI peer scores (it reads each from the archive: slow)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ui")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep the built chain in DIR, and use the one there if a run built it before",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.reuse or Path(tmp)
        saved = workdir / "built.json"
        if saved.exists():
            built = json.loads(saved.read_text())
        else:
            built = build_chain(workdir / "data", args.contributions, args.versions)
            saved.write_text(json.dumps(built))
        test_path = workdir / "test.jsonl"
        test_path.write_text("".join(json.dumps(row) + "\n" for row in built["test"]))
        print(
            f"chain: {built['sent']} contributions in {built['head']} blocks, "
            f"built in {built['build_seconds']:.1f} s",
            file=sys.stderr,
        )
        load_before = os.getloadavg()
        devnet = start_devnet(
            "--datadir", str(workdir / "data"), "--ui", cwd=REPO, ready_path="ui/", ready_s=DEVNET_READY_S
        )
        rpc = devnet.url
        cold_ui = None
        try:
            cold_ui = start_sumchain("ui", "--rpc", rpc, cwd=REPO)
            started = time.perf_counter()
            history = subprocess.run(
                [sys.executable, "-m", "node.cli", "model", "history", built["trainer"]]
                + ["--rpc", rpc, "--test-set", str(test_path), "--json"]
                + ["--to-block", str(built["mined"][min(args.peer_versions, len(built["mined"])) - 1])],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            cli_seconds = time.perf_counter() - started
            cli_versions = len(json.loads(history.stdout))
            figures = measure(
                rpc + "ui/", cold_ui.url, rpc, built["trainer"], test_path, args.out / "chart.png"
            )
            load_after = os.getloadavg()
        finally:
            if cold_ui is not None:
                cold_ui.stop()
            devnet.stop()
    command = command_line("python -m bench.ui", argv if argv is not None else sys.argv[1:])
    lines = [
        "# The dashboard's accuracy chart on a long history",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine_line()}, Chromium {CHROMIUM}  ",
        f"Load average (1, 5, 15 min) before the run: {', '.join(f'{x:.1f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.1f}' for x in load_after)} (2 cores, shared)  ",
        f"Chain: {built['sent']:,} contributions in {built['head']:,} blocks (built in-process in "
        f"{built['build_seconds']:.0f} s); {int(figures['chart_points']):,} versions on the chart; "
        f"test set {TEST_SAMPLES} samples, {FEATURES} features.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| model page, first open (reads the trainer's whole history; the newest 100 versions' gas) "
        f"| {figures['model_page_s']:.2f} |",
        f"| model page, opened again (history kept by the dashboard, new blocks only) "
        f"| {figures['model_page_again_s']:.2f} |",
        f"| **accuracy chart, click to drawn** (every contribution replayed, every version scored) | "
        f"**{figures['chart_total_s']:.2f}** |",
        f"| of which drawing in the browser (uPlot) | {figures['chart_draw_in_browser_s']:.3f} |",
        f"| redraw of the drawn chart (resize) | {figures['chart_redraw_s']:.3f} |",
        f"| a new block: `addData` sent until its version is on the chart | {figures['new_block_s']:.2f} |",
        f"| first visit to a second dashboard: model page shown | {figures['cold_model_page_s']:.2f} |",
        f"| first visit: accuracy chart, click (as soon as the page shows) to drawn | "
        f"{figures['cold_chart_s']:.2f} |",
        f"| peer: `sumchain model history --test-set --json --to-block N` over the same node, "
        f"the first {cli_versions:,} versions (one archive read per version; includes start-up) "
        f"| {cli_seconds:.2f} |",
        "",
        f"Per version: chart {figures['chart_total_s'] / figures['chart_points'] * 1000:.2f} ms, "
        f"CLI peer {cli_seconds / cli_versions * 1000:.1f} ms; ratio "
        f"{(cli_seconds / cli_versions) / (figures['chart_total_s'] / figures['chart_points']):.0f}x "
        "(the chart replays samples on the integer twin between archive reads; "
        "tests/vm_contracts/test_versions.py proves both give the same accuracies).",
    ]
    report = "\n".join(lines) + "\n"
    (args.out / "README.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
