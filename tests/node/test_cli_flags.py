"""The command line's shape: `--version`, a bare `sumchain`, examples at the end of every
`--help` (each one parses), one meaning per flag name with the old spellings as hidden
aliases that print a note, and a closed stdout (`sumchain ... | head`) ending quietly."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from node.cli import build_parser, main
from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS, REPO
from tests.node.test_cli import run_main

SUMCHAIN = [sys.executable, "-m", "node.cli"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def sumchain(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SUMCHAIN, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=ENV
    )


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser under ``parser`` (``path`` is its words after ``sumchain``)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


ALL_COMMANDS = [path for path, _ in commands(build_parser())]


def test_version_prints_the_distribution_version() -> None:
    from importlib.metadata import version

    done = sumchain("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sumchain {version('sumchain')}"


def test_bare_sumchain_prints_usage_and_exits_2() -> None:
    done = sumchain()
    assert done.returncode == 2
    assert (
        done.stderr.startswith("usage: sumchain") and "devnet" in done.stderr and "examples:" in done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "sumchain")
def test_every_help_ends_with_examples_that_parse(path: tuple[str, ...], capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    heading = text.rfind("\nexamples:\n")
    assert heading > 0, text
    examples = [line.strip() for line in text[heading + 1 :].splitlines()[1:] if line.strip()]
    assert examples, text
    for example in examples:
        words = shlex.split(example, comments=True)
        assert words[0] == "sumchain", example
        if "COMMAND" in words:
            continue  # the top-level "sumchain COMMAND --help" pointer
        assert tuple(words[1 : 1 + len(path)]) == path, example
        args = build_parser().parse_args(words[1:])  # exits 2 on an unknown flag
        assert callable(getattr(args, "func", None)), example
        assert "deprecated" not in capsys.readouterr().err, f"an example uses an old spelling: {example}"


def test_help_through_a_real_subprocess_ends_with_examples() -> None:
    done = sumchain("rewind", "--help")
    assert done.returncode == 0
    tail = done.stdout.rstrip().splitlines()
    assert "examples:" in tail[-4:] and tail[-1].strip().startswith("sumchain rewind")


# --- one name, one meaning ---------------------------------------------------------------


def flags_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


OLD_SPELLINGS = [  # command, old flag, new flag
    (("export",), "--first", "--from-block"),
    (("export",), "--last", "--to-block"),
    (("fork",), "--from", "--datadir"),
    (("fork",), "--to", "--new-datadir"),
    (("model", "diff"), "--from", "--from-block"),
    (("model", "diff"), "--to", "--to-block"),
    (("model", "revert"), "--to-block", "--block"),
    (("simulate", "imdb"), "--words", "--vocab-size"),
    (("simulate", "market"), "--vocab", "--vocab-size"),
    (("simulate-market",), "--vocab", "--vocab-size"),
]
PARSERS = dict(commands(build_parser()))


@pytest.mark.parametrize(
    ("path", "old", "new"), OLD_SPELLINGS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_old_spellings_are_hidden_aliases_of_the_new_names(path, old, new) -> None:
    flags = flags_of(PARSERS[path])
    assert flags[old].dest == flags[new].dest
    assert flags[old].help == argparse.SUPPRESS
    assert old not in PARSERS[path].format_help().replace(new, "")


def test_a_block_range_is_from_block_to_block_everywhere() -> None:
    for path, parser in PARSERS.items():
        for flag, action in flags_of(parser).items():
            if action.help == argparse.SUPPRESS:
                continue
            if flag == "--from":  # the one meaning left: the sending account
                assert action.metavar == "ADDRESS", path
            assert flag not in ("--to", "--first", "--last"), f"{' '.join(path)} still shows {flag}"
            if flag == "--words":
                assert path == ("bench", "gas"), f"--words is a sample's words, not {path}"


def test_an_old_spelling_still_works_and_prints_one_note(tmp_path, capsys) -> None:
    from node.assemble import assemble

    datadir = tmp_path / "chain"
    node = assemble(data_dir=datadir)
    node.producer.mine(3)
    node.close()
    code, stderr = run_main(
        capsys, "export", str(tmp_path / "old.rlp"), "--datadir", str(datadir), "--first", "2", "--last", "3"
    )
    assert code == 0, stderr
    notes = stderr.strip().splitlines()
    assert notes == [
        "sumchain export: note: --first is deprecated and goes in the next release; use --from-block",
        "sumchain export: note: --last is deprecated and goes in the next release; use --to-block",
    ]
    code, stderr = run_main(
        capsys,
        "export",
        str(tmp_path / "new.rlp"),
        "--datadir",
        str(datadir),
        "--from-block",
        "2",
        "--to-block",
        "3",
    )
    assert code == 0 and stderr == ""
    assert (tmp_path / "old.rlp").read_bytes() == (tmp_path / "new.rlp").read_bytes()


def test_fork_takes_the_new_and_the_old_directory_flags(tmp_path, capsys) -> None:
    from node.assemble import assemble

    datadir = tmp_path / "chain"
    node = assemble(data_dir=datadir)
    node.producer.mine(2)
    node.close()
    code, stderr = run_main(
        capsys, "fork", "--datadir", str(datadir), "--block", "1", "--new-datadir", str(tmp_path / "a")
    )
    assert code == 0 and stderr == "", stderr
    code, stderr = run_main(
        capsys, "fork", "--from", str(datadir), "--block", "1", "--to", str(tmp_path / "b")
    )
    assert code == 0, stderr
    assert stderr.count("deprecated") == 2
    code, stderr = run_main(capsys, "fork", "--datadir", str(datadir), "--block", "1")
    assert code == 2 and stderr.strip().endswith("required: --new-datadir")


# --- a closed stdout -----------------------------------------------------------------------


def test_output_into_a_closed_pipe_exits_quietly(tmp_path) -> None:
    from node.assemble import assemble

    datadir = tmp_path / "chain"
    node = assemble(data_dir=datadir)
    node.producer.mine(2)
    node.close()
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already gone
    try:
        done = subprocess.run(
            [*SUMCHAIN, "export", str(tmp_path / "chain.rlp"), "--datadir", str(datadir)],
            cwd=REPO,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=ENV,
        )
    finally:
        os.close(write)
    assert done.returncode == 141  # 128 + SIGPIPE, as a tool the closed pipe stopped
    assert done.stderr == "", done.stderr
    assert (tmp_path / "chain.rlp").is_file()


def test_devnet_piped_into_head_keeps_serving_and_stops_quietly() -> None:
    from bench.nodes import free_port

    port = free_port()
    process = subprocess.Popen(
        f"{shlex.join([*SUMCHAIN, 'devnet', '--port', str(port)])} | head -3",
        shell=True,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        for value in range(3):  # transaction lines after head has gone
            answer = requests.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_sendTransaction",
                    "params": [{"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(value + 1)}],
                },
                timeout=30,
            ).json()
            assert "result" in answer, answer
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert out.startswith("sumchain devnet"), out
    assert "BrokenPipe" not in err and "internal error" not in err and "Traceback" not in err, err
