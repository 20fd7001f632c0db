"""Bag-of-words vocabularies, dense normalisation, fixed point and encoder names."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from tests.testdata import IMDB_SAMPLE
from vm_contracts.datasets import load_default, load_imdb
from vm_contracts.encoding import (
    SCALE,
    DenseEncoder,
    Vocabulary,
    counts_matrix,
    from_fixed_vector,
    to_fixed_vector,
    tokenize,
)
from vm_contracts.errors import EncodingError


def test_tokenizer_lowercases_drops_line_breaks_and_one_letter_words():
    assert tokenize("A GREAT film.<br /><br />I loved it!<BR/>Ten/10") == [
        "great",
        "film",
        "loved",
        "it",
        "ten",
        "10",
    ]


def test_vocabulary_ranks_by_count_then_alphabetically():
    vocabulary = Vocabulary.fit(["bb aa cc", "cc aa", "cc dd"], n=3)
    assert vocabulary.words == ("cc", "aa", "bb")


def test_encode_gives_sorted_distinct_indices_of_known_words_only():
    vocabulary = Vocabulary(("good", "bad", "film"))
    assert vocabulary.encode("Film film GOOD, unknown words") == [0, 2]
    assert vocabulary.encode("nothing known") == []


def test_vocabulary_matches_scikit_learn_count_vectorizer_on_imdb():
    reviews = load_imdb(IMDB_SAMPLE, "train", limit=300).samples
    texts = [text.replace("<br />", " ") for text in reviews]
    ours = Vocabulary.fit(texts, n=200)
    counts = CountVectorizer().fit(texts)
    totals = np.asarray(counts.transform(texts).sum(axis=0)).ravel()
    names = counts.get_feature_names_out()
    ranked = sorted(zip(names, totals, strict=True), key=lambda item: (-item[1], item[0]))
    assert ours.words == tuple(str(word) for word, _ in ranked[:200])
    sample = texts[5]
    words = set(counts.build_analyzer()(sample))
    expected = sorted(ours.words.index(w) for w in words if w in ours.words)
    assert ours.encode(sample) == expected


def test_vocabulary_round_trips_through_a_file_and_keeps_its_encoder_name(tmp_path):
    vocabulary = Vocabulary.fit(["the film was good", "the film was bad"], n=10)
    vocabulary.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocabulary
    assert loaded.encoder == vocabulary.encoder
    assert loaded.encoder.startswith("bag-of-words/v1/top-5/sha256:")


def test_different_vocabularies_have_different_encoder_names():
    first = Vocabulary(("good", "bad"))
    second = Vocabulary(("bad", "good"))
    assert first.encoder != second.encoder


def test_empty_or_wrong_vocabulary_input_is_an_encoding_error(tmp_path):
    with pytest.raises(EncodingError, match="no words"):
        Vocabulary.fit(["!", "?"], n=5)
    with pytest.raises(EncodingError, match="positive"):
        Vocabulary.fit(["good"], n=0)
    with pytest.raises(EncodingError, match="duplicate"):
        Vocabulary(("good", "good"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(EncodingError, match="words"):
        Vocabulary.load(tmp_path / "bad.json")


def test_fixed_point_scales_by_ten_to_the_nine_and_rounds():
    assert SCALE == 10**9
    assert to_fixed_vector([0.5, -1.25, 1e-10, 2.0000000006]) == [
        500_000_000,
        -1_250_000_000,
        0,
        2_000_000_001,
    ]
    assert from_fixed_vector([1_500_000_000]).tolist() == [1.5]


def test_fixed_point_refuses_values_outside_int64_and_non_finite():
    with pytest.raises(EncodingError, match="int64"):
        to_fixed_vector([1e10])
    with pytest.raises(EncodingError, match="NaN"):
        to_fixed_vector([float("nan")])


def test_minmax_maps_training_range_to_unit_interval_and_clips_outside():
    train = np.array([[0.0, 10.0], [4.0, 30.0]])
    encoder = DenseEncoder.fit(train, "minmax")
    assert encoder.transform(np.array([2.0, 20.0])).tolist() == [0.5, 0.5]
    assert encoder.encode([8.0, 0.0]) == [SCALE, 0]


def test_l2_normalises_each_sample_to_unit_length():
    encoder = DenseEncoder.fit(np.ones((2, 2)), "l2")
    assert encoder.encode([3.0, 4.0]) == [600_000_000, 800_000_000]
    assert encoder.encode([0.0, 0.0]) == [0, 0]


def test_dense_encoder_name_covers_the_fitted_ranges():
    data = load_default("dense-binary").samples
    first = DenseEncoder.fit(data[:100], "minmax")
    second = DenseEncoder.fit(data[100:], "minmax")
    assert first.encoder.startswith("dense/v1/minmax/30-features/scale-1e9/sha256:")
    assert first.encoder != second.encoder
    assert DenseEncoder.fit(data, "l2").encoder.startswith("dense/v1/l2/30-features/")


def test_dense_encoder_refuses_wrong_length_and_unknown_normalisation():
    encoder = DenseEncoder.fit(np.ones((2, 3)), "none")
    with pytest.raises(EncodingError, match="expected 3 features"):
        encoder.encode([1.0, 2.0])
    with pytest.raises(EncodingError, match="unknown normalisation"):
        DenseEncoder.fit(np.ones((2, 3)), "zscore")


def test_counts_matrix_counts_repeats_and_refuses_out_of_range_indices():
    assert counts_matrix([[0, 2, 2], []], 3).tolist() == [[1, 0, 2], [0, 0, 0]]
    with pytest.raises(EncodingError, match="sample 1"):
        counts_matrix([[0], [3]], 3)
