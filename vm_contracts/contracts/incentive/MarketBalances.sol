// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IMarketStages} from "./IMarketStages.sol";
import {MarketRound, Phase, Round, Stage} from "./MarketRound.sol";

/// @title MarketBalances
/// @notice PredictionMarket's reward stages (c) balances, by the paper's iterated rule
/// scheduled on a min-heap of the rounds at which members leave S, and (d) credit (see
/// the market's notice), the payout's checks and effects, and the draw of the initial
/// parts and the abort (moved here from the market to keep its unoptimized code under
/// EIP-170's limit). A linked library, like MarketLosses: run by DELEGATECALL on the
/// market's storage.
/// @dev A member record is k (int128) | base round << BASE_SHIFT | due round << DUE_SHIFT.
library MarketBalances {
    uint256 internal constant DUE_SHIFT = 192;
    uint256 internal constant BASE_SHIFT = 128;
    uint256 internal constant MASK64 = (1 << 64) - 1;
    uint256 internal constant MASK128 = (1 << 128) - 1;
    /// @dev `due` of a member that left S (its balance is final) and is still linked.
    uint256 internal constant LEAVING = MASK64;
    /// @dev `due` of a member that left S and is unlinked.
    uint256 internal constant GONE = MASK64 - 1;

    // --- commitment and aborts (here to keep the market under EIP-170's limit) ------

    /// @notice `drawTestParts` of round `id`: the k parts to reveal first, from the hash
    /// of the block after the commit, within BLOCKHASH_WINDOW blocks of it.
    function draw(uint256 id, Round storage r) external {
        if (r.phase != Phase.Commitment) revert IMarketStages.WrongPhase(Phase.Commitment, r.phase);
        if (r.drawn) revert IMarketStages.AlreadyDrawn();
        if (block.number <= r.seedBlock) revert IMarketStages.TooEarly(r.seedBlock + 1);
        bytes32 seed = blockhash(r.seedBlock);
        if (seed == bytes32(0)) revert IMarketStages.SeedExpired(r.seedBlock);
        uint256[] memory chosen = MarketRound.drawParts(seed, id, r.partHashes.length, r.terms.initialParts);
        for (uint256 i = 0; i < chosen.length; ++i) {
            r.selected[chosen[i]] = true;
        }
        r.drawn = true;
        emit IMarketStages.TestPartsDrawn(id, chosen);
    }

    /// @notice `abortRound` of round `id`: once a reveal deadline passed (the drawn parts
    /// `revealWindowSeconds` after the commit, the rest after participation) or the
    /// draw's seed expired.
    function abort(uint256 id, Round storage r) external {
        Phase p = MarketRound.phase(r);
        uint256 deadline;
        if (p == Phase.Commitment) {
            bool seedExpired = !r.drawn && block.number > r.seedBlock + MarketRound.BLOCKHASH_WINDOW;
            deadline = r.committedAt + r.terms.revealWindowSeconds;
            if (!seedExpired && block.timestamp <= deadline) revert IMarketStages.CannotAbort(deadline);
        } else if (p == Phase.Reveal) {
            deadline = MarketRound.closedAt(r) + r.terms.revealWindowSeconds;
            if (block.timestamp <= deadline) revert IMarketStages.CannotAbort(deadline);
        } else {
            revert IMarketStages.CannotAbort(0);
        }
        r.phase = Phase.Aborted;
        emit IMarketStages.RoundAborted(id);
    }

    // --- reward computation: (c) balances -----------------------------------------

    /// The iterated rule, jumping between the rounds after which somebody leaves S.
    /// pass 0: one step per t, scheduling those whose balance falls from round 1;
    /// pass 1: one step per heap entry due at the next such round (collect leavers);
    /// pass 2: one step per leaver (rebase and reschedule its successor, unlink it).
    function balanceSteps(uint256 id, Round storage r, uint256 steps) external returns (uint256) {
        uint256 total = r.contributors.length;
        while (steps > 0) {
            if (r.pass == 0) {
                uint256 t = r.cursor;
                while (steps > 0 && t <= total) {
                    if (MarketRound.errors(r, t - 1) < MarketRound.errors(r, t)) {
                        r.members[t] = 1 << DUE_SHIFT; // k = 0 from round 0, due after round 1
                        _heapPush(r, (1 << 128) | t);
                    }
                    t += 1;
                    steps -= 1;
                }
                r.cursor = t;
                if (t <= total) return steps;
                _nextBucket(id, r);
            } else if (r.pass == 1) {
                uint256 due = r.bucket;
                while (steps > 0 && r.heapSize > 0 && r.heap[0] >> 128 == due) {
                    uint256 t = _heapPop(r) & MASK128;
                    uint256 m = r.members[t];
                    if (m >> DUE_SHIFT == due) {
                        int256 k = _kAt(r, t, m, due);
                        r.members[t] = _member(k, due, LEAVING);
                        r.leavers[r.leaverCount] = t;
                        r.leaverCount += 1;
                    }
                    steps -= 1;
                }
                if (steps == 0) return 0;
                r.pass = 2;
                r.cursor = 0;
            } else if (r.pass == 2) {
                uint256 i = r.cursor;
                uint256 count = r.leaverCount;
                while (steps > 0 && i < count) {
                    _unlink(r, r.leavers[i], total);
                    i += 1;
                    steps -= 1;
                }
                r.cursor = i;
                if (i < count) return steps;
                if (count > 0) {
                    // (a bucket of stale entries only, left by rescheduling, is no run)
                    emit IMarketStages.BalanceRounds(id, r.bucket - r.clock, r.rounds - r.bucket);
                    r.clock = r.bucket;
                    r.leaverCount = 0;
                }
                _nextBucket(id, r);
            } else {
                return steps;
            }
            if (r.stage != Stage.Balances) return steps;
        }
        return steps;
    }

    /// Move to the next round after which somebody leaves, or finish the B rounds.
    function _nextBucket(uint256 id, Round storage r) private {
        if (r.heapSize > 0) {
            r.bucket = r.heap[0] >> 128;
            r.pass = 1;
            return;
        }
        // nobody else leaves: the rest of the B rounds in one run, if S is not empty
        uint256 total = r.contributors.length;
        if (r.clock < r.rounds && _nextOf(r, 0) <= total) {
            emit IMarketStages.BalanceRounds(id, r.rounds - r.clock, 0);
        }
        r.clock = r.rounds;
        r.pass = 3;
        r.stage = Stage.Credit;
        r.cursor = 0;
    }

    /// Leaver t (balance final, still linked): its successor u in S, if still a member,
    /// is rebased to round `bucket` at its old rate; t is unlinked; u is rescheduled at
    /// its new rate.
    function _unlink(Round storage r, uint256 t, uint256 total) private {
        uint256 round = r.bucket;
        uint256 prev = _prevOf(r, t);
        uint256 u = _nextOf(r, t);
        uint256 mu;
        bool alive = u <= total;
        if (alive) {
            mu = r.members[u];
            uint256 due = mu >> DUE_SHIFT;
            alive = due != LEAVING && due != GONE;
        }
        if (alive) mu = _member(_kAt(r, u, mu, round), round, 0);
        // unlink t
        _setNext(r, prev, u);
        if (u <= total) _setPrev(r, u, prev);
        uint256 mt = r.members[t];
        r.members[t] = (mt & ((1 << DUE_SHIFT) - 1)) | (GONE << DUE_SHIFT);
        if (!alive) return;
        // reschedule u: with rate d < 0, the first round its k is below zero
        int256 d = int256(MarketRound.errors(r, prev)) - int256(MarketRound.errors(r, u));
        if (d < 0) {
            uint256 k = uint256(int256(int128(uint128(mu))));
            uint256 due = round + k / uint256(-d) + 1;
            if (due <= r.rounds) {
                mu |= due << DUE_SHIFT;
                _heapPush(r, (due << 128) | u);
            }
        }
        r.members[u] = mu;
    }

    /// k of member t (record m) after round `round`, at its current rate.
    function _kAt(Round storage r, uint256 t, uint256 m, uint256 round) private view returns (int256) {
        int256 k = int256(int128(uint128(m)));
        uint256 base = (m >> BASE_SHIFT) & MASK64;
        int256 d = int256(MarketRound.errors(r, _prevOf(r, t))) - int256(MarketRound.errors(r, t));
        return k + int256(round - base) * d;
    }

    /// @notice k of contribution t after the B rounds (final once the round is finished):
    /// its balance is stakeUnit * (n + k) / n wei, n the test-set size.
    function finalK(Round storage r, uint256 t) public view returns (int256) {
        if (t == 0 || t > r.contributors.length) return 0;
        uint256 m = r.members[t];
        uint256 due = m >> DUE_SHIFT;
        if (due == LEAVING || due == GONE) return int256(int128(uint128(m)));
        return _kAt(r, t, m, r.rounds);
    }

    function _member(int256 k, uint256 base, uint256 due) private pure returns (uint256) {
        return uint256(uint128(int128(k))) | (base << BASE_SHIFT) | (due << DUE_SHIFT);
    }

    function _nextOf(Round storage r, uint256 t) private view returns (uint256) {
        uint256 stored = r.links[t] >> 128;
        return stored == 0 ? t + 1 : stored - 1;
    }

    function _prevOf(Round storage r, uint256 t) private view returns (uint256) {
        uint256 stored = r.links[t] & MASK128;
        return stored == 0 ? t - 1 : stored - 1;
    }

    function _setNext(Round storage r, uint256 t, uint256 next) private {
        r.links[t] = (r.links[t] & MASK128) | ((next + 1) << 128);
    }

    function _setPrev(Round storage r, uint256 t, uint256 prev) private {
        r.links[t] = (r.links[t] & ~MASK128) | (prev + 1);
    }

    function _heapPush(Round storage r, uint256 key) private {
        uint256 i = r.heapSize;
        r.heapSize = i + 1;
        while (i > 0) {
            uint256 parent = (i - 1) / 2;
            uint256 above = r.heap[parent];
            if (above <= key) break;
            r.heap[i] = above;
            i = parent;
        }
        r.heap[i] = key;
    }

    function _heapPop(Round storage r) private returns (uint256 top) {
        top = r.heap[0];
        uint256 size = r.heapSize - 1;
        r.heapSize = size;
        if (size == 0) return top;
        uint256 key = r.heap[size];
        uint256 i = 0;
        while (true) {
            uint256 child = 2 * i + 1;
            if (child >= size) break;
            uint256 smallest = r.heap[child];
            if (child + 1 < size) {
                uint256 right = r.heap[child + 1];
                if (right < smallest) {
                    smallest = right;
                    child += 1;
                }
            }
            if (key <= smallest) break;
            r.heap[i] = smallest;
            i = child;
        }
        r.heap[i] = key;
    }

    // --- reward computation: (d) credit -------------------------------------------

    /// owed[contributor] += b_t for every t.
    function creditSteps(Round storage r, uint256 steps) external returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 unit = r.terms.stakeUnit;
        int256 n = int256(r.testLabels.length);
        while (steps > 0 && r.cursor < total) {
            uint256 t = r.cursor + 1;
            r.owed[r.contributors[t - 1]] += unit * uint256(n + finalK(r, t));
            r.cursor = t;
            steps -= 1;
        }
        if (r.cursor == total) r.stage = Stage.Done;
        return steps;
    }

    // --- payout -----------------------------------------------------------------------

    /// @notice Check and record the withdrawal of `account` from round `id`: floor of the
    /// sum of its balances (finished round) or its stakes (aborted round), once. Returns
    /// the amount for the market to send (effects here, the transfer in the market).
    function payout(uint256 id, Round storage r, address account) external returns (uint256 amount) {
        if (r.phase == Phase.None) revert IMarketStages.NoSuchRound(id);
        if (r.phase != Phase.Finished && r.phase != Phase.Aborted) {
            revert IMarketStages.RewardPhaseNotFinished(MarketRound.phase(r));
        }
        if (r.withdrawn[account]) revert IMarketStages.AlreadyWithdrawn();
        amount = r.phase == Phase.Finished ? r.owed[account] / r.testLabels.length : r.stakes[account];
        if (amount == 0) revert IMarketStages.NothingToWithdraw();
        r.withdrawn[account] = true;
        emit IMarketStages.Withdrawn(id, account, amount);
    }
}
