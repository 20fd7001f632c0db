// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassMatrixBase} from "./ClassMatrixBase.sol";
import {IClassifier} from "./IClassifier.sol";
import {Packed} from "../lib/Packed.sol";

/// @title SparseNearestCentroid
/// @notice Nearest-centroid classifier over sparse inputs: data lists feature indices
/// and stands for the count vector x (x[f] = occurrences of f). Each class keeps the
/// exact sum s_c of its samples, the sample count n_c and the squared norm |s_c|^2, so
/// the centroid is s_c / n_c exactly and an update costs O(len(data)), not
/// O(numFeatures) (a running mean would have to touch every feature).
/// Predict = argmin over classes with n_c > 0 (ties: lowest c; none: class 0) of
///   |x - s_c/n_c|^2 - |x|^2 = (|s_c|^2 - 2 n_c (x . s_c)) / n_c^2,
/// compared exactly by cross-multiplication.
/// @dev Sums are uint32 packed eight to a word, index c * numFeatures + f; per class one
/// word holds sampleCount (low 64 bits) and squaredNorm (high 192 bits).
contract SparseNearestCentroid is IClassifier, ClassMatrixBase {
    using Packed for mapping(uint256 => uint256);

    mapping(uint256 => uint256) private _sums;
    mapping(uint256 => uint256) private _classes;

    /// @param numClasses_ Classes (>= 2).
    /// @param numFeatures_ Vocabulary size (> 0).
    constructor(uint64 numClasses_, uint64 numFeatures_) ClassMatrixBase(numClasses_, numFeatures_) {}

    /// @notice Set s[classIndex][start .. start+len) before `finishInitialization`; the
    /// class's squared norm follows. Owner only.
    function initializeSums(uint64 classIndex, uint64 start, uint32[] calldata sums) external onlyOwner whileInitializing {
        uint256 base = _rowStart(classIndex, start, sums.length);
        (uint256 count, uint256 norm) = _class(classIndex);
        for (uint256 k = 0; k < sums.length; ++k) {
            uint256 old = _sums.getUint32(base + k);
            norm = norm + uint256(sums[k]) * sums[k] - old * old;
            _sums.setUint32(base + k, sums[k]);
        }
        _classes[classIndex] = count | (norm << 64);
        emit ParametersInitialized(classIndex, start, sums.length);
    }

    /// @notice Set each class's sample count (one entry per class) before
    /// `finishInitialization`. Owner only.
    function initializeSampleCounts(uint64[] calldata counts) external onlyOwner whileInitializing {
        _checkPerClass(counts.length);
        for (uint256 c = 0; c < counts.length; ++c) {
            (, uint256 norm) = _class(c);
            _classes[c] = uint256(counts[c]) | (norm << 64);
        }
        emit ParametersInitialized(type(uint256).max, 0, counts.length);
    }

    /// @notice The class whose centroid is nearest to the count vector of `data`. Free (view).
    function predict(int64[] calldata data) external view whenInitialized returns (uint64 best) {
        uint256 n = numFeatures;
        _checkIndices(data);
        int256 bestNumerator;
        uint256 bestDenominator; // 0 = no candidate yet
        for (uint256 c = 0; c < numClasses; ++c) {
            (uint256 count, uint256 norm) = _class(c);
            if (count == 0) continue;
            uint256 dot;
            uint256 base = c * n;
            for (uint256 k = 0; k < data.length; ++k) {
                dot += _sums.getUint32(base + uint256(int256(data[k])));
            }
            int256 numerator = int256(norm) - 2 * int256(count) * int256(dot);
            uint256 denominator = count * count;
            if (bestDenominator == 0 || numerator * int256(bestDenominator) < bestNumerator * int256(denominator)) {
                bestNumerator = numerator;
                bestDenominator = denominator;
                best = uint64(c);
            }
        }
    }

    /// @notice Add the count vector of `data` to class `label`. Owner only.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, numClasses);
        uint256 n = numFeatures;
        uint256 base = uint256(label) * n;
        (uint256 count, uint256 norm) = _class(label);
        // Consecutive indices in one storage word are written once (see SparsePerceptron).
        uint256 slot = type(uint256).max;
        uint256 word;
        for (uint256 k = 0; k < data.length; ++k) {
            uint256 i = base + _featureIndex(data[k], k, n);
            if (i / 8 != slot) {
                if (slot != type(uint256).max) _sums[slot] = word;
                slot = i / 8;
                word = _sums[slot];
            }
            uint256 s;
            (word, s) = Packed.incrementUint32(word, i);
            norm += 2 * s - 1; // s^2 - (s - 1)^2
        }
        if (slot != type(uint256).max) _sums[slot] = word;
        count += 1;
        if (count > type(uint64).max || norm > type(uint192).max) revert Packed.PackedValueOutOfRange(int256(count));
        _classes[label] = count | (norm << 64);
        emit ModelUpdated(label);
    }

    /// @notice s[classIndex][start .. start+count): per-feature occurrence sums.
    function getSums(uint64 classIndex, uint256 start, uint256 count) external view returns (uint32[] memory sums) {
        uint256 base = _rowStart(classIndex, start, count);
        sums = new uint32[](count);
        for (uint256 k = 0; k < count; ++k) {
            sums[k] = _sums.getUint32(base + k);
        }
    }

    /// @notice Samples added to `classIndex` and the squared norm of its sum vector.
    function getClass(uint64 classIndex) external view returns (uint64 sampleCount, uint192 squaredNorm) {
        _checkLabel(classIndex, numClasses);
        (uint256 count, uint256 norm) = _class(classIndex);
        return (uint64(count), uint192(norm));
    }

    function _class(uint256 c) private view returns (uint256 count, uint256 norm) {
        uint256 w = _classes[c];
        return (w & type(uint64).max, w >> 64);
    }
}
