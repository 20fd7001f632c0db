// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IClassifier} from "./IClassifier.sol";
import {PerceptronBase} from "./PerceptronBase.sol";
import {FixedPoint} from "../lib/FixedPoint.sol";
import {Packed} from "../lib/Packed.sol";

/// @title DensePerceptron
/// @notice Binary perceptron over dense inputs: data holds one fixed-point value per
/// feature. score = intercept + sum_j FixedPoint.mul(weights[j], x[j]); predict 1 if
/// score > 0 else 0. On a mistake, weights[j] += +/- FixedPoint.mul(learningRate, x[j])
/// and intercept += +/- learningRate (+ for label 1, - for label 0).
/// @dev Weights are int80 fixed point packed three to a storage word (PerceptronBase).
contract DensePerceptron is IClassifier, PerceptronBase {
    using Packed for mapping(uint256 => uint256);

    /// @param numFeatures_ Feature count (> 0) = required data length.
    /// @param learningRate_ Fixed-point step (> 0).
    /// @param intercept_ Initial bias, fixed point.
    constructor(uint64 numFeatures_, int80 learningRate_, int80 intercept_)
        PerceptronBase(numFeatures_, learningRate_, intercept_)
    {}

    function _step(int64[] calldata data, int256 step) internal override {
        for (uint256 j = 0; j < data.length; ++j) {
            // mul(-lr, x) = -mul(lr, x): FixedPoint truncates toward zero
            int256 delta = FixedPoint.mul(step, data[j]);
            if (delta == 0) continue;
            _weights.setInt80(j, _weights.getInt80(j) + delta);
        }
    }

    function _score(int64[] calldata data) internal view override returns (int256 score) {
        uint256 n = numFeatures;
        if (data.length != n) revert WrongDataLength(n, data.length);
        score = intercept;
        for (uint256 j = 0; j < n; ++j) {
            score += FixedPoint.mul(_weights.getInt80(j), data[j]);
        }
    }
}
