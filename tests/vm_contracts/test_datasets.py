"""IMDB in its three on-disk forms, and the offline datasets bundled with scikit-learn."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.testdata import IMDB_SAMPLE, full_imdb
from vm_contracts.datasets import DEFAULT_KINDS, Dataset, load_default, load_imdb
from vm_contracts.errors import DatasetError, VmContractsError

# (split, label dir, file name, text): a tiny aclImdb with awkward but valid contents.
TINY_REVIEWS = [
    ("train", "pos", "0_9.txt", "Great film.<br /><br />Loved it."),
    ("train", "pos", "1_7.txt", "Good enough, caf\u00e9 scenes were nice"),
    ("train", "pos", "10_10.txt", "A masterpiece"),
    ("train", "neg", "0_3.txt", "Dull and slow"),
    ("train", "neg", "2_1.txt", "Worst ever"),
    ("test", "pos", "0_8.txt", "Fine"),
    ("test", "neg", "0_2.txt", "Bad"),
]


def build_tiny_folder(root: Path) -> Path:
    for split, label_dir, name, text in TINY_REVIEWS:
        folder = root / "aclImdb" / split / label_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    return root / "aclImdb"


def build_tiny_tarball(path: Path, reviews=TINY_REVIEWS) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for split, label_dir, name, text in reviews:
            data = text.encode("utf-8")
            member = tarfile.TarInfo(f"aclImdb/{split}/{label_dir}/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        readme = tarfile.TarInfo("aclImdb/README")
        readme.size = 2
        archive.addfile(readme, io.BytesIO(b"hi"))
    return path


def test_folder_form_reads_every_review_of_a_split_with_labels_and_ratings(tmp_path):
    folder = build_tiny_folder(tmp_path)
    data = load_imdb(folder, "train")
    assert data.form == "text" and data.n_classes == 2
    # canonical order: by id, alternating pos and neg
    assert data.ids == ("0_9", "0_3", "1_7", "2_1", "10_10")
    assert data.labels.tolist() == [1, 0, 1, 0, 1]
    assert data.ratings == (9, 3, 7, 1, 10)
    assert data.samples[0] == "Great film.<br /><br />Loved it."
    assert "caf\u00e9" in data.samples[2]


def test_folder_form_accepts_the_parent_of_aclimdb(tmp_path):
    build_tiny_folder(tmp_path)
    assert load_imdb(tmp_path, "test").ids == ("0_8", "0_2")


def test_tarball_form_reads_members_without_extracting(tmp_path):
    tarball = build_tiny_tarball(tmp_path / "aclImdb_v1.tar.gz")
    data = load_imdb(tarball, "train")
    folder_data = load_imdb(build_tiny_folder(tmp_path / "unpacked"), "train")
    assert data.ids == folder_data.ids
    assert list(data.samples) == list(folder_data.samples)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aclImdb_v1.tar.gz", "unpacked"]


def test_jsonl_form_reads_a_folder_of_splits_balanced_under_a_limit():
    data = load_imdb(IMDB_SAMPLE, "test", limit=100)
    assert len(data) == 100
    assert data.labels.sum() == 50
    assert data.ids[:2] == ("0_10", "0_2")
    assert all(isinstance(text, str) and text for text in data.samples)


def test_jsonl_form_holds_the_whole_split_and_seed_shuffles_reproducibly():
    imdb = full_imdb()
    whole = load_imdb(imdb, "train")
    assert len(whole) == 25_000 and whole.labels.sum() == 12_500
    first = load_imdb(imdb, "train", limit=20, seed=7)
    again = load_imdb(imdb, "train", limit=20, seed=7)
    other = load_imdb(imdb, "train", limit=20, seed=8)
    assert first.ids == again.ids
    assert first.ids != other.ids


def test_jsonl_matches_the_folder_form_for_the_same_reviews(tmp_path):
    rows = [
        {"id": "0_9", "label": 1, "rating": 9, "text": "Great film.<br /><br />Loved it."},
        {"id": "0_3", "label": 0, "rating": 3, "text": "Dull and slow"},
    ]
    path = tmp_path / "train.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    data = load_imdb(tmp_path, "train")
    assert data.ids == ("0_9", "0_3")
    assert data.samples[0] == rows[0]["text"]


def test_missing_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_imdb(tmp_path / "nowhere", "train")


def test_folder_without_imdb_layout_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not an IMDB folder"):
        load_imdb(tmp_path, "train")


def test_review_file_with_a_bad_name_is_a_dataset_error(tmp_path):
    folder = build_tiny_folder(tmp_path)
    (folder / "train" / "pos" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="notes.txt"):
        load_imdb(folder, "train")


def test_rating_that_contradicts_the_label_is_a_dataset_error(tmp_path):
    folder = build_tiny_folder(tmp_path)
    (folder / "train" / "neg" / "5_9.txt").write_text("x")
    with pytest.raises(DatasetError, match="rating 1-4"):
        load_imdb(folder, "train")


def test_review_that_is_not_utf8_is_a_dataset_error(tmp_path):
    folder = build_tiny_folder(tmp_path)
    (folder / "train" / "pos" / "5_8.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(DatasetError, match="UTF-8"):
        load_imdb(folder, "train")


def test_truncated_tarball_is_a_dataset_error(tmp_path):
    tarball = build_tiny_tarball(tmp_path / "aclImdb_v1.tar.gz")
    tarball.write_bytes(tarball.read_bytes()[:60])
    with pytest.raises(DatasetError):
        load_imdb(tarball, "train")


def test_file_that_is_not_a_tarball_is_a_dataset_error(tmp_path):
    fake = tmp_path / "aclImdb_v1.tar.gz"
    fake.write_text("not a tar")
    with pytest.raises(DatasetError, match="tar"):
        load_imdb(fake, "train")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('{"id": "0_9", "label": 1, "rating": 9}', "missing keys"),
        ('{"id": "0_9", "label": 2, "rating": 9, "text": "x"}', "label must be 0 or 1"),
        ('{"id": "0_9", "label": 1, "rating": 8, "text": "x"}', "disagrees"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_malformed_jsonl_line_is_a_dataset_error_naming_the_line(tmp_path, line, message):
    path = tmp_path / "train.jsonl.gz"
    good = json.dumps({"id": "0_3", "label": 0, "rating": 3, "text": "ok"})
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(good + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=message) as raised:
        load_imdb(path, "train")
    assert "train.jsonl.gz:2" in str(raised.value)


def test_unknown_split_is_a_dataset_error_in_the_package_tree():
    with pytest.raises(VmContractsError, match="split"):
        load_imdb(IMDB_SAMPLE, "validation")


@pytest.mark.parametrize("kind", DEFAULT_KINDS)
def test_offline_defaults_load_without_any_shared_folder(kind):
    data = load_default(kind)
    assert isinstance(data, Dataset)
    assert len(data) == len(data.labels) == len(data.ids) > 150
    assert set(np.unique(data.labels)) == set(range(data.n_classes))
    if data.form == "sparse":
        for sample in data.samples[:50]:
            assert list(sample) == sorted(set(sample))
            assert all(0 <= index < data.n_features for index in sample)
    else:
        assert np.asarray(data.samples).shape == (len(data), data.n_features)


def test_unknown_default_kind_is_a_dataset_error():
    with pytest.raises(DatasetError, match="sparse-binary"):
        load_default("images")


def test_split_is_stratified_disjoint_and_reproducible():
    data = load_default("dense-binary")
    train, test = data.split(0.25, seed=3)
    assert len(train) + len(test) == len(data)
    assert not set(train.ids) & set(test.ids)
    assert abs(test.labels.mean() - data.labels.mean()) < 0.02
    assert data.split(0.25, seed=3)[1].ids == test.ids
