// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Packed} from "../lib/Packed.sol";

// The types of PredictionMarket's rounds, at file level so that the market and its
// linked reward-stage libraries (MarketLosses, MarketBalances) share one definition of
// the storage they work on.

/// @notice A round's phase (Participation also covers the time after its end
/// condition until the first reward-phase reveal; see `phaseOf`).
enum Phase {
    None,
    Commitment,
    Participation,
    Reveal,
    Computing,
    Finished,
    Aborted
}

/// @notice What the reward computation is doing (see the contract's notice, 3a-3d).
enum Stage {
    Index,
    Losses,
    Balances,
    Credit,
    Done
}

/// @notice What the provider fixes in `commit`.
struct Terms {
    /// @dev Wei per stake unit; the bounty must be a positive multiple of it.
    uint256 stakeUnit;
    /// @dev Model features (1 .. 65536); data are indices below it.
    uint64 numFeatures;
    /// @dev Perceptron step, fixed point (10^9), > 0.
    int80 learningRate;
    /// @dev Initial bias, fixed point.
    int80 intercept;
    /// @dev Parts revealed before participation (1 .. K-1).
    uint32 initialParts;
    /// @dev Participation lasts at most this long (s); 0 = no time limit.
    uint64 durationSeconds;
    /// @dev Participation ends at this many contributions; 0 = no count limit.
    uint64 maxContributions;
    /// @dev Time the provider has for each reveal step (s), > 0.
    uint64 revealWindowSeconds;
    /// @dev true: the loss counts only the K - k parts revealed after participation (the
    /// original framework's rule: the k parts every contributor has seen do not count);
    /// false: the loss is over all K parts.
    bool lossOnLaterParts;
}

struct Round {
    address provider;
    Phase phase;
    Stage stage;
    uint8 pass; // Balances: 0 schedule the first round, 1 collect leavers, 2 unlink them
    uint64 seedBlock;
    uint64 committedAt;
    uint64 startedAt;
    uint64 closedAt;
    bool drawn;
    bool hasInitialWeights; // h(0) has the weights in `initialWeights` (else zero weights)
    Terms terms;
    uint256 bounty;
    bytes32[] partHashes;
    mapping(uint256 => bool) selected;
    mapping(uint256 => bool) revealed;
    uint256 revealedParts;
    // the test set D, one packed sample per entry
    bytes[] testData;
    uint8[] testLabels;
    // contributions t = 1 .. T (index t - 1); flags: bit 0 label, bit 1 model changed
    address[] contributors;
    bytes[] contributionData;
    uint8[] contributionFlags;
    int256 liveIntercept;
    // reward computation
    uint256 cursor; // Index: next test sample; Losses: next t; Balances: see `pass`; Credit: last t
    uint256 words; // W = ceil(n / 256): words per bit set over D
    uint256 sliceBits; // bits of the v_j slices in use
    mapping(uint256 => uint256) postings; // feature * W + w => samples holding it
    mapping(uint256 => uint256) labelBits; // w => samples labelled 1
    mapping(uint256 => uint256) slices; // bit * W + w => that bit of v_j
    mapping(uint256 => uint256) errorWords; // errors of h(t), uint32 entries (lib/Packed)
    uint256 rounds; // B
    uint256 clock; // the last round whose leavers are applied
    uint256 bucket; // the round whose leavers are being applied
    mapping(uint256 => uint256) members; // t => k (int128) | base round << 128 | due << 192
    mapping(uint256 => uint256) links; // t => prev + 1 | (next + 1) << 128 (0: t - 1, t + 1)
    mapping(uint256 => uint256) heap; // min-heap of due << 128 | t, from index 0
    uint256 heapSize;
    mapping(uint256 => uint256) leavers; // the members leaving after round `bucket`
    uint256 leaverCount;
    mapping(address => uint256) owed; // wei * n
    mapping(address => uint256) stakes; // wei, for refunds after an abort
    mapping(address => bool) withdrawn;
    // h(0)'s int80 weights, three to a word (lib/Packed), kept for the reward computation
    mapping(uint256 => uint256) initialWeights;
}


/// @title MarketRound
/// @notice Helpers PredictionMarket and its reward-stage libraries share (inlined into
/// each: internal functions).
library MarketRound {
    /// @notice Blocks for which a block hash stays readable (EVM rule).
    uint256 internal constant BLOCKHASH_WINDOW = 256;

    /// @notice The k of K parts a seed selects: the first k of a Fisher-Yates shuffle
    /// of 0..K-1, draw i using keccak256(seed, round, i) mod (K - i).
    function drawParts(bytes32 seed, uint256 round, uint256 numParts, uint256 k)
        internal
        pure
        returns (uint256[] memory chosen)
    {
        uint256[] memory order = new uint256[](numParts);
        for (uint256 i = 0; i < numParts; ++i) {
            order[i] = i;
        }
        chosen = new uint256[](k);
        for (uint256 i = 0; i < k; ++i) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, round, i))) % (numParts - i);
            (order[i], order[j]) = (order[j], order[i]);
            chosen[i] = order[i];
        }
    }

    /// @notice The phase of `r` as it stands now (Participation becomes Reveal once its
    /// end condition is met).
    function phase(Round storage r) internal view returns (Phase) {
        if (r.phase == Phase.Participation && ended(r)) return Phase.Reveal;
        return r.phase;
    }

    /// @notice Whether participation has met its end condition (time or count).
    function ended(Round storage r) internal view returns (bool) {
        if (r.closedAt != 0) return true;
        return r.terms.durationSeconds != 0 && block.timestamp >= r.startedAt + r.terms.durationSeconds;
    }

    /// @notice When participation ended (s), 0 while it has not and has no time limit.
    function closedAt(Round storage r) internal view returns (uint256) {
        if (r.closedAt != 0) return r.closedAt;
        if (r.startedAt == 0 || r.terms.durationSeconds == 0) return 0;
        return r.startedAt + r.terms.durationSeconds;
    }

    /// @notice Test errors of h(t) (uint32 entries of `errorWords`, lib/Packed).
    function errors(Round storage r, uint256 t) internal view returns (uint256) {
        return Packed.getUint32(r.errorWords, t);
    }

    /// @notice Record the test errors of h(t) (`errs` < 2^32: at most the test-set size).
    function setErrors(Round storage r, uint256 t, uint256 errs) internal {
        uint256 shift = 32 * (t % 8);
        uint256 word = r.errorWords[t / 8];
        r.errorWords[t / 8] = (word & ~(uint256(type(uint32).max) << shift)) | (errs << shift);
    }

    /// @notice Feature index at byte `k` of a packed sample (big-endian uint16).
    function index(bytes memory x, uint256 k) internal pure returns (uint256) {
        return (uint256(uint8(x[k])) << 8) | uint256(uint8(x[k + 1]));
    }
}
