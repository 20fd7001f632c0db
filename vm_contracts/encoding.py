"""Turning raw samples into what the contracts take, and naming how it was done.

Sparse models take a sample as the sorted, distinct indices of its features that are
present (``int64[]``): for text, the indices of its words in a vocabulary of the N
most frequent words of a training set (:class:`Vocabulary`). Dense models take one
fixed-point integer per feature, the float scaled by ``SCALE`` (10^9, the paper's
convention) after normalisation (:class:`DenseEncoder`: L2 per sample, or min-max per
feature fitted on training data).

Each encoder has an ``encoder`` string that the trainer stores in its metadata, so
anyone reading the chain knows how to encode a query: e.g.
``bag-of-words/v1/top-1000/sha256:1f2e...`` or ``dense/v1/minmax/30-features/scale-1e9/sha256:...``.
The digest covers the vocabulary or the fitted ranges, so two encoders with the same
name encode alike.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vm_contracts.errors import EncodingError
from vm_contracts.fixed_point import SCALE, to_fixed

INT64_MAX = 2**63 - 1  # the contracts take features as int64
INT64_MIN = -(2**63)
ENCODER_VERSION = "v1"  # bump when tokenisation or rounding changes
DIGEST_HEX_CHARS = 16  # hex characters of sha256 kept in an encoder name

LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)  # IMDB reviews keep HTML line breaks
# scikit-learn's CountVectorizer default: runs of two or more word characters.
TOKEN = re.compile(r"(?u)\b\w\w+\b")

Normalisation = Literal["l2", "minmax", "none"]
NORMALISATIONS: tuple[str, ...] = ("l2", "minmax", "none")


def tokenize(text: str) -> list[str]:
    """Lower-case, turn ``<br />`` into a space, and keep words of two or more characters.

    This matches scikit-learn's ``CountVectorizer`` defaults after removing HTML line
    breaks, so on-chain vocabularies can be checked against it.
    """
    return TOKEN.findall(LINE_BREAK.sub(" ", text).lower())


@dataclass(frozen=True)
class Vocabulary:
    """The words a sparse text model knows, most frequent first.

    Fields:
        words: the vocabulary; ``words[i]`` is feature index ``i``. Set by :meth:`fit`
            from a training set: the ``n`` words with the highest total count, ties broken
            alphabetically so a fit is reproducible.
    """

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.words)) != len(self.words):
            raise EncodingError("vocabulary has duplicate words")

    @classmethod
    def fit(cls, texts: Iterable[str], n: int) -> Vocabulary:
        """The ``n`` most frequent words of ``texts`` (fewer if the texts have fewer)."""
        if n <= 0:
            raise EncodingError(f"vocabulary size must be positive, got {n}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text))
        if not counts:
            raise EncodingError("cannot fit a vocabulary: the texts contain no words")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls(tuple(word for word, _ in ranked[:n]))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {word: i for i, word in enumerate(self.words)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def encode(self, text: str) -> list[int]:
        """The sorted, distinct indices of the known words in ``text``."""
        index = self._index
        return sorted({index[token] for token in tokenize(text) if token in index})

    def encode_many(self, texts: Iterable[str]) -> list[list[int]]:
        """:meth:`encode` for each text."""
        return [self.encode(text) for text in texts]

    def digest(self) -> str:
        """sha256 over the words in order, hex."""
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()

    @property
    def encoder(self) -> str:
        """The name stored in a trainer's metadata for this encoding."""
        return (
            f"bag-of-words/{ENCODER_VERSION}/top-{len(self.words)}/sha256:{self.digest()[:DIGEST_HEX_CHARS]}"
        )

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (``{"encoder": ..., "words": [...]}``)."""
        Path(path).write_text(json.dumps({"encoder": self.encoder, "words": list(self.words)}))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`, checking its digest."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise EncodingError(f"{path}: not a readable vocabulary file ({exc})") from exc
        if not isinstance(document, dict) or not isinstance(document.get("words"), list):
            raise EncodingError(f"{path}: expected an object with a 'words' list")
        vocabulary = cls(tuple(str(word) for word in document["words"]))
        if document.get("encoder", vocabulary.encoder) != vocabulary.encoder:
            raise EncodingError(f"{path}: words do not match the recorded encoder name")
        return vocabulary


def sparse_encoder_name(description: str, n_features: int) -> str:
    """The encoder name for data that is already sparse (e.g. ``bag-of-pixels``)."""
    return f"{description}/{ENCODER_VERSION}/{n_features}-features"


# --- fixed point -----------------------------------------------------------------------


def to_fixed_vector(values: Sequence[float] | np.ndarray) -> list[int]:
    """Floats as int64 fixed-point integers (``round(value * SCALE)``)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise EncodingError(f"expected a vector, got an array of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise EncodingError("cannot encode NaN or infinite values as fixed point")
    result = [to_fixed(float(value)) for value in array]
    for position, value in enumerate(result):
        if not INT64_MIN <= value <= INT64_MAX:
            raise EncodingError(f"feature {position} = {array[position]} does not fit int64 fixed point")
    return result


def from_fixed_vector(values: Sequence[int]) -> np.ndarray:
    """Fixed-point integers back to floats."""
    return np.asarray([int(value) / SCALE for value in values], dtype=np.float64)


@dataclass(frozen=True)
class DenseEncoder:
    """Normalisation plus fixed-point conversion for dense models.

    Fields:
        normalisation: ``"l2"`` scales each sample to unit Euclidean length (nothing to
            fit); ``"minmax"`` maps each feature to [0, 1] with the range seen in the
            training set, clipping values outside it; ``"none"`` keeps raw values.
        n_features: the vector length every sample must have.
        minimum: per-feature minimum from the training set (``"minmax"`` only), floats.
        maximum: per-feature maximum from the training set (``"minmax"`` only), floats.
    """

    normalisation: str
    n_features: int
    minimum: tuple[float, ...] = ()
    maximum: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise EncodingError(
                f"unknown normalisation {self.normalisation!r}; choose one of {NORMALISATIONS}"
            )
        if self.normalisation == "minmax" and not (len(self.minimum) == len(self.maximum) == self.n_features):
            raise EncodingError("minmax normalisation needs a minimum and maximum per feature")

    @classmethod
    def fit(cls, data: np.ndarray, normalisation: str = "minmax") -> DenseEncoder:
        """Fit on a training matrix of shape ``(n_samples, n_features)``."""
        matrix = np.asarray(data, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise EncodingError(f"expected a non-empty 2-D training matrix, got {matrix.shape}")
        if normalisation != "minmax":
            return cls(normalisation, int(matrix.shape[1]))
        return cls(
            normalisation,
            int(matrix.shape[1]),
            tuple(float(v) for v in matrix.min(axis=0)),
            tuple(float(v) for v in matrix.max(axis=0)),
        )

    def transform(self, data: np.ndarray) -> np.ndarray:
        """Normalised floats, same shape as ``data`` (one sample or a matrix)."""
        array = np.asarray(data, dtype=np.float64)
        if array.shape[-1] != self.n_features:
            raise EncodingError(f"expected {self.n_features} features, got {array.shape[-1]}")
        if self.normalisation == "l2":
            norms = np.linalg.norm(array, axis=-1, keepdims=True)
            return array / np.where(norms == 0.0, 1.0, norms)
        if self.normalisation == "minmax":
            low = np.asarray(self.minimum)
            span = np.asarray(self.maximum) - low
            return np.clip((array - low) / np.where(span == 0.0, 1.0, span), 0.0, 1.0)
        return array

    def encode(self, sample: Sequence[float] | np.ndarray) -> list[int]:
        """One sample, normalised, as int64 fixed point."""
        return to_fixed_vector(self.transform(np.asarray(sample, dtype=np.float64)))

    def encode_many(self, data: np.ndarray) -> list[list[int]]:
        """:meth:`encode` for each row."""
        return [to_fixed_vector(row) for row in self.transform(data)]

    def digest(self) -> str:
        """sha256 over the fitted ranges (repr of each float), hex."""
        text = json.dumps([self.normalisation, list(self.minimum), list(self.maximum)])
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    @property
    def encoder(self) -> str:
        """The name stored in a trainer's metadata for this encoding."""
        return (
            f"dense/{ENCODER_VERSION}/{self.normalisation}/{self.n_features}-features/"
            f"scale-1e{len(str(SCALE)) - 1}/sha256:{self.digest()[:DIGEST_HEX_CHARS]}"
        )


def counts_matrix(samples: Iterable[Sequence[int]], n_features: int) -> np.ndarray:
    """Sparse samples (lists of feature indices) as a dense count matrix, repeats counted,
    the form scikit-learn's estimators take for the same data."""
    rows = list(samples)
    matrix = np.zeros((len(rows), n_features), dtype=np.int64)
    for row, indices in enumerate(rows):
        for index in indices:
            if not 0 <= int(index) < n_features:
                raise EncodingError(f"sample {row}: feature index {index} not in [0, {n_features})")
            matrix[row, int(index)] += 1
    return matrix
