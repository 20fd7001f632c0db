"""The off-chain twins reproduce the on-chain models exactly: after the same random
sequence of updates, identical parameters and identical predictions."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vm_contracts.deploy_util import deploy_model, transact
from vm_contracts import fixed_point as fp
from vm_contracts import reference as ref

SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
N_SPARSE = 12  # features of the sparse models
N_DENSE = 3  # features of the dense models
N_CLASSES = 3

sparse_sample = st.lists(st.integers(0, N_SPARSE - 1), min_size=0, max_size=6).map(sorted)
dense_sample = st.lists(st.integers(-5 * fp.SCALE, 5 * fp.SCALE), min_size=N_DENSE, max_size=N_DENSE)


def _run(w3, contract, twin, updates, probes):
    for data, label in updates:
        transact(w3, contract.functions.update(data, label))
        twin.update(data, label)
    for data in probes:
        assert contract.functions.predict(data).call() == twin.predict(data)


@SETTINGS
@given(
    st.lists(st.tuples(sparse_sample, st.integers(0, 1)), max_size=8),
    st.lists(sparse_sample, max_size=4),
    st.integers(1, 2 * fp.SCALE),
)
def test_sparse_perceptron_twin_is_exact(w3, updates, probes, lr):
    m = deploy_model(w3, "SparsePerceptron", (N_SPARSE, lr, 0))
    twin = ref.SparsePerceptron(N_SPARSE, lr, 0)
    _run(w3, m, twin, updates, probes)
    assert m.functions.getWeights(0, N_SPARSE).call() == twin.weights
    assert m.functions.intercept().call() == twin.intercept


@SETTINGS
@given(
    st.lists(st.tuples(dense_sample, st.integers(0, 1)), max_size=8),
    st.lists(dense_sample, max_size=4),
    st.lists(st.integers(-fp.SCALE, fp.SCALE), min_size=N_DENSE, max_size=N_DENSE),
)
def test_dense_perceptron_twin_is_exact(w3, updates, probes, weights):
    lr = fp.to_fixed(0.3)
    m = deploy_model(w3, "DensePerceptron", (N_DENSE, lr, 1), [("initializeWeights", (0, weights))])
    twin = ref.DensePerceptron(N_DENSE, lr, 1, list(weights))
    _run(w3, m, twin, updates, probes)
    assert m.functions.getWeights(0, N_DENSE).call() == twin.weights
    assert m.functions.intercept().call() == twin.intercept


@SETTINGS
@given(
    st.lists(st.tuples(sparse_sample, st.integers(0, N_CLASSES - 1)), max_size=8),
    st.lists(sparse_sample, max_size=4),
    st.integers(1, 3 * fp.SCALE),
)
def test_naive_bayes_twin_is_exact(w3, updates, probes, smoothing):
    m = deploy_model(w3, "NaiveBayes", (N_CLASSES, N_SPARSE, smoothing))
    twin = ref.NaiveBayes(N_CLASSES, N_SPARSE, smoothing)
    _run(w3, m, twin, updates, probes)
    for c in range(N_CLASSES):
        assert m.functions.getFeatureCounts(c, 0, N_SPARSE).call() == twin.feature_counts[c]
        assert m.functions.getClassCounts(c).call() == [twin.sample_counts[c], twin.total_counts[c]]


@SETTINGS
@given(
    st.lists(st.tuples(dense_sample, st.integers(0, N_CLASSES - 1)), max_size=8),
    st.lists(dense_sample, max_size=4),
)
def test_nearest_centroid_twin_is_exact(w3, updates, probes):
    m = deploy_model(w3, "NearestCentroid", (N_CLASSES, N_DENSE))
    twin = ref.NearestCentroid(N_CLASSES, N_DENSE)
    _run(w3, m, twin, updates, probes)
    for c in range(N_CLASSES):
        assert m.functions.getCentroid(c, 0, N_DENSE).call() == twin.centroids[c]
        assert m.functions.sampleCounts(c).call() == twin.sample_counts[c]


@SETTINGS
@given(
    st.lists(st.tuples(sparse_sample, st.integers(0, N_CLASSES - 1)), max_size=8),
    st.lists(sparse_sample, max_size=4),
)
def test_sparse_nearest_centroid_twin_is_exact(w3, updates, probes):
    m = deploy_model(w3, "SparseNearestCentroid", (N_CLASSES, N_SPARSE))
    twin = ref.SparseNearestCentroid(N_CLASSES, N_SPARSE)
    _run(w3, m, twin, updates, probes)
    for c in range(N_CLASSES):
        assert m.functions.getSums(c, 0, N_SPARSE).call() == twin.sums[c]
        assert m.functions.getClass(c).call() == [twin.sample_counts[c], twin.squared_norms[c]]


@given(st.integers(1, 10**30))
def test_fixed_point_log2_is_within_a_millionth_of_the_true_log(x):
    assert abs(fp.from_fixed(fp.log2(x)) - math.log2(x / fp.SCALE)) < 1e-6


@given(st.integers(-(10**20), 10**20), st.integers(-(10**12), 10**12).filter(bool))
def test_division_truncates_toward_zero_like_solidity(a, b):
    q = fp.div_trunc(a, b)
    assert q == int(a / b) or abs(q * b) <= abs(a) < abs((q + (1 if (a >= 0) == (b > 0) else -1)) * b)
    assert abs(q * b) <= abs(a)


def test_contribution_key_matches_the_data_handler(w3):
    from tests.vm_contracts.deploy_util import deploy

    h, _ = deploy(w3, "DataHandler")
    who = w3.eth.accounts[3]
    for data in ([], [1, 2, 3], [-5, 2**62]):
        assert h.functions.contributionKey(who, ref.data_hash(data), 7, 1234).call() == ref.contribution_key(
            who, data, 7, 1234
        )
