"""The five on-chain models: initialisation in pages, predict, update, getters and
every input error, each checked against its off-chain twin where numbers matter."""

from __future__ import annotations

import pytest

from tests.vm_contracts.deploy_util import assert_reverts, deploy, deploy_model, transact
from vm_contracts import reference as ref
from vm_contracts.fixed_point import SCALE

LR = SCALE // 2  # learning rate 0.5


def _owner(w3):
    return w3.eth.accounts[0]


def test_sparse_perceptron_initialises_in_pages_and_reads_back(w3):
    weights = [(-1) ** i * i * SCALE // 7 for i in range(10)]
    m = deploy_model(
        w3,
        "SparsePerceptron",
        (10, LR, -3),
        [("initializeWeights", (0, weights[:4])), ("initializeWeights", (4, weights[4:]))],
    )
    assert m.functions.getWeights(0, 10).call() == weights
    assert m.functions.getWeights(3, 2).call() == weights[3:5]
    assert m.functions.intercept().call() == -3
    assert m.functions.initialized().call()
    twin = ref.SparsePerceptron(10, LR, -3, list(weights))
    for data in ([0], [1, 2], [3, 5, 7], [9, 9, 8], []):
        assert m.functions.predict(data).call() == twin.predict(data)


def test_sparse_perceptron_learns_only_from_mistakes(w3):
    m = deploy_model(w3, "SparsePerceptron", (10, LR, 0))
    assert m.functions.predict([1, 2]).call() == 0
    transact(w3, m.functions.update([1, 2], 0))  # agrees: no change
    assert m.functions.getWeights(0, 10).call() == [0] * 10
    receipt = transact(w3, m.functions.update([1, 2, 2], 1))
    assert m.events.ModelUpdated().process_receipt(receipt)[0]["args"]["label"] == 1
    assert m.functions.getWeights(0, 4).call() == [0, LR, 2 * LR, 0]
    assert m.functions.intercept().call() == LR
    assert m.functions.predict([1]).call() == 1


def test_dense_perceptron_matches_twin(w3):
    m = deploy_model(w3, "DensePerceptron", (3, LR, 0), [("initializeWeights", (0, [SCALE, -SCALE, 7]))])
    twin = ref.DensePerceptron(3, LR, 0, [SCALE, -SCALE, 7])
    for x, y in (
        ([SCALE, 0, 0], 0),
        ([-3, 5 * SCALE, 11], 1),
        ([1, 1, 1], 0),
        ([2 * SCALE, -SCALE, 3], 1),
    ):
        assert m.functions.predict(x).call() == twin.predict(x)
        transact(w3, m.functions.update(x, y))
        twin.update(x, y)
        assert m.functions.getWeights(0, 3).call() == twin.weights
        assert m.functions.intercept().call() == twin.intercept


def test_naive_bayes_counts_and_predicts_like_twin(w3):
    m = deploy_model(
        w3,
        "NaiveBayes",
        (3, 6, SCALE),
        [("initializeFeatureCounts", (1, 2, [3, 0, 4])), ("initializeSampleCounts", ([1, 2, 0],))],
    )
    twin = ref.NaiveBayes(3, 6, SCALE)
    twin.feature_counts[1][2:5] = [3, 0, 4]
    twin.total_counts[1] = 7
    twin.sample_counts = [1, 2, 0]
    assert m.functions.getClassCounts(1).call() == [2, 7]
    for data, label in (([0, 1, 1], 0), ([2, 4], 1), ([5], 2), ([2, 2, 3], 0)):
        assert m.functions.predict(data).call() == twin.predict(data)
        transact(w3, m.functions.update(data, label))
        twin.update(data, label)
    for c in range(3):
        assert m.functions.getFeatureCounts(c, 0, 6).call() == twin.feature_counts[c]
        assert m.functions.getClassCounts(c).call() == [twin.sample_counts[c], twin.total_counts[c]]
    assert m.functions.predict([4, 4]).call() == twin.predict([4, 4])


def test_nearest_centroid_running_means_match_twin(w3):
    m = deploy_model(
        w3,
        "NearestCentroid",
        (2, 2),
        [("initializeCentroid", (1, 0, [SCALE, SCALE])), ("initializeSampleCounts", ([0, 1],))],
    )
    twin = ref.NearestCentroid(2, 2, [[0, 0], [SCALE, SCALE]], [0, 1])
    for x, y in (([3, -7], 0), ([SCALE, 2 * SCALE], 1), ([-5, 4], 0), ([SCALE // 3, 1], 1)):
        assert m.functions.predict(x).call() == twin.predict(x)
        transact(w3, m.functions.update(x, y))
        twin.update(x, y)
        for c in range(2):
            assert m.functions.getCentroid(c, 0, 2).call() == twin.centroids[c]
    assert [m.functions.sampleCounts(c).call() for c in range(2)] == twin.sample_counts


def test_sparse_nearest_centroid_sums_and_norms_match_twin(w3):
    m = deploy_model(
        w3,
        "SparseNearestCentroid",
        (2, 20),
        [("initializeSums", (0, 3, [2, 0, 5])), ("initializeSampleCounts", ([2, 0],))],
    )
    twin = ref.SparseNearestCentroid(2, 20)
    twin.sums[0][3:6] = [2, 0, 5]
    twin.sample_counts = [2, 0]
    for data, y in (([3, 5], 1), ([0, 1, 2, 3], 0), ([17, 17, 18], 1), ([5], 0)):
        assert m.functions.predict(data).call() == twin.predict(data)
        transact(w3, m.functions.update(data, y))
        twin.update(data, y)
    for c in range(2):
        assert m.functions.getSums(c, 0, 20).call() == twin.sums[c]
        assert m.functions.getClass(c).call() == [twin.sample_counts[c], twin.squared_norms[c]]


MODELS = [
    ("SparsePerceptron", (10, LR, 0), [1, 2], "initializeWeights", (0, [1])),
    ("DensePerceptron", (2, LR, 0), [1, 2], "initializeWeights", (0, [1])),
    ("NaiveBayes", (2, 10, SCALE), [1, 2], "initializeSampleCounts", ([1, 1],)),
    ("NearestCentroid", (2, 2), [1, 2], "initializeSampleCounts", ([1, 1],)),
    ("SparseNearestCentroid", (2, 10), [1, 2], "initializeSampleCounts", ([1, 1],)),
]


@pytest.mark.parametrize(("name", "args", "data", "init_fn", "init_args"), MODELS, ids=[m[0] for m in MODELS])
def test_model_guards_its_life_cycle(w3, name, args, data, init_fn, init_args):
    owner, other = w3.eth.accounts[0], w3.eth.accounts[1]
    m, _ = deploy(w3, name, *args)
    assert_reverts(w3, m.functions.predict(data), "NotInitialized")
    assert_reverts(w3, m.functions.update(data, 0), "NotInitialized")
    assert_reverts(w3, getattr(m.functions, init_fn)(*init_args), "NotOwner", sender=other)
    assert_reverts(w3, m.functions.finishInitialization(), "NotOwner", sender=other)
    transact(w3, getattr(m.functions, init_fn)(*init_args), owner)
    receipt = transact(w3, m.functions.finishInitialization(), owner)
    assert len(m.events.InitializationFinished().process_receipt(receipt)) == 1
    assert_reverts(w3, getattr(m.functions, init_fn)(*init_args), "AlreadyInitialized")
    assert_reverts(w3, m.functions.finishInitialization(), "AlreadyInitialized")
    assert_reverts(w3, m.functions.update(data, 0), "NotOwner", sender=other)
    assert_reverts(w3, m.functions.update(data, 7), "LabelOutOfRange")
    assert_reverts(w3, m.functions.transferOwnership("0x" + "00" * 20), "ZeroAddress")
    receipt = transact(w3, m.functions.transferOwnership(other), owner)
    assert m.events.OwnershipTransferred().process_receipt(receipt)[0]["args"]["newOwner"] == other
    assert m.functions.owner().call() == other
    transact(w3, m.functions.update(data, 1), other)


@pytest.mark.parametrize("name", ["SparsePerceptron", "NaiveBayes", "SparseNearestCentroid"])
def test_sparse_models_refuse_out_of_range_indices(w3, name):
    args = {
        "SparsePerceptron": (10, LR, 0),
        "NaiveBayes": (2, 10, SCALE),
        "SparseNearestCentroid": (2, 10),
    }[name]
    m = deploy_model(w3, name, args)
    data = assert_reverts(w3, m.functions.predict([3, 10]), "FeatureIndexOutOfRange")
    assert int.from_bytes(data[4:36], "big") == 1  # the position of the bad index
    assert_reverts(w3, m.functions.predict([-1]), "FeatureIndexOutOfRange")
    assert_reverts(w3, m.functions.update([3, 10], 1), "FeatureIndexOutOfRange")


@pytest.mark.parametrize("name", ["DensePerceptron", "NearestCentroid"])
def test_dense_models_refuse_wrong_length(w3, name):
    m = deploy_model(w3, name, (3, LR, 0) if name == "DensePerceptron" else (2, 3))
    assert_reverts(w3, m.functions.predict([1, 2]), "WrongDataLength")
    assert_reverts(w3, m.functions.update([1, 2, 3, 4], 1), "WrongDataLength")


def test_initialisation_and_reads_refuse_ranges_past_the_end(w3):
    m, _ = deploy(w3, "SparsePerceptron", 4, LR, 0)
    assert_reverts(w3, m.functions.initializeWeights(3, [1, 2]), "RangeOutOfBounds")
    assert_reverts(w3, m.functions.getWeights(2, 3), "RangeOutOfBounds")
    nb, _ = deploy(w3, "NaiveBayes", 2, 4, SCALE)
    assert_reverts(w3, nb.functions.initializeFeatureCounts(2, 0, [1]), "LabelOutOfRange")
    assert_reverts(w3, nb.functions.initializeSampleCounts([1, 2, 3]), "WrongDataLength")


def test_weights_beyond_int80_are_refused(w3):
    # score = (2^79 - 1) - 2^79 = -1: mispredicted as 0, so label 1 pushes the weight past int80
    m = deploy_model(w3, "SparsePerceptron", (2, 2**78, -(2**79)), [("initializeWeights", (0, [2**79 - 1]))])
    assert m.functions.predict([0]).call() == 0
    assert_reverts(w3, m.functions.update([0], 1), "PackedValueOutOfRange")
    assert m.functions.predict([1]).call() == 0
    transact(w3, m.functions.update([1], 1))  # the weight of feature 1 still fits
    assert m.functions.getWeights(1, 1).call() == [2**78]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("SparsePerceptron", (0, LR, 0)),
        ("SparsePerceptron", (3, 0, 0)),
        ("DensePerceptron", (3, -1, 0)),
        ("NaiveBayes", (1, 3, SCALE)),
        ("NaiveBayes", (2, 3, 0)),
        ("NearestCentroid", (2, 0)),
        ("SparseNearestCentroid", (1, 3)),
    ],
)
def test_unusable_constructor_arguments_are_refused(w3, name, args):
    from vm_contracts.build import load_artifact

    art = load_artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    assert_reverts(w3, factory.constructor(*args), "InvalidParameter")
