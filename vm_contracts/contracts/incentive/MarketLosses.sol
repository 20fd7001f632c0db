// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Packed} from "../lib/Packed.sol";
import {IMarketStages} from "./IMarketStages.sol";
import {MarketRound, Round, Stage} from "./MarketRound.sol";

/// @title MarketLosses
/// @notice PredictionMarket's reward stages (a) index and (b) losses (see the market's
/// notice): the test set as bit sets per feature, then the 0-1 loss of h(0) .. h(T) on
/// it, bit-sliced. A linked library: deployed once, its external functions run by
/// DELEGATECALL on the market's storage (the `Round` passed by reference), which keeps
/// the market's own code under EIP-170's limit without the optimizer.
library MarketLosses {
    /// @notice Most bits a v_j can need: |v_j| <= (65536 + 1) * 2^80 + 2^80 (int80
    /// weights and bias, in steps of at least 1).
    uint256 private constant MAX_SLICES = 104;
    /// @notice Bits of the per-contribution counts |x_t & x_j| + 1 (at most 65537).
    uint256 private constant MAX_COUNT_BITS = 17;

    // --- commitment: h(0) ------------------------------------------------------------

    /// @notice Start round `r`'s model at the given weights (packed int80 words, lib/Packed):
    /// the live model `live` and the copy the index stage reads. Called by
    /// `commit` when it is given weights (here to keep the market's code under EIP-170's
    /// limit).
    function setInitialWeights(Round storage r, mapping(uint256 => uint256) storage live, uint256[] calldata words)
        external
    {
        for (uint256 s = 0; s < words.length; ++s) {
            uint256 word = words[s];
            if (word == 0) continue;
            live[s] = word;
            r.initialWeights[s] = word;
        }
        r.hasInitialWeights = true;
    }

    // --- reward computation: (a) index --------------------------------------------

    /// One step per test sample: set its bit in the bit set of each of its features
    /// and, if labelled 1, in the label bit set, and write its start value
    /// v_j = -m_j = -(floor(-s_j / lr) + 1) into the slices (s_j its score under h(0)).
    /// Then start the losses.
    function indexSteps(uint256 id, Round storage r, uint256 steps) external returns (uint256) {
        uint256 n = r.testLabels.length;
        uint256 words = r.words;
        uint256 j = r.cursor;
        int256 lr = r.terms.learningRate;
        int256 b0 = r.terms.intercept;
        bool weighted = r.hasInitialWeights;
        while (steps > 0 && j < n) {
            bytes memory x = r.testData[j];
            uint256 w = j >> 8;
            uint256 bit = 1 << (j & 255);
            int256 score = b0;
            for (uint256 k = 0; k + 1 < x.length; k += 2) {
                uint256 i = MarketRound.index(x, k);
                r.postings[i * words + w] |= bit;
                if (weighted) score += Packed.getInt80(r.initialWeights, i);
            }
            if (r.testLabels[j] == 1) r.labelBits[w] |= bit;
            _setStart(r, w, bit, -_floorDiv(-score, lr) - 1, words);
            j += 1;
            steps -= 1;
        }
        r.cursor = j;
        if (j == n) _startLosses(id, r);
        return steps;
    }

    /// floor(a / b) for b > 0 (Solidity's division truncates toward zero).
    function _floorDiv(int256 a, int256 b) private pure returns (int256 q) {
        q = a / b;
        if (a % b != 0 && a < 0) q -= 1;
    }

    /// Write v into lane `bit` of word w of the slices (two's complement), widening them
    /// first (sign-extending the lanes written so far) if v needs more bits.
    function _setStart(Round storage r, uint256 w, uint256 bit, int256 v, uint256 words) private {
        uint256 bits = r.sliceBits;
        uint256 need = 2;
        while (v < -(int256(1) << (need - 1)) || v >= int256(1) << (need - 1)) need += 1;
        if (need > MAX_SLICES) revert Packed.PackedValueOutOfRange(v);
        if (need > bits) {
            for (uint256 b = bits; b < need; ++b) {
                for (uint256 ww = 0; ww < words; ++ww) {
                    r.slices[b * words + ww] = bits == 0 ? 0 : r.slices[(bits - 1) * words + ww];
                }
            }
            bits = need;
            r.sliceBits = bits;
        }
        for (uint256 b = 0; b < bits; ++b) {
            if ((uint256(v) >> b) & 1 == 1) r.slices[b * words + w] |= bit;
        }
    }

    /// The errors of h(0), from the start values the index stage wrote.
    function _startLosses(uint256 id, Round storage r) private {
        uint256 bits = r.sliceBits;
        uint256 words = r.words;
        uint256 n = r.testLabels.length;
        uint256 errs;
        for (uint256 w = 0; w < words; ++w) {
            errs += _popcount(~(r.slices[(bits - 1) * words + w] ^ r.labelBits[w]) & _laneMask(n, w));
        }
        MarketRound.setErrors(r, 0, errs);
        emit IMarketStages.LossComputed(id, 0, errs);
        r.stage = Stage.Losses;
        r.cursor = 1;
    }

    // --- reward computation: (b) losses -------------------------------------------

    /// The losses stage's working set within one transaction: v's slices, the count
    /// slices, the label bit set, W, n and v's width.
    struct Work {
        uint256[] v;
        uint256[] cnt;
        uint256[] labels;
        uint256 words;
        uint256 n;
        uint256 bits;
    }

    /// One step per contribution t: if it changed the model, v_j += +-(|x_t & x_j| + 1)
    /// for every test sample j, bit-sliced; then errors(t) = the samples whose sign of
    /// v_j disagrees with the label. The slices live in memory within a transaction.
    function lossSteps(uint256 id, Round storage r, uint256 steps) external returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 t = r.cursor;
        if (t > total) return _finishLosses(r, steps);
        Work memory work = _loadWork(r);
        uint256 errs = MarketRound.errors(r, t - 1);
        while (steps > 0 && t <= total) {
            uint8 flags = r.contributionFlags[t - 1];
            if (flags & 2 != 0) errs = _applyContribution(r, r.contributionData[t - 1], flags & 1 == 1, work);
            MarketRound.setErrors(r, t, errs);
            emit IMarketStages.LossComputed(id, t, errs);
            t += 1;
            steps -= 1;
        }
        _storeWork(r, work);
        r.cursor = t;
        if (t > total) return _finishLosses(r, steps);
        return steps;
    }

    function _loadWork(Round storage r) private view returns (Work memory work) {
        uint256 words = r.words;
        uint256 bits = r.sliceBits;
        work.words = words;
        work.n = r.testLabels.length;
        work.bits = bits;
        work.v = new uint256[](MAX_SLICES * words);
        work.cnt = new uint256[](MAX_COUNT_BITS * words);
        work.labels = new uint256[](words);
        for (uint256 w = 0; w < words; ++w) {
            work.labels[w] = r.labelBits[w];
            for (uint256 b = 0; b < bits; ++b) {
                work.v[b * words + w] = r.slices[b * words + w];
            }
        }
    }

    function _storeWork(Round storage r, Work memory work) private {
        uint256 words = work.words;
        uint256 bits = work.bits;
        for (uint256 w = 0; w < words; ++w) {
            for (uint256 b = 0; b < bits; ++b) {
                r.slices[b * words + w] = work.v[b * words + w];
            }
        }
        r.sliceBits = bits;
    }

    /// v += sign * (|x & x_j| + 1) for every j; returns the errors of the model after
    /// the step (and leaves v's new width in `work.bits`).
    function _applyContribution(Round storage r, bytes memory x, bool up, Work memory work)
        private
        view
        returns (uint256)
    {
        uint256 countBits = _counts(r, x, work);
        _addCounts(work, countBits, up);
        return _sliceErrors(work);
    }

    /// The counts |x & x_j| + 1 for every j, bit-sliced into `work.cnt` (slice 0 starts
    /// as all ones, the bias); returns how many slices they take.
    function _counts(Round storage r, bytes memory x, Work memory work) private view returns (uint256 countBits) {
        countBits = 1;
        uint256 most = x.length / 2 + 1;
        while (most >> countBits != 0) countBits += 1;
        uint256 words = work.words;
        uint256[] memory cnt = work.cnt;
        unchecked {
            for (uint256 w = 0; w < words; ++w) {
                cnt[w] = _laneMask(work.n, w);
                for (uint256 b = 1; b < countBits; ++b) {
                    cnt[b * words + w] = 0;
                }
            }
            for (uint256 k = 0; k + 1 < x.length; k += 2) {
                uint256 base = MarketRound.index(x, k) * words;
                for (uint256 w = 0; w < words; ++w) {
                    uint256 carry = r.postings[base + w];
                    for (uint256 b = 0; carry != 0; ++b) {
                        uint256 c = cnt[b * words + w];
                        cnt[b * words + w] = c ^ carry;
                        carry = c & carry;
                    }
                }
            }
        }
    }

    /// v +-= cnt, widening v first so that the sum cannot overflow and narrowing it
    /// after (dropping slices equal to the one below: redundant sign bits).
    function _addCounts(Work memory work, uint256 countBits, bool up) private pure {
        uint256 words = work.words;
        uint256 bits = work.bits;
        uint256[] memory v = work.v;
        uint256 wide = (bits > countBits + 1 ? bits : countBits + 1) + 1;
        if (wide > MAX_SLICES) revert Packed.PackedValueOutOfRange(int256(wide));
        uint256 flip = up ? 0 : type(uint256).max; // subtracting: add ~cnt + 1
        unchecked {
            for (uint256 w = 0; w < words; ++w) {
                uint256 top = v[(bits - 1) * words + w];
                for (uint256 b = bits; b < wide; ++b) {
                    v[b * words + w] = top;
                }
                _addWord(work, w, wide, countBits, flip);
            }
            while (wide > 2 && _sameSlices(v, words, wide - 1, wide - 2)) wide -= 1;
        }
        work.bits = wide;
    }

    /// Ripple-carry v +-= cnt on word w of every slice below `wide`.
    function _addWord(Work memory work, uint256 w, uint256 wide, uint256 countBits, uint256 flip) private pure {
        uint256 words = work.words;
        uint256[] memory v = work.v;
        uint256[] memory cnt = work.cnt;
        uint256 mask = _laneMask(work.n, w);
        uint256 carry = flip;
        unchecked {
            for (uint256 b = 0; b < wide; ++b) {
                uint256 a = v[b * words + w];
                uint256 c = (b < countBits ? cnt[b * words + w] : 0) ^ flip;
                uint256 half = a ^ c;
                v[b * words + w] = (half ^ carry) & mask;
                carry = (a & c) | (carry & half);
            }
        }
    }

    function _sameSlices(uint256[] memory v, uint256 words, uint256 a, uint256 b) private pure returns (bool) {
        for (uint256 w = 0; w < words; ++w) {
            if (v[a * words + w] != v[b * words + w]) return false;
        }
        return true;
    }

    /// Test samples whose prediction (1 exactly when v_j >= 0) differs from the label.
    function _sliceErrors(Work memory work) private pure returns (uint256 errs) {
        uint256 words = work.words;
        uint256 top = (work.bits - 1) * words;
        for (uint256 w = 0; w < words; ++w) {
            errs += _popcount(~(work.v[top + w] ^ work.labels[w]) & _laneMask(work.n, w));
        }
    }

    function _finishLosses(Round storage r, uint256 steps) private returns (uint256) {
        r.cursor = 1;
        r.pass = 0;
        r.stage = r.contributors.length == 0 ? Stage.Credit : Stage.Balances;
        if (r.stage == Stage.Credit) r.cursor = 0;
        return steps;
    }

    /// The lanes of word w that hold test samples (j < n).
    function _laneMask(uint256 n, uint256 w) private pure returns (uint256) {
        uint256 left = n - w * 256;
        return left >= 256 ? type(uint256).max : (uint256(1) << left) - 1;
    }

    /// Set bits of a word (SWAR).
    function _popcount(uint256 x) private pure returns (uint256) {
        if (x == type(uint256).max) return 256;
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            return (x * 0x0101010101010101010101010101010101010101010101010101010101010101) >> 248;
        }
    }

}
