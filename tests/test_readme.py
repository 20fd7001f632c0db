"""README.md runs as written: every command and snippet a user would paste is run here.

The fenced blocks tagged ``sh``, ``bash``, ``console`` (lines after ``$ ``) and ``python``
are run in order, in one empty temporary directory that plays the user's working
directory (``.venv`` there points at this checkout's venv, whose ``bin`` leads
``PATH``), as one walkthrough:

* A shell block made only of ``sumchain devnet`` lines starts each line as written,
  except that its port becomes 0 (a free one, read back from the banner) so that runs
  never collide with a node already on 8545. The first devnet with a ``--datadir`` is
  *the* devnet and keeps running; every other one answers one ``eth_chainId`` call and
  is stopped with SIGTERM. Later blocks reach the devnet on the port the README names:
  ``127.0.0.1:<README port>`` in their text is rewritten to the port it really got.
* The python blocks continue one session (the SDK snippet uses the ``w3`` of the
  web3.py snippet), so they run together, in order, as one script, at the place of the
  last of them.
* Every other shell block runs with ``bash -euo pipefail``: every command must succeed.
* A block right after ``<!-- readme: with the devnet stopped -->`` runs after the devnet
  was stopped (SIGTERM; it must exit cleanly), as the README tells the user to do.
* A block right after ``<!-- readme: not run (reason) -->`` is not run; the reason must
  be given. That list is kept short: long benchmarks, and commands that need the
  user's own IMDB download.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUN_LANGUAGES = ("sh", "bash", "console", "python")
NOT_RUN = re.compile(r"^<!-- readme: not run \((?P<reason>.+)\) -->$")
DEVNET_STOPPED = "<!-- readme: with the devnet stopped -->"
DEVNET_COMMAND = re.compile(r"^(\.venv/bin/)?sumchain devnet\b")
FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
BLOCK_TIMEOUT_S = 600  # seconds one block may take (the benchmarks' small runs take ~30 s)
READY_TIMEOUT_S = 60  # seconds a devnet may take to print its URL
STOP_TIMEOUT_S = 15  # seconds a devnet may take to exit after SIGTERM

pytestmark = pytest.mark.slow


@dataclass
class Block:
    """One fenced block of the README.

    Fields:
        language: the fence's info string ("sh", "python", "" for none).
        text: the block's lines, without the fences.
        line: 1-based line number of the opening fence.
        marker: the ``<!-- readme: ... -->`` line right before the fence, if any.
    """

    language: str
    text: str
    line: int
    marker: str | None

    @property
    def not_run_reason(self) -> str | None:
        found = NOT_RUN.match(self.marker or "")
        return found["reason"].strip() if found else None

    def commands(self) -> list[str]:
        """Shell command lines (for ``console``: the lines after ``$ ``), blanks dropped."""
        lines = self.text.splitlines()
        if self.language == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = lines[before].strip() if before >= 0 and lines[before].startswith("<!-- readme:") else None
        blocks.append(Block(opening["language"], "\n".join(lines[index + 1 : end]) + "\n", index + 1, marker))
        index = end + 1
    return blocks


# --- devnets ------------------------------------------------------------------------------


@dataclass
class RunningDevnet:
    process: subprocess.Popen[str]
    readme_port: int  # the port the README's command line means (8545 unless --port)
    port: int  # the port it listens on

    def rpc(self, method: str) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}", body, {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert "error" not in answer, answer
        return answer["result"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_devnet(line: str, cwd: Path, env: dict[str, str]) -> RunningDevnet:
    """Run a README devnet line as written, but on a free port (``--port 0``)."""
    argv = shlex.split(line, comments=True)
    readme_port = 8545
    if "--port" in argv:
        at = argv.index("--port") + 1
        readme_port = int(argv[at])
        argv[at] = "0"
    else:
        argv += ["--port", "0"]
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        output = process.stdout.readline()
        if not output:
            break
        seen.append(output)
        if output.startswith("Listening on "):
            port = int(output.split()[2].rsplit(":", 1)[1])
            return RunningDevnet(process, readme_port, port)
    process.kill()
    process.wait()
    raise AssertionError(f"`{line}` did not start:\n{''.join(seen)}")


# --- the walkthrough ----------------------------------------------------------------------


def _rewrite_ports(text: str, ports: dict[int, int]) -> str:
    for readme_port, port in ports.items():
        text = text.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
    return text


def _run(argv: list[str], block: Block, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert done.returncode == 0, (
        f"README.md line {block.line} ({block.language} block) failed with exit code "
        f"{done.returncode}:\n{block.text}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n"
        f"{done.stderr[-3000:]}"
    )


def test_every_block_is_run_or_says_why_not() -> None:
    blocks = readme_blocks(README.read_text())
    first = blocks[0]
    assert [c.split()[:2] for c in first.commands()] == [["make", "demo"], ["make", "test"]]
    for block in blocks:
        if block.marker is not None:
            assert block.marker == DEVNET_STOPPED or block.not_run_reason, (
                f"README.md line {block.line}: unknown marker {block.marker!r} "
                "(a not-run block must say why: <!-- readme: not run (reason) -->)"
            )
    assert sum(b.not_run_reason is not None for b in blocks) <= 3, "keep the not-run list short"
    assert sum(b.language in RUN_LANGUAGES and b.not_run_reason is None for b in blocks) >= 8


def test_readme_runs_as_written(tmp_path: Path) -> None:
    blocks = readme_blocks(README.read_text())
    venv_bin = Path(sys.executable).parent
    (tmp_path / ".venv").symlink_to(venv_bin.parent, target_is_directory=True)
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # the user's shell has no pytest-made path
    runnable = [b for b in blocks if b.language in RUN_LANGUAGES and b.not_run_reason is None]
    last_python = max(i for i, b in enumerate(runnable) if b.language == "python")
    python_session: list[str] = []
    devnet: RunningDevnet | None = None
    started: list[RunningDevnet] = []
    ports: dict[int, int] = {}
    try:
        for index, block in enumerate(runnable):
            if block.marker == DEVNET_STOPPED:
                assert devnet is not None, f"line {block.line}: no devnet was started before"
                assert devnet.stop() == 0, "the devnet must exit cleanly on SIGTERM"
            if block.language == "python":
                python_session.append(f"# README.md line {block.line}\n{block.text}")
                if index == last_python:
                    script = _rewrite_ports("\n".join(python_session), ports)
                    _run([sys.executable, "-c", script], block, tmp_path, env)
                continue
            commands = block.commands()
            if commands and all(DEVNET_COMMAND.match(c) for c in commands):
                for line in commands:
                    node = start_devnet(line, tmp_path, env)
                    started.append(node)
                    assert int(str(node.rpc("eth_chainId")), 16) > 0
                    if devnet is None and "--datadir" in line:
                        devnet = node  # the walkthrough's node: it keeps running
                        ports[node.readme_port] = node.port
                    else:
                        assert node.stop() == 0, f"`{line}` must exit cleanly on SIGTERM"
                continue
            text = "\n".join(commands) + "\n" if block.language == "console" else block.text
            script = _rewrite_ports(text, ports)
            _run(["bash", "-euo", "pipefail", "-c", script], block, tmp_path, env)
    finally:
        for node in started:
            node.stop()
    assert devnet is not None, "the README starts no devnet with --datadir"
