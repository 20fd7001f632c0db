// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IClassifier} from "./IClassifier.sol";
import {PerceptronBase} from "./PerceptronBase.sol";
import {Packed} from "../lib/Packed.sol";
import {PerceptronStep} from "../lib/PerceptronStep.sol";

/// @title SparsePerceptron
/// @notice Binary perceptron over sparse inputs: data is a list of feature indices
/// (e.g. bag-of-words, repeats count). score = intercept + sum of weights[i] over the
/// listed indices (fixed point); predict 1 if score > 0 else 0 (as scikit-learn).
/// A sample is learnt only when mispredicted: every listed weight and the intercept
/// move by +learningRate (label 1) or -learningRate (label 0), once per occurrence.
/// @dev Weights are int80 fixed point packed three to a storage word (PerceptronBase);
/// the weight step is lib/PerceptronStep's, which PredictionMarket's model also takes.
contract SparsePerceptron is IClassifier, PerceptronBase {
    using Packed for mapping(uint256 => uint256);

    /// @param numFeatures_ Feature count (> 0).
    /// @param learningRate_ Fixed-point step (> 0).
    /// @param intercept_ Initial bias, fixed point.
    constructor(uint64 numFeatures_, int80 learningRate_, int80 intercept_)
        PerceptronBase(numFeatures_, learningRate_, intercept_)
    {}

    function _step(int64[] calldata data, int256 step) internal override {
        uint256 slot = PerceptronStep.NO_SLOT;
        uint256 word;
        for (uint256 k = 0; k < data.length; ++k) {
            // range checked by _score
            (slot, word) = PerceptronStep.add(_weights, slot, word, uint256(int256(data[k])), step);
        }
        PerceptronStep.finish(_weights, slot, word);
    }

    function _score(int64[] calldata data) internal view override returns (int256 score) {
        uint256 n = numFeatures;
        score = intercept;
        for (uint256 k = 0; k < data.length; ++k) {
            score += _weights.getInt80(_featureIndex(data[k], k, n));
        }
    }
}
