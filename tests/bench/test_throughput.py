"""The JSON-RPC part of bench.throughput sends distinct samples of the asked size."""

from __future__ import annotations

import pytest

from bench.throughput import REAL_WORDS, RPC_FEATURES, RPC_WORDS, main, rpc_sample


@pytest.mark.parametrize("words", [RPC_WORDS, REAL_WORDS])
def test_rpc_samples_have_the_asked_words_and_never_repeat(words: int) -> None:
    samples = [tuple(rpc_sample(i, words)) for i in range(200)]
    assert all(len(set(s)) == words and all(0 <= w < RPC_FEATURES for w in s) for s in samples)
    assert len(set(samples)) == len(samples)


def test_the_default_rpc_samples_are_the_benchmarks_two_words() -> None:
    assert [rpc_sample(i, RPC_WORDS) for i in (0, 1, 999, 1000)] == [[0, 1], [1, 2], [999, 0], [0, 2]]


def test_a_sample_size_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--rpc-words", "91"])
    assert exit_.value.code == 2
    assert "--rpc-words must be between 2 and 90" in capsys.readouterr().err
