"""``sumchain model show|history|diff|revert`` and ``export|import|replay|rewind|fork`` on a
real data directory: what they print and write, and one clear line (exit 2) for every
bad input, with nothing overwritten."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from chain.config import ChainConfig
from node.cli import EXIT_USAGE, main
from node.provider import InProcessNode
from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE

GOOD, BAD = 6, 3  # samples added with true labels, then with flipped labels
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A stopped node's data directory holding a trained (then corrupted) trainer."""
    root = tmp_path_factory.mktemp("model-cli")
    dataset = load_default("sparse-binary")
    train, test = dataset.split(0.3, seed=1)
    with open(root / "test.jsonl", "w") as out:
        for x, y in zip(test.samples[:200], test.labels[:200], strict=True):
            out.write(json.dumps({"data": list(x), "label": int(y)}) + "\n")
    node = InProcessNode.create(config=ChainConfig(genesis_timestamp=1_700_000_000), data_dir=root / "data")
    try:
        framework = deploy_framework(
            node.w3,
            "SparsePerceptron",
            "Points",
            params={"num_features": 64, "learning_rate": SCALE},
        )
        deployed = node.w3.eth.block_number
        for index in range(GOOD + BAD):
            label = int(train.labels[index])
            framework.add_data(
                list(train.samples[index]),
                label if index < GOOD else 1 - label,
                node.w3.eth.accounts[1],
            )
        head = node.w3.eth.block_number
        states = {n: framework.read_model(block=n) for n in range(framework.deployed_block, head + 1)}
    finally:
        node.close()
    return {
        "root": root,
        "data": root / "data",
        "trainer": framework.address,
        "model": framework.model.address,
        "deployed": deployed,
        "head": head,
        "states": states,
        "test": root / "test.jsonl",
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy_of(devnet: dict, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(devnet["data"], target)
    return target


def test_show_json_gives_every_parameter_at_the_block(devnet: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    block = devnet["deployed"] + 3
    code, out, _ = run(
        capsys,
        "model",
        "show",
        devnet["trainer"],
        "--block",
        str(block),
        "--datadir",
        str(devnet["data"]),
        "--json",
    )
    assert code == 0
    assert json.loads(out) == devnet["states"][block]


def test_show_refuses_a_block_beyond_the_head(devnet: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys,
        "model",
        "show",
        devnet["trainer"],
        "--block",
        str(devnet["head"] + 1),
        "--datadir",
        str(devnet["data"]),
    )
    assert code == EXIT_USAGE and out == ""
    assert err.strip() == (
        f"sumchain model: error: block {devnet['head'] + 1} is beyond the head (block {devnet['head']})"
    )


@pytest.mark.parametrize(
    "who, message",
    [
        ("0x00000000000000000000000000000000000000aa", "no contract at"),
        ("model", "is not a CollaborativeTrainer"),
        ("nonsense", "not an address"),
    ],
)
def test_show_refuses_an_address_with_no_trainer(devnet: dict, capsys, who: str, message: str) -> None:  # type: ignore[no-untyped-def]
    address = devnet["model"] if who == "model" else who
    code, _, err = run(capsys, "model", "show", address, "--datadir", str(devnet["data"]))
    assert code == EXIT_USAGE and message in err and len(err.strip().splitlines()) == 1


def test_show_refuses_a_directory_that_is_not_a_chain(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "model", "show", devnet["trainer"], "--datadir", str(tmp_path))
    assert code == EXIT_USAGE and "not a sumchain data directory" in err
    assert list(tmp_path.iterdir()) == []


def test_history_writes_table_csv_and_plot_and_names_the_best(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from vm_contracts.versions import accuracy, load_test_set

    code, out, _ = run(
        capsys,
        "model",
        "history",
        devnet["trainer"],
        "--datadir",
        str(devnet["data"]),
        "--test-set",
        str(devnet["test"]),
        "--best",
        "--csv",
        str(tmp_path / "h.csv"),
        "--plot",
        str(tmp_path / "h.png"),
    )
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "h.csv")))
    assert rows[0]["kind"] == "deployed"
    test_set = load_test_set(devnet["test"])
    for row in rows:
        assert float(row["accuracy"]) == pytest.approx(
            accuracy(devnet["states"][int(row["block"])], test_set), abs=1e-6
        )
    best = max(rows, key=lambda r: (float(r["accuracy"]), -int(r["block"])))
    assert f"best: block {best['block']} " in out
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG_MAGIC


def test_history_best_needs_a_test_set(devnet: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(
        capsys, "model", "history", devnet["trainer"], "--datadir", str(devnet["data"]), "--best"
    )
    assert code == EXIT_USAGE and "--best needs --test-set" in err


def test_diff_lists_the_changed_parameters_and_by_how_much(devnet: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    a, b = devnet["deployed"], devnet["head"]
    code, out, _ = run(
        capsys,
        "model",
        "diff",
        devnet["trainer"],
        "--from-block",
        str(a),
        "--to-block",
        str(b),
        "--datadir",
        str(devnet["data"]),
        "--json",
    )
    assert code == 0
    changes = {c["parameter"]: c for c in json.loads(out)}
    before, after = devnet["states"][a]["weights"], devnet["states"][b]["weights"]
    deltas = [abs(y - x) for x, y in zip(before, after, strict=True) if x != y]
    assert changes["weights"]["changed"] == len(deltas)
    assert changes["weights"]["max_abs_delta"] == max(deltas)
    assert changes["weights"]["l1_delta"] == sum(deltas)
    code, out, _ = run(
        capsys,
        "model",
        "diff",
        devnet["trainer"],
        "--from-block",
        str(b),
        "--to-block",
        str(b),
        "--datadir",
        str(devnet["data"]),
    )
    assert code == 0 and "no parameter changed" in out


def test_revert_points_the_trainer_at_a_copy_of_the_old_model(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = copy_of(devnet, tmp_path)
    target = devnet["deployed"] + GOOD
    code, out, _ = run(
        capsys,
        "model",
        "revert",
        devnet["trainer"],
        "--block",
        str(target),
        "--datadir",
        str(data),
    )
    assert code == 0 and f"a copy of the model at block {target}" in out
    code, out, _ = run(capsys, "model", "show", devnet["trainer"], "--datadir", str(data), "--json")
    now = json.loads(out)
    old = devnet["states"][target]
    assert now["address"] != old["address"] and now["block"] > devnet["head"]
    assert {k: now[k] for k in ("weights", "intercept", "learning_rate", "num_features")} == {
        k: old[k] for k in ("weights", "intercept", "learning_rate", "num_features")
    }


def test_revert_by_a_non_owner_is_refused(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = copy_of(devnet, tmp_path)
    stranger = ChainConfig().dev_accounts[5][0]
    code, _, err = run(
        capsys,
        "model",
        "revert",
        devnet["trainer"],
        "--block",
        "1",
        "--from",
        stranger,
        "--datadir",
        str(data),
    )
    assert code == EXIT_USAGE and "only the trainer's owner" in err


def test_export_replay_import_round_trip_and_refusals(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "chain.rlp"
    code, out, _ = run(capsys, "export", str(export), "--datadir", str(devnet["data"]))
    assert code == 0 and f"exported {devnet['head']} blocks" in out
    original = export.read_bytes()
    code, _, err = run(capsys, "export", str(export), "--datadir", str(devnet["data"]))
    assert code == EXIT_USAGE and "exists" in err and export.read_bytes() == original

    code, out, _ = run(capsys, "replay", str(export), "--to-block", str(devnet["deployed"]), "--quiet")
    assert code == 0 and f"head {devnet['deployed']}" in out

    code, out, _ = run(capsys, "import", str(export), "--datadir", str(tmp_path / "imported"))
    assert code == 0 and f"head {devnet['head']}" in out
    code, _, err = run(capsys, "import", str(export), "--datadir", str(tmp_path / "imported"))
    assert code == EXIT_USAGE and "not empty" in err

    export.write_bytes(original[: len(original) - 7])
    code, _, err = run(capsys, "replay", str(export), "--quiet")
    assert code == EXIT_USAGE and "truncated export at byte" in err
    assert len(err.strip().splitlines()) == 1


def test_rewind_and_fork_from_the_command_line(devnet: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = copy_of(devnet, tmp_path)
    back_to = devnet["deployed"] + 2
    code, out, _ = run(capsys, "rewind", str(back_to), "--datadir", str(data))
    assert code == 0 and f"to block {back_to}" in out
    code, _, err = run(capsys, "rewind", str(devnet["head"] + 10), "--datadir", str(data))
    assert code == EXIT_USAGE and "beyond the head" in err

    code, out, _ = run(
        capsys,
        "fork",
        "--datadir",
        str(devnet["data"]),
        "--block",
        str(back_to),
        "--new-datadir",
        str(tmp_path / "fork"),
    )
    assert code == 0
    code, out, _ = run(
        capsys, "model", "show", devnet["trainer"], "--datadir", str(tmp_path / "fork"), "--json"
    )
    forked = json.loads(out)
    assert forked["weights"] == devnet["states"][back_to]["weights"] and forked["block"] == 0

    (tmp_path / "plain").mkdir()
    code, _, err = run(
        capsys,
        "fork",
        "--datadir",
        str(tmp_path / "plain"),
        "--block",
        "1",
        "--new-datadir",
        str(tmp_path / "fork2"),
    )
    assert code == EXIT_USAGE and "not a sumchain data directory" in err
    assert not (tmp_path / "fork2").exists()
