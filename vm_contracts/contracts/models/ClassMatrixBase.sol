// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassifierBase} from "./ClassifierBase.sol";

/// @title ClassMatrixBase
/// @notice What the multi-class models (NaiveBayes, NearestCentroid,
/// SparseNearestCentroid) share: numClasses x numFeatures parameters stored row by row
/// (entry (c, f) at flat index c * numFeatures + f), their constructor checks, and the
/// checks of a row range, of a per-class array and of the input data.
abstract contract ClassMatrixBase is ClassifierBase {
    /// @notice Number of classes; labels are 0 .. numClasses-1.
    uint64 public immutable numClasses;
    /// @notice Vocabulary size (sparse models: indices 0 .. numFeatures-1) or vector
    /// length (dense models).
    uint64 public immutable numFeatures;

    /// @param numClasses_ Classes (>= 2).
    /// @param numFeatures_ Features (> 0).
    constructor(uint64 numClasses_, uint64 numFeatures_) {
        if (numClasses_ < 2) revert InvalidParameter("numClasses");
        if (numFeatures_ == 0) revert InvalidParameter("numFeatures");
        numClasses = numClasses_;
        numFeatures = numFeatures_;
    }

    /// @dev Flat index of entry (classIndex, start), after checking that classIndex is a
    /// class and that [start, start + count) lies within its row.
    function _rowStart(uint64 classIndex, uint256 start, uint256 count) internal view returns (uint256) {
        _checkLabel(classIndex, numClasses);
        _checkRange(start, count, numFeatures);
        return uint256(classIndex) * numFeatures + start;
    }

    /// @dev A per-class array (e.g. sample counts) must have one entry per class.
    function _checkPerClass(uint256 length) internal view {
        if (length != numClasses) revert WrongDataLength(numClasses, length);
    }

    /// @dev Sparse data: every element a feature index below numFeatures.
    function _checkIndices(int64[] calldata data) internal view {
        uint256 n = numFeatures;
        for (uint256 k = 0; k < data.length; ++k) {
            _featureIndex(data[k], k, n);
        }
    }

    /// @dev Dense data: exactly one value per feature.
    function _checkDense(int64[] calldata data) internal view {
        if (data.length != numFeatures) revert WrongDataLength(numFeatures, data.length);
    }
}
