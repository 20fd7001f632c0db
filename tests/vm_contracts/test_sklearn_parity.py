"""On-chain models against scikit-learn on the same offline data.

Each model starts from a state fitted off-chain on part of the training split (via
scikit-learn, converted with ``state_from_sklearn``), is then trained on chain with a
few dozen more samples through ``addData``. Its accuracy on a held-out set must lie
within ``ACCURACY_TOLERANCE`` of scikit-learn's corresponding estimator fitted on the
same samples (initial + on-chain). Models that compute the same function as their
estimator (naive Bayes, nearest centroid) must also agree with its predictions sample
by sample on nearly all of the test set.

The on-chain model's predictions come from its parameters read back from the chain
(``read_model``) run through its exact off-chain twin; the twin's predictions are
checked equal to the contract's own ``predict`` (``eth_call``) on ``CHECKED_ON_CHAIN``
test samples. (A call per test sample would take minutes: naive Bayes's fixed-point
log2 makes one prediction cost several million gas of interpretation.)
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Perceptron
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import NearestCentroid

from vm_contracts.client import deploy_framework, reference_twin, state_from_sklearn
from vm_contracts.datasets import Dataset, load_default
from vm_contracts.encoding import DenseEncoder, counts_matrix, to_fixed_vector

ACCURACY_TOLERANCE = 0.05  # on-chain accuracy may trail scikit-learn's by 5 points at most
AGREEMENT_MIN = 0.97  # share of test samples where same-function models must agree
INITIAL_SAMPLES = 400  # fitted off chain, written as the initial state
ONLINE_SAMPLES = 30  # added on chain, one transaction each
TEST_SAMPLES = 300  # held out; predicted through the twin of the on-chain parameters
CHECKED_ON_CHAIN = 8  # test samples also predicted by the contract itself
SEED = 0
# Gas limit for each addData, given rather than estimated: estimating re-runs a call a
# dozen times, and these small models stay far below it (the SDK's estimate path is
# covered by test_client.py).
ADD_DATA_GAS = 1_500_000

# model -> (offline dataset kind, matching scikit-learn estimator factory)
CASES = {
    "SparsePerceptron": ("sparse-binary", lambda: Perceptron(eta0=1.0, random_state=SEED)),
    "DensePerceptron": ("dense-binary", lambda: Perceptron(eta0=1.0, random_state=SEED)),
    "NaiveBayes": ("sparse-binary", lambda: MultinomialNB(alpha=1.0)),
    "NearestCentroid": ("multiclass-dense", NearestCentroid),
    "SparseNearestCentroid": ("multiclass-sparse", NearestCentroid),
}


def features(data: Dataset, encoder: DenseEncoder | None) -> np.ndarray:
    """The matrix scikit-learn sees: counts for sparse data, normalised floats for dense."""
    if data.form == "sparse":
        return counts_matrix(data.samples, data.n_features).astype(np.float64)
    assert encoder is not None
    return encoder.transform(np.asarray(data.samples))


def on_chain_vectors(data: Dataset, encoder: DenseEncoder | None) -> list[list[int]]:
    """What the contracts take: feature indices, or fixed-point normalised values."""
    if data.form == "sparse":
        return [list(sample) for sample in data.samples]
    assert encoder is not None
    return [to_fixed_vector(row) for row in encoder.transform(np.asarray(data.samples))]


# scikit-learn warns when a pixel never varies within a class; harmless for centroids.
@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
@pytest.mark.parametrize("model", list(CASES))
def test_on_chain_accuracy_is_within_tolerance_of_scikit_learn(w3, model):
    kind, make_estimator = CASES[model]
    train, test = load_default(kind).split(0.3, seed=SEED)
    first = min(INITIAL_SAMPLES, len(train) - ONLINE_SAMPLES)
    initial = train.subset(range(first))
    online = train.subset(range(first, first + ONLINE_SAMPLES))
    test = test.subset(range(min(TEST_SAMPLES, len(test))))
    encoder = None if train.form == "sparse" else DenseEncoder.fit(initial.samples, "minmax")

    offline = make_estimator().fit(features(initial, encoder), initial.labels)
    class_counts = np.bincount(initial.labels, minlength=train.n_classes).tolist()
    state = state_from_sklearn(model, offline, class_counts=class_counts)
    framework = deploy_framework(w3, model, "Points", initial=state, encoder=model)

    contributor = w3.eth.accounts[1]
    for vector, label in zip(on_chain_vectors(online, encoder), online.labels, strict=True):
        framework.add_data(vector, int(label), contributor, gas=ADD_DATA_GAS)
    test_vectors = on_chain_vectors(test, encoder)
    twin = reference_twin(model, framework.read_model())
    on_chain = np.array([twin.predict(v) for v in test_vectors])
    for vector, predicted in zip(test_vectors[:CHECKED_ON_CHAIN], on_chain, strict=False):
        assert framework.predict(vector) == predicted
    on_chain_accuracy = float(np.mean(on_chain == test.labels))

    both = initial.subset(range(len(initial))), online
    seen_x = np.vstack([features(part, encoder) for part in both])
    seen_y = np.concatenate([part.labels for part in both])
    reference = make_estimator().fit(seen_x, seen_y)
    expected = reference.predict(features(test, encoder))
    reference_accuracy = float(np.mean(expected == test.labels))

    agreement = float(np.mean(on_chain == expected))
    print(  # shown with pytest -s: the figures behind the assertion
        f"{model} on {kind}: on chain {on_chain_accuracy:.3f}, scikit-learn "
        f"{reference_accuracy:.3f}, same prediction on {agreement:.3f} of {len(test)}"
    )
    assert on_chain_accuracy >= reference_accuracy - ACCURACY_TOLERANCE, (
        f"{model}: on chain {on_chain_accuracy:.3f}, scikit-learn {reference_accuracy:.3f}"
    )
    assert on_chain_accuracy > 1.5 / train.n_classes  # clearly better than chance
    if model in ("NaiveBayes", "NearestCentroid", "SparseNearestCentroid"):
        assert agreement >= AGREEMENT_MIN, f"{model}: agrees on {agreement:.3f} only"
