// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassifierBase} from "./ClassifierBase.sol";
import {FixedPoint} from "../lib/FixedPoint.sol";
import {Packed} from "../lib/Packed.sol";

/// @title DensePerceptron
/// @notice Binary perceptron over dense inputs: data holds one fixed-point value per
/// feature. score = intercept + sum_j FixedPoint.mul(weights[j], x[j]); predict 1 if
/// score > 0 else 0. On a mistake, weights[j] += +/- FixedPoint.mul(learningRate, x[j])
/// and intercept += +/- learningRate (+ for label 1, - for label 0).
/// @dev Weights are int80 fixed point packed three to a storage word.
contract DensePerceptron is ClassifierBase {
    using Packed for mapping(uint256 => uint256);

    /// @notice Bias term, fixed point.
    int80 public intercept;
    /// @notice Number of features = required data length.
    uint64 public immutable numFeatures;
    /// @notice Fixed-point learning rate.
    int80 public immutable learningRate;

    mapping(uint256 => uint256) private _weights;

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
    function initializeWeights(uint64 start, int80[] calldata weights) external onlyOwner whileInitializing {
        _checkRange(start, weights.length, numFeatures);
        for (uint256 k = 0; k < weights.length; ++k) {
            _weights.setInt80(start + k, weights[k]);
        }
        emit ParametersInitialized(0, start, weights.length);
    }

    /// @notice Class (0 or 1) for a fixed-point feature vector. Free (view).
    /// @param data numFeatures fixed-point values.
    function predict(int64[] calldata data) external view whenInitialized returns (uint64) {
        return _score(data) > 0 ? 1 : 0;
    }

    /// @notice Learn from (data, label) if the model mispredicts it. Owner only.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, 2);
        uint64 prediction = _score(data) > 0 ? 1 : 0;
        if (prediction == label) return;
        int256 lr = learningRate;
        for (uint256 j = 0; j < data.length; ++j) {
            int256 delta = FixedPoint.mul(lr, data[j]);
            if (delta == 0) continue;
            _weights.setInt80(j, label == 1 ? _weights.getInt80(j) + delta : _weights.getInt80(j) - delta);
        }
        intercept = _toInt80(label == 1 ? int256(intercept) + lr : int256(intercept) - lr);
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

    function _score(int64[] calldata data) private view returns (int256 score) {
        uint256 n = numFeatures;
        if (data.length != n) revert WrongDataLength(n, data.length);
        score = intercept;
        for (uint256 j = 0; j < n; ++j) {
            score += FixedPoint.mul(_weights.getInt80(j), data[j]);
        }
    }
}
