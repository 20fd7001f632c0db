// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassifierBase} from "./ClassifierBase.sol";
import {Packed} from "../lib/Packed.sol";
import {PerceptronStep} from "../lib/PerceptronStep.sol";

/// @title PerceptronBase
/// @notice What the two binary perceptrons share: the intercept, feature count and
/// learning rate, int80 weights three to a storage word, their initialisation and paged
/// getter, and the rule "predict 1 iff score > 0; on a mistake move by +learningRate
/// (label 1) or -learningRate (label 0)". A model supplies its score and how a step
/// moves its weights.
/// @dev Storage: slot 0 holds owner, initialized and intercept; slot 1 the weights.
abstract contract PerceptronBase is ClassifierBase {
    using Packed for mapping(uint256 => uint256);

    /// @notice Bias term, fixed point (shares slot 0 with owner and initialized).
    int80 public intercept;
    /// @notice Number of features: valid indices (sparse) or the data length (dense).
    uint64 public immutable numFeatures;
    /// @notice Step added to or taken from the parameters on a mistake, fixed point.
    int80 public immutable learningRate;

    mapping(uint256 => uint256) internal _weights;

    /// @param numFeatures_ Feature count (> 0).
    /// @param learningRate_ Fixed-point step (> 0).
    /// @param intercept_ Initial bias, fixed point.
    constructor(uint64 numFeatures_, int80 learningRate_, int80 intercept_) {
        if (numFeatures_ == 0) revert InvalidParameter("numFeatures");
        if (learningRate_ <= 0) revert InvalidParameter("learningRate");
        numFeatures = numFeatures_;
        learningRate = learningRate_;
        intercept = intercept_;
    }

    /// @notice Set weights[start .. start+len) before `finishInitialization`. Owner only.
    /// @param start First feature index.
    /// @param weights Fixed-point weights.
    function initializeWeights(uint64 start, int80[] calldata weights) external onlyOwner whileInitializing {
        _checkRange(start, weights.length, numFeatures);
        for (uint256 k = 0; k < weights.length; ++k) {
            _weights.setInt80(start + k, weights[k]);
        }
        emit ParametersInitialized(0, start, weights.length);
    }

    /// @notice Class (0 or 1) for `data` (see the model for its encoding). Free (view).
    /// @param data Feature indices (sparse) or numFeatures fixed-point values (dense).
    function predict(int64[] calldata data) external view whenInitialized returns (uint64) {
        return _score(data) > 0 ? 1 : 0;
    }

    /// @notice Learn from (data, label) if the model mispredicts it. Owner only.
    /// @param data As for `predict`.
    /// @param label 0 or 1.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, 2);
        uint64 prediction = _score(data) > 0 ? 1 : 0;
        if (prediction == label) return;
        int256 step = PerceptronStep.signedStep(learningRate, label);
        _step(data, step);
        intercept = _toInt80(int256(intercept) + step);
        emit ModelUpdated(label);
    }

    /// @notice Weights[start .. start+count), fixed point.
    function getWeights(uint256 start, uint256 count) external view returns (int80[] memory weights) {
        _checkRange(start, count, numFeatures);
        weights = new int80[](count);
        for (uint256 k = 0; k < count; ++k) {
            weights[k] = _weights.getInt80(start + k);
        }
    }

    /// @dev intercept + the weights' contribution for `data`; reverts on malformed data.
    function _score(int64[] calldata data) internal view virtual returns (int256);

    /// @dev Move the weights for a mistake on `data`: `step` is +learningRate or -learningRate.
    function _step(int64[] calldata data, int256 step) internal virtual;
}
