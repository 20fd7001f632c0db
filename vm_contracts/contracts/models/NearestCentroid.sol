// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassMatrixBase} from "./ClassMatrixBase.sol";
import {IClassifier} from "./IClassifier.sol";
import {Packed} from "../lib/Packed.sol";

/// @title NearestCentroid
/// @notice Nearest-centroid classifier over dense fixed-point vectors (one value per
/// feature). Each class keeps the running mean of its samples: on a sample x of class c
/// seen n times before, centroid[c][j] += (x[j] - centroid[c][j]) / (n + 1), the
/// division truncating toward zero. Predict = the class with the smallest squared
/// Euclidean distance sum_j (x[j] - centroid[c][j])^2 (exact integers; ties: lowest c).
/// @dev Centroids are int80 fixed point packed three to a word, index c * numFeatures + j.
contract NearestCentroid is IClassifier, ClassMatrixBase {
    using Packed for mapping(uint256 => uint256);

    mapping(uint256 => uint256) private _centroids;
    /// @notice Samples averaged into each class's centroid.
    mapping(uint256 => uint256) public sampleCounts;

    /// @param numClasses_ Classes (>= 2).
    /// @param numFeatures_ Vector length (> 0).
    constructor(uint64 numClasses_, uint64 numFeatures_) ClassMatrixBase(numClasses_, numFeatures_) {}

    /// @notice Set centroid[classIndex][start .. start+len) before `finishInitialization`. Owner only.
    function initializeCentroid(uint64 classIndex, uint64 start, int80[] calldata values)
        external
        onlyOwner
        whileInitializing
    {
        uint256 base = _rowStart(classIndex, start, values.length);
        for (uint256 k = 0; k < values.length; ++k) {
            _centroids.setInt80(base + k, values[k]);
        }
        emit ParametersInitialized(classIndex, start, values.length);
    }

    /// @notice Set how many samples each class's centroid averages (one entry per class)
    /// before `finishInitialization`. Owner only.
    function initializeSampleCounts(uint64[] calldata counts) external onlyOwner whileInitializing {
        _checkPerClass(counts.length);
        for (uint256 c = 0; c < counts.length; ++c) {
            sampleCounts[c] = counts[c];
        }
        emit ParametersInitialized(type(uint256).max, 0, counts.length);
    }

    /// @notice The class whose centroid is nearest to `data`. Free (view).
    /// @param data numFeatures fixed-point values.
    function predict(int64[] calldata data) external view whenInitialized returns (uint64 best) {
        uint256 n = numFeatures;
        _checkDense(data);
        uint256 bestDistance = type(uint256).max;
        for (uint256 c = 0; c < numClasses; ++c) {
            uint256 distance;
            uint256 base = c * n;
            for (uint256 j = 0; j < n; ++j) {
                int256 d = int256(data[j]) - _centroids.getInt80(base + j);
                distance += uint256(d * d);
            }
            if (distance < bestDistance) {
                bestDistance = distance;
                best = uint64(c);
            }
        }
    }

    /// @notice Move class `label`'s centroid toward `data` (running mean). Owner only.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, numClasses);
        uint256 n = numFeatures;
        _checkDense(data);
        uint256 count = sampleCounts[label];
        int256 divisor = int256(count + 1);
        uint256 base = uint256(label) * n;
        for (uint256 j = 0; j < n; ++j) {
            int256 c = _centroids.getInt80(base + j);
            _centroids.setInt80(base + j, c + (int256(data[j]) - c) / divisor);
        }
        sampleCounts[label] = count + 1;
        emit ModelUpdated(label);
    }

    /// @notice centroid[classIndex][start .. start+count), fixed point.
    function getCentroid(uint64 classIndex, uint256 start, uint256 count)
        external
        view
        returns (int80[] memory values)
    {
        uint256 base = _rowStart(classIndex, start, count);
        values = new int80[](count);
        for (uint256 k = 0; k < count; ++k) {
            values[k] = _centroids.getInt80(base + k);
        }
    }
}
