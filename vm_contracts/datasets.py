"""Datasets for training and evaluating the models on chain.

Two sources:

* IMDB movie reviews (Maas et al., ACL 2011) in any of the three forms people
  have on disk: the unpacked ``aclImdb`` folder, the official ``aclImdb_v1.tar.gz``
  (read member by member, never extracted), or gzip-compressed JSON Lines
  ``{train,test}.jsonl.gz`` with one ``{"id", "label", "rating", "text"}`` object per
  review. :func:`load_imdb` detects the form from the path.
* Offline defaults that ship inside an installed package (scikit-learn's bundled
  datasets), so sumchain works with no download: :func:`load_default`.

Rows come in a canonical order: by numeric review id, alternating the labels
(pos 0, neg 0, pos 1, neg 1, ...), so any prefix taken with ``limit`` is balanced.
``seed`` shuffles that order first.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vm_contracts.errors import DatasetError

IMDB_SPLITS = ("train", "test")
IMDB_LABEL_DIRS = {"pos": 1, "neg": 0}  # directory name -> label
IMDB_TARBALL_ROOT = "aclImdb"
IMDB_FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")  # <id>_<rating>.txt
IMDB_POSITIVE_MIN_RATING = 7  # stars; ratings >= 7 are labelled pos
IMDB_NEGATIVE_MAX_RATING = 4  # stars; ratings <= 4 are labelled neg
IMDB_JSONL_KEYS = ("id", "label", "rating", "text")

SPARSE_DIGITS_THRESHOLD = 4  # grey level (0..16); a pixel brighter than this is a "word"
DIGITS_PIXELS = 64  # 8 x 8 images

DEFAULT_KINDS = ("sparse-binary", "dense-binary", "multiclass-dense", "multiclass-sparse")
DatasetKind = Literal["sparse-binary", "dense-binary", "multiclass-dense", "multiclass-sparse"]
SampleForm = Literal["text", "sparse", "dense"]


@dataclass(frozen=True)
class Dataset:
    """Samples with integer labels, in one of three forms.

    Fields:
        name: where the data came from, e.g. ``"imdb/train"`` or ``"digits-sparse-odd"``.
        form: ``"text"`` (``samples`` are strings), ``"sparse"`` (``samples`` are sorted
            tuples of distinct feature indices) or ``"dense"`` (``samples`` is a float
            array of shape ``(n, n_features)``).
        samples: the inputs; see ``form``.
        labels: int64 array, one class index per sample (0/1 for binary tasks).
        n_features: the feature-space size for sparse and dense forms; 0 for text.
        n_classes: how many classes the task has (labels lie in ``range(n_classes)``).
        ids: per-sample identifiers from the source (IMDB ``"<id>_<rating>"``, or the
            row number for bundled datasets), so results can be traced back.
        ratings: IMDB star ratings (1-10) per sample; empty for other datasets.
    """

    name: str
    form: SampleForm
    samples: Sequence[Any] | np.ndarray
    labels: np.ndarray
    n_features: int
    n_classes: int
    ids: tuple[str, ...]
    ratings: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """The rows at ``indices``, in that order."""
        rows = [int(i) for i in indices]
        samples: Sequence[Any] | np.ndarray
        if self.form == "dense":
            samples = np.asarray(self.samples)[rows]
        else:
            samples = [self.samples[i] for i in rows]
        return Dataset(
            name=name or self.name,
            form=self.form,
            samples=samples,
            labels=self.labels[rows],
            n_features=self.n_features,
            n_classes=self.n_classes,
            ids=tuple(self.ids[i] for i in rows),
            ratings=tuple(self.ratings[i] for i in rows) if self.ratings else (),
        )

    def split(self, test_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A shuffled (train, test) split, stratified by label."""
        if not 0.0 < test_fraction < 1.0:
            raise DatasetError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        train_rows: list[int] = []
        test_rows: list[int] = []
        for label in np.unique(self.labels):
            rows = np.flatnonzero(self.labels == label)
            rng.shuffle(rows)
            cut = int(round(len(rows) * test_fraction))
            test_rows.extend(rows[:cut].tolist())
            train_rows.extend(rows[cut:].tolist())
        rng.shuffle(train_rows)
        rng.shuffle(test_rows)
        return (
            self.subset(train_rows, f"{self.name}[train]"),
            self.subset(test_rows, f"{self.name}[test]"),
        )


@dataclass(frozen=True)
class _Review:
    """One IMDB review as read from any of the three forms."""

    number: int  # the numeric part of the id
    label: int  # 1 = pos, 0 = neg
    rating: int  # stars, 1-10
    text: str


# --- IMDB ------------------------------------------------------------------------------


def load_imdb(
    path: str | Path,
    split: str = "train",
    limit: int | None = None,
    seed: int | None = None,
) -> Dataset:
    """Load one split of IMDB from an ``aclImdb`` folder, the tarball, or JSON Lines.

    ``path`` may be: the ``aclImdb`` folder (or a folder holding it); the
    ``aclImdb_v1.tar.gz`` tarball; a folder holding ``<split>.jsonl.gz``; or such a
    ``.jsonl.gz`` file itself (then ``split`` only names the result). ``limit`` keeps
    the first ``limit`` rows of the canonical order (balanced), after shuffling with
    ``seed`` if one is given. Raises :class:`DatasetError` on a missing, unreadable or
    malformed path.
    """
    if split not in IMDB_SPLITS:
        raise DatasetError(f"IMDB split must be one of {IMDB_SPLITS}, got {split!r}")
    if limit is not None and limit < 0:
        raise DatasetError(f"limit must be >= 0, got {limit}")
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory (expected IMDB data)")
    reviews = list(_read_imdb(path, split))
    if not reviews:
        raise DatasetError(f"{path}: no {split} reviews found")
    ordered = _canonical_order(reviews)
    if seed is not None:
        rng = np.random.default_rng(seed)
        ordered = [ordered[i] for i in rng.permutation(len(ordered))]
    if limit is not None:
        ordered = ordered[:limit]
    return Dataset(
        name=f"imdb/{split}",
        form="text",
        samples=[review.text for review in ordered],
        labels=np.array([review.label for review in ordered], dtype=np.int64),
        n_features=0,
        n_classes=2,
        ids=tuple(f"{review.number}_{review.rating}" for review in ordered),
        ratings=tuple(review.rating for review in ordered),
    )


def _read_imdb(path: Path, split: str) -> Iterator[_Review]:
    if path.is_dir():
        if (path / f"{split}.jsonl.gz").is_file():
            return _read_jsonl(path / f"{split}.jsonl.gz")
        if (path / IMDB_TARBALL_ROOT / split).is_dir():
            return _read_folder(path / IMDB_TARBALL_ROOT / split)
        if (path / split).is_dir():
            return _read_folder(path / split)
        raise DatasetError(
            f"{path}: not an IMDB folder (expected {split}/pos and {split}/neg, "
            f"aclImdb/{split}/..., or {split}.jsonl.gz inside it)"
        )
    if path.name.endswith(".jsonl.gz"):
        return _read_jsonl(path)
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return _read_tarball(path, split)
    raise DatasetError(
        f"{path}: unknown IMDB form (expected an aclImdb folder, aclImdb_v1.tar.gz, or a .jsonl.gz file)"
    )


def _read_folder(split_dir: Path) -> Iterator[_Review]:
    for label_dir, label in IMDB_LABEL_DIRS.items():
        folder = split_dir / label_dir
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing (an aclImdb split holds pos/ and neg/)")
        for file in sorted(folder.iterdir()):
            number, rating = _parse_review_name(file.name, file, label)
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise DatasetError(f"{file}: cannot read ({exc.strerror})") from exc
            yield _Review(number, label, rating, _decode(raw, file))


def _read_tarball(path: Path, split: str) -> Iterator[_Review]:
    pattern = re.compile(rf"^(?:\./)?{IMDB_TARBALL_ROOT}/{split}/(pos|neg)/([^/]+)$")
    try:
        archive = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable tar archive ({exc})") from exc
    found = False
    with archive:
        try:
            for member in archive:
                match = pattern.match(member.name)
                if match is None or not member.isfile():
                    continue
                label = IMDB_LABEL_DIRS[match.group(1)]
                where = f"{path}:{member.name}"
                number, rating = _parse_review_name(match.group(2), where, label)
                handle = archive.extractfile(member)
                if handle is None:
                    raise DatasetError(f"{where}: cannot read archive member")
                found = True
                yield _Review(number, label, rating, _decode(handle.read(), where))
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DatasetError(f"{path}: damaged tar archive ({exc})") from exc
    if not found:
        raise DatasetError(f"{path}: no members under {IMDB_TARBALL_ROOT}/{split}/pos or neg")


def _read_jsonl(path: Path) -> Iterator[_Review]:
    try:
        handle = gzip.open(path, mode="rt", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open ({exc})") from exc
    with handle:
        try:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                yield _parse_jsonl_row(line, f"{path}:{line_number}")
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            raise DatasetError(f"{path}: not a readable gzip JSON Lines file ({exc})") from exc


def _parse_jsonl_row(line: str, where: str) -> _Review:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object with keys {IMDB_JSONL_KEYS}")
    missing = [key for key in IMDB_JSONL_KEYS if key not in row]
    if missing:
        raise DatasetError(f"{where}: missing keys {missing}")
    if row["label"] not in (0, 1):
        raise DatasetError(f"{where}: label must be 0 or 1, got {row['label']!r}")
    if not isinstance(row["text"], str):
        raise DatasetError(f"{where}: text must be a string")
    number, rating = _parse_review_name(f"{row['id']}.txt", where, row["label"])
    if rating != row["rating"]:
        raise DatasetError(f"{where}: rating {row['rating']!r} disagrees with id {row['id']!r}")
    return _Review(number, int(row["label"]), rating, row["text"])


def _parse_review_name(name: str, where: object, label: int) -> tuple[int, int]:
    match = IMDB_FILE_NAME.match(name)
    if match is None:
        raise DatasetError(f"{where}: review name {name!r} is not <id>_<rating>.txt")
    number, rating = int(match.group(1)), int(match.group(2))
    if label == 1 and not IMDB_POSITIVE_MIN_RATING <= rating <= 10:
        raise DatasetError(f"{where}: a positive review must have rating 7-10, got {rating}")
    if label == 0 and not 1 <= rating <= IMDB_NEGATIVE_MAX_RATING:
        raise DatasetError(f"{where}: a negative review must have rating 1-4, got {rating}")
    return number, rating


def _decode(raw: bytes, where: object) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _canonical_order(reviews: list[_Review]) -> list[_Review]:
    positives = sorted((r for r in reviews if r.label == 1), key=lambda r: r.number)
    negatives = sorted((r for r in reviews if r.label == 0), key=lambda r: r.number)
    ordered: list[_Review] = []
    for index in range(max(len(positives), len(negatives))):
        ordered.extend(group[index] for group in (positives, negatives) if index < len(group))
    return ordered


# --- offline defaults ------------------------------------------------------------------


def load_default(kind: str) -> Dataset:
    """A dataset bundled with scikit-learn, so no download or shared folder is needed.

    * ``"sparse-binary"`` — handwritten digits as a bag of "words": the indices of the
      pixels brighter than ``SPARSE_DIGITS_THRESHOLD`` (64 features, about 25 per
      image); label 1 for an odd digit, 0 for an even one. 1797 samples.
    * ``"dense-binary"`` — breast cancer diagnosis, 30 real-valued features, label 1 =
      benign. 569 samples. Normalise before fixed-point encoding (see encoding.py).
    * ``"multiclass-dense"`` — wine cultivars, 13 chemical measurements, 3 classes, 178
      samples (small enough that a dense model's every prediction is cheap on chain).
    * ``"multiclass-sparse"`` — the bag-of-pixels form of digits, 10 classes.
    """
    if kind not in DEFAULT_KINDS:
        raise DatasetError(f"unknown default dataset {kind!r}; choose one of {DEFAULT_KINDS}")
    from sklearn import datasets as bundled

    if kind == "dense-binary":
        bunch = bundled.load_breast_cancer()
        return _dense("breast-cancer", bunch.data, bunch.target, 2)
    if kind == "multiclass-dense":
        wine = bundled.load_wine()
        return _dense("wine", wine.data, wine.target, 3)
    digits = bundled.load_digits()
    words = [tuple(np.flatnonzero(row > SPARSE_DIGITS_THRESHOLD).tolist()) for row in digits.data]
    if kind == "sparse-binary":
        return _sparse("digits-sparse-odd", words, digits.target % 2, 2)
    return _sparse("digits-sparse", words, digits.target, 10)


def _dense(name: str, data: np.ndarray, target: np.ndarray, n_classes: int) -> Dataset:
    return Dataset(
        name=name,
        form="dense",
        samples=np.asarray(data, dtype=np.float64),
        labels=np.asarray(target, dtype=np.int64),
        n_features=int(data.shape[1]),
        n_classes=n_classes,
        ids=tuple(str(i) for i in range(len(target))),
    )


def _sparse(name: str, words: list[tuple[int, ...]], target: np.ndarray, n_classes: int) -> Dataset:
    return Dataset(
        name=name,
        form="sparse",
        samples=words,
        labels=np.asarray(target, dtype=np.int64),
        n_features=DIGITS_PIXELS,
        n_classes=n_classes,
        ids=tuple(str(i) for i in range(len(target))),
    )
