// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Owned} from "../lib/Owned.sol";
import {IClassifier} from "./IClassifier.sol";
import {Packed} from "../lib/Packed.sol";

/// @title ClassifierBase
/// @notice What every model shares: an owner (the trainer once handed over), a
/// two-phase life (initialise in as many transactions as the gas limit needs, then
/// `finishInitialization`; only then predict and update), and the input errors. It is
/// an IClassifier, so the compiler checks that every model fits the trainer; each model
/// also names IClassifier among its bases.
abstract contract ClassifierBase is Owned, IClassifier {
    /// @notice True once `finishInitialization` ran; parameters can no longer be set
    /// directly, only trained through `update`.
    bool public initialized;

    /// @notice The owner closed initialisation; the model is usable.
    event InitializationFinished();
    /// @notice Parameters `start` .. `start + count - 1` of `part` were set during
    /// initialisation (`part` is the model's name for the array, e.g. a class index).
    event ParametersInitialized(uint256 indexed part, uint256 start, uint256 count);
    /// @notice The model was trained on a sample with `label` and its parameters changed.
    event ModelUpdated(uint64 label);

    /// @notice predict/update called before `finishInitialization`.
    error NotInitialized();
    /// @notice An initialisation call after `finishInitialization`.
    error AlreadyInitialized();
    /// @notice Data element at `position` is not a feature index in [0, numFeatures).
    error FeatureIndexOutOfRange(uint256 position, int64 index);
    /// @notice Dense data must have exactly one value per feature.
    error WrongDataLength(uint256 expected, uint256 actual);
    /// @notice `label` is not a class of this model (classes are 0 .. numClasses-1).
    error LabelOutOfRange(uint64 label, uint64 numClasses);
    /// @notice An initialisation or read range [start, start+count) exceeds `size`.
    error RangeOutOfBounds(uint256 start, uint256 count, uint256 size);
    /// @notice A constructor argument is unusable (`what` names it).
    error InvalidParameter(string what);

    modifier whenInitialized() {
        if (!initialized) revert NotInitialized();
        _;
    }

    modifier whileInitializing() {
        if (initialized) revert AlreadyInitialized();
        _;
    }

    /// @notice Close initialisation: from now on the model predicts and trains, and no
    /// parameter can be set directly. Owner only, once.
    function finishInitialization() external onlyOwner whileInitializing {
        initialized = true;
        emit InitializationFinished();
    }

    function _checkRange(uint256 start, uint256 count, uint256 size) internal pure {
        if (start > size || count > size - start) revert RangeOutOfBounds(start, count, size);
    }

    function _toInt80(int256 value) internal pure returns (int80) {
        if (value < type(int80).min || value > type(int80).max) revert Packed.PackedValueOutOfRange(value);
        return int80(value);
    }

    function _checkLabel(uint64 label, uint64 numClasses) internal pure {
        if (label >= numClasses) revert LabelOutOfRange(label, numClasses);
    }

    function _featureIndex(int64 value, uint256 position, uint256 numFeatures) internal pure returns (uint256) {
        if (value < 0 || uint256(int256(value)) >= numFeatures) revert FeatureIndexOutOfRange(position, value);
        return uint256(int256(value));
    }
}
