// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Phase} from "./MarketRound.sol";

/// @title IMarketStages
/// @notice The events and errors of the work PredictionMarket runs in its linked
/// libraries (MarketLosses, MarketBalances): the draw, the abort, the reward stages and
/// the payout. They run
/// by DELEGATECALL, so their logs come from the market's address; the market inherits
/// this interface so that its ABI decodes them.
interface IMarketStages {
    /// @notice The parts to reveal before participation were drawn.
    event TestPartsDrawn(uint256 indexed round, uint256[] parts);
    /// @notice The round was aborted; the bounty stays locked.
    event RoundAborted(uint256 indexed round);
    /// @notice h(t) makes `errors` mistakes on the test set.
    event LossComputed(uint256 indexed round, uint256 t, uint256 errors);
    /// @notice `rounds` bounty rounds were applied at once (up to a round after which
    /// somebody left S, or to the last); `roundsLeft` remain.
    event BalanceRounds(uint256 indexed round, uint256 rounds, uint256 roundsLeft);
    /// @notice `account` withdrew `amount` wei from `round`.
    event Withdrawn(uint256 indexed round, address indexed account, uint256 amount);
    /// @notice The action needs another phase.
    error WrongPhase(Phase expected, Phase actual);
    /// @notice The draw needs the block after the commit to exist (at `availableAtBlock`).
    error TooEarly(uint256 availableAtBlock);
    /// @notice The seed block's hash is no longer readable; the round can only abort.
    error SeedExpired(uint256 seedBlock);
    /// @notice The initial parts were drawn already.
    error AlreadyDrawn();
    /// @notice `abortRound` before a reveal deadline (`deadline`, s) passed or when
    /// nothing is missing.
    error CannotAbort(uint256 deadline);
    /// @notice A withdrawal before the reward phase ended.
    error RewardPhaseNotFinished(Phase actual);
    /// @notice A second withdrawal.
    error AlreadyWithdrawn();
    /// @notice The caller has nothing to withdraw from this round.
    error NothingToWithdraw();
    /// @notice The round number does not exist.
    error NoSuchRound(uint256 round);
}
