"""The dashboard driven in headless Chromium against real nodes: a sumchain devnet with
``--ui``, and anvil (no archive) behind ``sumchain ui``. Each page's screenshot is
written to docs/screenshots/."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.node.ui.conftest import GOOD_SAMPLES, REPO, SCREENSHOTS
from vm_contracts.datasets import load_imdb
from vm_contracts.encoding import Vocabulary
from vm_contracts.versions import TestSet, accuracy, attach_trainer, load_test_set, model_versions

pytestmark = pytest.mark.xdist_group("dashboard-browser")

WAIT_MS = 60_000  # Playwright waits for a page state at most this long
REFUND_WAIT_S = 86_400 + 60  # Stakeable's default refund wait, and a minute
FLIPPED_MAX = 14  # label-flipped samples added at most
FIXES_MAX = 6  # honest samples added at most to make the model disagree with a bad one
IMDB_SAMPLE = REPO / "tests" / "data" / "imdb-sample"
IMDB_REVIEWS = 20  # reviews in the aclImdb-shaped folder a test makes


def page_for(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_model(page: Any, name: str) -> None:
    page.goto(page.url.split("#")[0] + "#/")
    page.get_by_role("link", name=name).click()
    page.wait_for_selector("#model-name")


def head_number(page: Any) -> int:
    return int(page.locator("#head").get_attribute("data-number") or -1)


def test_models_page_lists_both_trainers_then_opens_one(browser: Any, sumchain_devnet: dict) -> None:
    page = page_for(browser, sumchain_devnet["ui"])
    table = page.locator("#models")
    table.wait_for()
    assert table.locator("tr").count() == 3  # header + two trainers
    assert sumchain_devnet["reviews"].address in table.inner_text()
    shot(page, "models")
    open_model(page, "odd digits")
    assert "SparsePerceptron" in page.locator("#model-name").inner_text()
    assert page.locator("#no-archive").count() == 0
    digits = sumchain_devnet["digits"]
    updates = model_versions(digits, int(sumchain_devnet["w3"].eth.block_number))[1:]
    assert page.locator("#versions tr").count() == 1 + len(updates)  # each update, with gas
    gas = page.locator("#versions tr").nth(2).locator("td").nth(4).inner_text()
    assert int(gas) > 21_000
    page.close()


def test_predict_a_text_at_the_head_and_at_an_earlier_block(browser: Any, sumchain_devnet: dict) -> None:
    reviews = sumchain_devnet["reviews"]
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{reviews.address}/predict")
    page.fill("#text", "what a great and wonderful film")
    page.click("#predict-form button")
    page.wait_for_selector("#prediction-at:has-text('at block')")
    assert page.locator("#prediction").inner_text() == "1"
    vocabulary_words = json.loads(sumchain_devnet["vocabulary"].read_text())["words"]
    data = sorted({vocabulary_words.index(w) for w in ("great", "wonderful", "film")})
    assert reviews.predict(data) == 1
    shot(page, "predict")
    page.fill("#block", "0")
    page.click("#predict-form button")
    page.wait_for_selector("#error:has-text('deployed later')")  # no trainer at genesis
    page.close()


def test_add_a_sample_see_its_block_and_contribution_then_refund_it(
    browser: Any, sumchain_devnet: dict
) -> None:
    reviews, w3 = sumchain_devnet["reviews"], sumchain_devnet["w3"]
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{reviews.address}/add")
    page.wait_for_selector("#deposit")
    assert "ETH" in page.locator("#deposit").inner_text()
    page.fill("#text", "brilliant great acting")
    page.fill("#label", "1")
    page.select_option("#account", w3.eth.accounts[3])
    page.click("#send")
    page.wait_for_selector("#receipt-block")
    block = int(page.locator("#receipt-block").inner_text())
    assert int(page.locator("#receipt-gas").inner_text()) > 21_000
    page.wait_for_function(f"Number(document.querySelector('#head').dataset.number) >= {block}")
    page.wait_for_function("dashboard.live === 'websocket'")  # blocks arrive by newHeads
    shot(page, "add-data")
    page.click("#nav-contributions")
    row = page.locator(f"#contributions tr:has(td[title='{w3.eth.accounts[3]}'])")
    row.wait_for()
    assert "waiting" in row.inner_text()
    shot(page, "contributions")
    w3.provider.make_request("evm_increaseTime", [REFUND_WAIT_S])
    w3.provider.make_request("evm_mine", [])
    row.locator("button.refund").wait_for()  # the new block arrived: refundable now
    row.locator("button.refund").click()
    page.wait_for_selector("#notice:has-text('refund mined')")
    row = page.locator(f"#contributions tr:has(td[title='{w3.eth.accounts[3]}'])")
    row.locator(".tag:has-text('refunded')").wait_for()
    assert reviews.contributions()[-1].refunded
    page.close()


def test_flipped_samples_lower_the_chart_and_a_revert_from_the_chart_recovers(
    browser: Any, sumchain_devnet: dict
) -> None:
    digits, w3, train = sumchain_devnet["digits"], sumchain_devnet["w3"], sumchain_devnet["train"]
    test_set = load_test_set(sumchain_devnet["test_set"])
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{digits.address}")
    page.fill("#test-set", str(sumchain_devnet["test_set"]))
    page.click("#score")
    page.wait_for_selector("#chart canvas")
    best = max(float(a) for a in page.evaluate("dashboard.accuracy.versions.map(v => v.accuracy)"))
    for index in range(GOOD_SAMPLES, GOOD_SAMPLES + FLIPPED_MAX):
        digits.add_data(list(train.samples[index]), 1 - int(train.labels[index]), w3.eth.accounts[1])
        if accuracy(digits.read_model(), test_set) < best - 0.05:
            break
    head = int(w3.eth.block_number)
    page.wait_for_function(f"Number(document.querySelector('#head').dataset.number) >= {head}")
    page.wait_for_function(f"dashboard.accuracy && dashboard.accuracy.versions.at(-1).block >= {head}")
    versions = page.evaluate("dashboard.accuracy.versions")
    target = max(versions, key=lambda v: (v["accuracy"], -v["block"]))
    assert target["accuracy"] >= best
    assert versions[-1]["accuracy"] < target["accuracy"] - 0.05  # the chart fell
    chart = "dashboard.chart.valToPos"
    x, y = page.evaluate(f"[{chart}({target['block']}, 'x'), {chart}({target['accuracy']}, 'y')]")
    page.locator("#chart .u-over").click(position={"x": x, "y": y})
    assert page.locator("#revert-block").input_value() == str(target["block"])
    page.fill("#diff-from", str(target["block"]))
    page.fill("#diff-to", str(versions[-1]["block"]))
    page.click("#diff-form button")
    page.locator("#diff table").wait_for()
    assert "weights" in page.locator("#diff").inner_text()  # the flipped samples moved weights
    shot(page, "model")
    page.click("#revert")
    page.wait_for_selector("#notice:has-text('reverted'), #error:visible")
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    page.wait_for_function("dashboard.accuracy && dashboard.accuracy.versions.at(-1).kind === 'replaced'")
    recovered = page.evaluate("dashboard.accuracy.versions.at(-1)")
    assert recovered["accuracy"] == target["accuracy"]  # back at the best version's level
    again = attach_trainer(w3, digits.address)
    assert accuracy(again.read_model(), test_set) == target["accuracy"]
    shot(page, "model-reverted")
    page.close()


def test_a_malformed_test_set_and_a_down_node_each_show_one_message(
    browser: Any, sumchain_devnet: dict
) -> None:
    digits = sumchain_devnet["digits"]
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{digits.address}")
    page.fill("#test-set", str(sumchain_devnet["bad_test_set"]))
    page.click("#score")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert f"{sumchain_devnet['bad_test_set']}:2: expected" in error.inner_text()
    page.goto(sumchain_devnet["ui"] + "#/model/0x00000000000000000000000000000000000000aa")
    page.wait_for_selector("#error:has-text('no contract at')")
    shot(page, "error")
    page.close()


def test_a_state_changing_request_from_another_origin_is_refused(sumchain_devnet: dict) -> None:
    reviews = sumchain_devnet["reviews"]
    request = urllib.request.Request(
        sumchain_devnet["ui"] + f"api/models/{reviews.address}/add",
        data=json.dumps({"indices": "1 2", "label": 1}).encode(),
        headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
        method="POST",
    )
    before = len(reviews.contributions())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    assert len(reviews.contributions()) == before


def test_the_same_flow_on_anvil_marks_history_unavailable(browser: Any, anvil_node: dict) -> None:
    reviews, w3 = anvil_node["reviews"], anvil_node["w3"]
    page = page_for(browser, anvil_node["ui"])
    page.locator("#models").wait_for()
    assert page.locator("#models tr").count() == 3
    assert "no archive" in page.locator("#archive").inner_text()
    open_model(page, "odd digits")
    page.locator("#no-archive").wait_for()
    page.fill("#test-set", str(anvil_node["test_set"]))
    page.click("#score")
    page.wait_for_selector("#error:has-text('keeps no archive')")
    shot(page, "model-anvil")
    page.goto(anvil_node["ui"] + f"#/model/{reviews.address}/predict")
    page.fill("#text", "great wonderful film")
    page.click("#predict-form button")
    page.wait_for_selector("#prediction-at:has-text('at block')")
    assert page.locator("#prediction").inner_text() == "1"
    page.goto(anvil_node["ui"] + f"#/model/{reviews.address}/add")
    page.fill("#text", "brilliant great acting")
    page.select_option("#account", w3.eth.accounts[3])
    page.click("#send")
    page.wait_for_selector("#receipt-block")
    page.click("#nav-contributions")
    row = page.locator(f"#contributions tr:has(td[title='{w3.eth.accounts[3]}'])")
    row.wait_for()
    w3.provider.make_request("evm_increaseTime", [REFUND_WAIT_S])
    w3.provider.make_request("evm_mine", [])
    row.locator("button.refund").wait_for()
    row.locator("button.refund").click()
    page.wait_for_selector("#notice:has-text('refund mined')")
    assert reviews.contributions()[-1].refunded
    page.close()


def test_a_reverted_transaction_shows_its_reason(browser: Any, sumchain_devnet: dict) -> None:
    reviews = sumchain_devnet["reviews"]
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{reviews.address}/add")
    page.wait_for_selector("#deposit")
    page.fill("#indices", "1 2 3")
    page.fill("#label", "7")  # a binary model has no class 7
    page.click("#send")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "reverted" in error.inner_text() and "7" in error.inner_text()
    page.close()


def test_add_data_signed_by_the_browser_wallet(browser: Any, sumchain_devnet: dict) -> None:
    """An EIP-1193 provider in the page (as a wallet injects one) signs and sends; here the
    wallet is this test, which forwards to the node, which signs for its dev account."""
    reviews, w3 = sumchain_devnet["reviews"], sumchain_devnet["w3"]
    wallet_account = w3.eth.accounts[6]
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)

    def wallet(method: str, params: list[Any]) -> Any:  # the wallet, outside the page
        if method == "eth_requestAccounts":
            return [wallet_account]
        answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in answer:
            raise RuntimeError(answer["error"]["message"])
        return answer["result"]

    page.expose_function("walletRequest", wallet)
    page.add_init_script(
        "window.ethereum = { request: ({ method, params }) => walletRequest(method, params || []) };"
    )
    page.goto(sumchain_devnet["ui"] + f"#/model/{reviews.address}/add")
    page.wait_for_selector("#deposit")
    page.fill("#text", "wonderful brilliant story")
    page.select_option("#account", "wallet")
    page.click("#send")
    page.wait_for_selector("#receipt-block")
    assert reviews.contributions()[-1].contributor == wallet_account
    page.close()


def test_a_down_node_and_a_wrong_chain_each_show_one_message(browser: Any, sumchain_devnet: dict) -> None:
    from bench.nodes import free_port, start_sumchain
    from tests.node.ui.conftest import REPO

    servers = [
        start_sumchain("ui", *extra, cwd=REPO)
        for extra in (
            ["--rpc", f"http://127.0.0.1:{free_port()}/"],
            ["--rpc", sumchain_devnet["rpc"], "--chain-id", "1"],
        )
    ]
    dead, wrong = (server.url for server in servers)
    try:
        page = page_for(browser, dead)
        page.wait_for_selector("#error:has-text('cannot reach the node')")
        assert page.locator("#error").inner_text().count("\n") == 0
        page.goto(wrong)
        page.wait_for_selector("#error:has-text('wrong chain')")
        assert "is chain 31337" in page.locator("#error").inner_text()
        page.close()
        assert all(server.process.poll() is None for server in servers)  # both kept serving
    finally:
        for server in servers:
            server.stop()


def test_a_second_account_reports_a_sample_the_model_disagrees_with_and_sees_it_claimed(
    browser: Any, sumchain_devnet: dict
) -> None:
    reviews, w3 = sumchain_devnet["reviews"], sumchain_devnet["w3"]
    vocabulary = Vocabulary.load(sumchain_devnet["vocabulary"])
    bad_contributor, reporter, honest = w3.eth.accounts[7], w3.eth.accounts[8], w3.eth.accounts[9]
    bad_text = vocabulary.encode("awful terrible boring dull plot")
    reviews.add_data(vocabulary.encode("great wonderful brilliant story"), 1, reporter)  # to refund
    reviews.add_data(bad_text, 1, bad_contributor)  # a negative review labelled positive
    for _ in range(FIXES_MAX):  # honest samples until the model disagrees with the bad one
        if reviews.predict(bad_text) == 0:
            break
        reviews.add_data(bad_text, 0, honest)
    assert reviews.predict(bad_text) == 0
    w3.provider.make_request("evm_increaseTime", [REFUND_WAIT_S])
    w3.provider.make_request("evm_mine", [])
    own = [c for c in reviews.contributions() if c.contributor == reporter and not c.refunded]
    reviews.refund(own[-1], reporter)  # a refunded sample: the reporter counts as good
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{reviews.address}/contributions")
    page.locator("#viewer").wait_for()
    page.select_option("#viewer", reporter)
    page.wait_for_function(f"document.querySelector('#viewer').value === '{reporter}'")
    row = page.locator(f"#contributions tr:has(td[title='{bad_contributor}'])")
    row.locator("button.report").wait_for()
    assert "reportable" in row.inner_text()
    row.locator("button.report").click()
    page.wait_for_selector("#notice:has-text('report mined')")
    row = page.locator(f"#contributions tr:has(td[title='{bad_contributor}'])")
    row.locator(".tag:has-text('reported')").wait_for()
    assert row.locator("button.report").count() == 0  # claimed: no second report
    bad = [c for c in reviews.contributions() if c.contributor == bad_contributor]
    assert reporter in bad[-1].taken and bad[-1].taken[reporter] > 0
    shot(page, "contributions-reported")
    page.close()


def test_csv_and_aclimdb_test_sets_draw_the_chart_and_a_malformed_one_says_why(
    browser: Any, sumchain_devnet: dict, tmp_path: Path
) -> None:
    digits, reviews = sumchain_devnet["digits"], sumchain_devnet["reviews"]
    jsonl = load_test_set(sumchain_devnet["test_set"])
    csv_path = tmp_path / "digits-test.csv"
    csv_path.write_text(
        "label,features\n"
        + "".join(f"{y},{' '.join(map(str, x))}\n" for x, y in zip(jsonl.data, jsonl.labels, strict=True))
    )
    page = page_for(browser, sumchain_devnet["ui"] + f"#/model/{digits.address}")
    page.fill("#test-set", str(csv_path))
    page.click("#score")
    page.wait_for_selector(f"#score-status:has-text('on {len(jsonl.labels)} samples')")
    assert page.evaluate("dashboard.accuracy.versions.at(-1).accuracy") == accuracy(
        digits.read_model(), jsonl
    )

    folder = imdb_folder(tmp_path / "aclImdb", IMDB_REVIEWS)
    vocabulary = Vocabulary.load(sumchain_devnet["vocabulary"])
    reviews_set = load_imdb(folder, "test")
    expected = TestSet(
        folder, vocabulary.encode_many(reviews_set.samples), [int(y) for y in reviews_set.labels]
    )
    page.goto(sumchain_devnet["ui"] + f"#/model/{reviews.address}")
    page.wait_for_selector("#model-name")
    page.fill("#test-set", str(folder))
    page.click("#score")
    page.wait_for_selector(f"#score-status:has-text('on {IMDB_REVIEWS} samples')")
    head_accuracy = page.evaluate("dashboard.accuracy.versions.at(-1).accuracy")
    assert head_accuracy == accuracy(reviews.read_model(), expected)

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,3 4 5\n0,7 8\n1,three 4\n")
    not_imdb = tmp_path / "not-imdb"
    (not_imdb / "test").mkdir(parents=True)
    for path, message in ((bad_csv, f"{bad_csv}:3: expected label,feature indices"), (not_imdb, "pos")):
        page.fill("#test-set", str(path))
        page.click("#score")
        error = page.locator("#error")
        error.wait_for(state="visible")
        page.wait_for_function(
            f"document.querySelector('#error').textContent.includes({json.dumps(str(path))})"
        )
        text = error.inner_text()
        assert message in text and "\n" not in text, text  # one line, naming the file
        assert "Traceback" not in text
    page.close()


def imdb_folder(root: Path, count: int) -> Path:
    """An ``aclImdb``-shaped folder (test/pos, test/neg, <id>_<rating>.txt) holding the
    first ``count`` test reviews of the committed sample (tests/data/imdb-sample)."""
    with gzip.open(IMDB_SAMPLE / "test.jsonl.gz", "rt") as stream:
        rows = [json.loads(line) for line in stream]
    picked = [r for r in rows if r["label"] == 1][: count // 2] + [r for r in rows if r["label"] == 0][
        : count // 2
    ]
    for row in picked:
        folder = root / "test" / ("pos" if row["label"] == 1 else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{row['id']}.txt").write_text(row["text"])
    return root
