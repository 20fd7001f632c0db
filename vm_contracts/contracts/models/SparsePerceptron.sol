// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassifierBase} from "./ClassifierBase.sol";
import {Packed} from "../lib/Packed.sol";

/// @title SparsePerceptron
/// @notice Binary perceptron over sparse inputs: data is a list of feature indices
/// (e.g. bag-of-words, repeats count). score = intercept + sum of weights[i] over the
/// listed indices (fixed point); predict 1 if score > 0 else 0 (as scikit-learn).
/// A sample is learnt only when mispredicted: every listed weight and the intercept
/// move by +learningRate (label 1) or -learningRate (label 0), once per occurrence.
/// @dev Weights are int80 fixed point packed three to a storage word.
contract SparsePerceptron is ClassifierBase {
    using Packed for mapping(uint256 => uint256);

    /// @notice Bias term, fixed point (shares slot 0 with owner and initialized).
    int80 public intercept;
    /// @notice Number of features; valid indices are 0 .. numFeatures-1.
    uint64 public immutable numFeatures;
    /// @notice Step added to or taken from weights on a mistake, fixed point.
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
    /// @param start First feature index.
    /// @param weights Fixed-point weights.
    function initializeWeights(uint64 start, int80[] calldata weights) external onlyOwner whileInitializing {
        _checkRange(start, weights.length, numFeatures);
        for (uint256 k = 0; k < weights.length; ++k) {
            _weights.setInt80(start + k, weights[k]);
        }
        emit ParametersInitialized(0, start, weights.length);
    }

    /// @notice Class (0 or 1) for a list of feature indices. Free (view).
    /// @param data Feature indices in [0, numFeatures).
    function predict(int64[] calldata data) external view whenInitialized returns (uint64) {
        return _score(data) > 0 ? 1 : 0;
    }

    /// @notice Learn from (data, label) if the model mispredicts it. Owner only.
    /// @param data Feature indices in [0, numFeatures).
    /// @param label 0 or 1.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, 2);
        uint64 prediction = _score(data) > 0 ? 1 : 0;
        if (prediction == label) return;
        int256 step = label == 1 ? int256(learningRate) : -int256(learningRate);
        // Consecutive indices in one storage word (sorted bag-of-words data) are
        // written once: the word is kept in memory until the next index leaves it.
        uint256 slot = type(uint256).max;
        uint256 word;
        for (uint256 k = 0; k < data.length; ++k) {
            uint256 i = uint256(int256(data[k])); // range checked by _score
            uint256 s = i / 3;
            if (s != slot) {
                if (slot != type(uint256).max) _weights[slot] = word;
                slot = s;
                word = _weights[s];
            }
            word = Packed.withInt80(word, i, int256(Packed.int80At(word, i)) + step);
        }
        if (slot != type(uint256).max) _weights[slot] = word;
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

    function _score(int64[] calldata data) private view returns (int256 score) {
        uint256 n = numFeatures;
        score = intercept;
        for (uint256 k = 0; k < data.length; ++k) {
            score += _weights.getInt80(_featureIndex(data[k], k, n));
        }
    }
}
