// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ClassMatrixBase} from "./ClassMatrixBase.sol";
import {IClassifier} from "./IClassifier.sol";
import {FixedPoint} from "../lib/FixedPoint.sol";
import {Packed} from "../lib/Packed.sol";

/// @title NaiveBayes
/// @notice Multinomial naive Bayes with additive smoothing over sparse count data: data
/// lists feature indices, a repeated index counts twice. Training counts, per class,
/// the samples seen, each feature's occurrences and the total occurrences.
/// Prediction is argmax over classes c (ties: lowest c) of the integer score
///   log2(n_c*S + a) + sum over data of log2(count[c][f]*S + a) - len(data)*log2(total_c*S + a*V)
/// with S = 10^9, a = smoothing (fixed point), V = numFeatures and log2 = FixedPoint.log2
/// (fixed point, exact-reproducible off chain). The terms common to all classes are dropped.
/// @dev Feature counts are uint32 packed eight to a word, index c * numFeatures + f;
/// per class one word holds sampleCount (low 128 bits) and totalCount (high 128 bits).
contract NaiveBayes is IClassifier, ClassMatrixBase {
    using Packed for mapping(uint256 => uint256);

    /// @notice Additive smoothing a, fixed point (> 0).
    uint256 public immutable smoothing;

    mapping(uint256 => uint256) private _featureCounts;
    mapping(uint256 => uint256) private _classCounts;

    /// @param numClasses_ Classes (>= 2).
    /// @param numFeatures_ Vocabulary size (> 0).
    /// @param smoothing_ Fixed-point additive smoothing (> 0), e.g. 10^9 for Laplace.
    constructor(uint64 numClasses_, uint64 numFeatures_, uint256 smoothing_)
        ClassMatrixBase(numClasses_, numFeatures_)
    {
        if (smoothing_ == 0 || smoothing_ > type(uint64).max) revert InvalidParameter("smoothing");
        smoothing = smoothing_;
    }

    /// @notice Set count[classIndex][start .. start+len) before `finishInitialization`;
    /// the class's total count grows by the counts' sum. Owner only.
    function initializeFeatureCounts(uint64 classIndex, uint64 start, uint32[] calldata counts)
        external
        onlyOwner
        whileInitializing
    {
        uint256 base = _rowStart(classIndex, start, counts.length);
        uint256 added;
        uint256 removed;
        for (uint256 k = 0; k < counts.length; ++k) {
            uint256 i = base + k;
            added += counts[k];
            removed += _featureCounts.getUint32(i);
            _featureCounts.setUint32(i, counts[k]);
        }
        (uint256 samples, uint256 total) = _class(classIndex);
        _classCounts[classIndex] = samples | ((total + added - removed) << 128);
        emit ParametersInitialized(classIndex, start, counts.length);
    }

    /// @notice Set the number of samples seen for each class (one entry per class)
    /// before `finishInitialization`. Owner only.
    function initializeSampleCounts(uint128[] calldata sampleCounts) external onlyOwner whileInitializing {
        _checkPerClass(sampleCounts.length);
        for (uint256 c = 0; c < sampleCounts.length; ++c) {
            (, uint256 total) = _class(c);
            _classCounts[c] = uint256(sampleCounts[c]) | (total << 128);
        }
        emit ParametersInitialized(type(uint256).max, 0, sampleCounts.length);
    }

    /// @notice The most probable class for a list of feature indices. Free (view).
    function predict(int64[] calldata data) external view whenInitialized returns (uint64 best) {
        uint256 n = numFeatures;
        uint256 a = smoothing;
        _checkIndices(data);
        int256 bestScore = type(int256).min;
        for (uint256 c = 0; c < numClasses; ++c) {
            (uint256 samples, uint256 total) = _class(c);
            int256 score = FixedPoint.log2(samples * FixedPoint.USCALE + a)
                - int256(data.length) * FixedPoint.log2(total * FixedPoint.USCALE + a * n);
            uint256 base = c * n;
            for (uint256 k = 0; k < data.length; ++k) {
                uint256 count = _featureCounts.getUint32(base + uint256(int256(data[k])));
                score += FixedPoint.log2(count * FixedPoint.USCALE + a);
            }
            if (score > bestScore) {
                bestScore = score;
                best = uint64(c);
            }
        }
    }

    /// @notice Count one sample of class `label`. Owner only.
    function update(int64[] calldata data, uint64 label) external onlyOwner whenInitialized {
        _checkLabel(label, numClasses);
        uint256 n = numFeatures;
        uint256 base = uint256(label) * n;
        // Consecutive indices in one storage word are written once (see SparsePerceptron).
        uint256 slot = type(uint256).max;
        uint256 word;
        for (uint256 k = 0; k < data.length; ++k) {
            uint256 i = base + _featureIndex(data[k], k, n);
            if (i / 8 != slot) {
                if (slot != type(uint256).max) _featureCounts[slot] = word;
                slot = i / 8;
                word = _featureCounts[slot];
            }
            (word,) = Packed.incrementUint32(word, i);
        }
        if (slot != type(uint256).max) _featureCounts[slot] = word;
        (uint256 samples, uint256 total) = _class(label);
        samples += 1;
        total += data.length;
        if (samples > type(uint128).max || total > type(uint128).max) revert Packed.PackedValueOutOfRange(int256(total));
        _classCounts[label] = samples | (total << 128);
        emit ModelUpdated(label);
    }

    /// @notice count[classIndex][start .. start+count).
    function getFeatureCounts(uint64 classIndex, uint256 start, uint256 count)
        external
        view
        returns (uint32[] memory counts)
    {
        uint256 base = _rowStart(classIndex, start, count);
        counts = new uint32[](count);
        for (uint256 k = 0; k < count; ++k) {
            counts[k] = _featureCounts.getUint32(base + k);
        }
    }

    /// @notice Samples seen and total feature occurrences for `classIndex`.
    function getClassCounts(uint64 classIndex) external view returns (uint128 sampleCount, uint128 totalCount) {
        _checkLabel(classIndex, numClasses);
        (uint256 s, uint256 t) = _class(classIndex);
        return (uint128(s), uint128(t));
    }

    function _class(uint256 c) private view returns (uint256 samples, uint256 total) {
        uint256 w = _classCounts[c];
        return (w & type(uint128).max, w >> 128);
    }
}
