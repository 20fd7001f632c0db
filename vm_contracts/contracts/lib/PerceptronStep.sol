// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Packed} from "./Packed.sol";

/// @title PerceptronStep
/// @notice The sparse perceptron's learning step on int80 weights packed three to a
/// storage word (lib/Packed): every listed index's weight and the bias move by the
/// same signed step. SparsePerceptron and PredictionMarket's model both take it, so the
/// two cannot drift apart (vm_contracts/reference.py's SparsePerceptron is the twin).
/// @dev A caller walks its indices (however it stores them) and threads (slot, word)
/// through `add`, starting from NO_SLOT, then calls `finish`: consecutive indices in one
/// storage word (sorted bag-of-words data) are read and written once.
library PerceptronStep {
    /// @notice "No storage word held yet", the first `slot` of a walk.
    uint256 internal constant NO_SLOT = type(uint256).max;

    /// @notice weights[i] += step, holding the storage word of i in (slot, word) and
    /// writing back the previous word when i leaves it. Reverts PackedValueOutOfRange
    /// when the weight leaves int80.
    function add(mapping(uint256 => uint256) storage weights, uint256 slot, uint256 word, uint256 i, int256 step)
        internal
        returns (uint256, uint256)
    {
        uint256 s = i / 3;
        if (s != slot) {
            if (slot != NO_SLOT) weights[slot] = word;
            slot = s;
            word = weights[s];
        }
        return (slot, Packed.withInt80(word, i, int256(Packed.int80At(word, i)) + step));
    }

    /// @notice Write back the word a walk of `add` still holds.
    function finish(mapping(uint256 => uint256) storage weights, uint256 slot, uint256 word) internal {
        if (slot != NO_SLOT) weights[slot] = word;
    }

    /// @notice The step of a mistake: +learningRate for label 1, -learningRate for label 0.
    function signedStep(int256 learningRate, uint256 label) internal pure returns (int256) {
        return label == 1 ? learningRate : -learningRate;
    }

    /// @notice bias + step; reverts PackedValueOutOfRange when it leaves int80.
    function movedBias(int256 bias, int256 step) internal pure returns (int256 moved) {
        moved = bias + step;
        if (moved < type(int80).min || moved > type(int80).max) revert Packed.PackedValueOutOfRange(moved);
    }
}
