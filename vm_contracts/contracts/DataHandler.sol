// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Owned} from "./lib/Owned.sol";

/// @title DataHandler
/// @notice The record of every contribution and of every claim on its deposit. Only its
/// owner (the CollaborativeTrainer) writes; the trainer's events carry each change
/// together with the sample, so the whole dataset is rebuilt from the trainer's logs.
/// @dev A contribution is keyed by keccak256(abi.encode(contributor, dataHash, label,
/// addedTime)) with dataHash = keccak256(abi.encodePacked(data)) (each int64 as a
/// 32-byte two's-complement word), so identical samples added at different times or
/// by different people stay distinct; contributor, label and time live in the key and
/// in the logs, and the rest of the record fits one storage word.
contract DataHandler is Owned {
    /// @notice One contribution's state (one storage word).
    struct Contribution {
        uint96 initialDeposit; // wei held when the sample was added
        uint96 claimableAmount; // wei of the deposit still held
        uint32 numClaims; // successful refunds and reports on this sample
        bool refunded; // the contributor got their refund (sample counted as good)
        bool exists;
    }

    /// @notice Contributions refunded so far, over all contributors (shares slot 0).
    uint96 public totalGoodContributions;
    /// @notice Contribution records by key (see `contributionKey`).
    mapping(bytes32 => Contribution) public contributions;
    /// @notice Whether `claimant` already took from contribution `key` by a report (a
    /// contributor's own refund shows in the record's `refunded` instead). The incentive
    /// mechanism decides what it means: Stakeable refuses a second share before its claim
    /// wait times and lets anyone take the remainder after them (the original framework's
    /// order of checks).
    mapping(bytes32 => mapping(address => bool)) public hasClaimed;
    /// @notice Refunded (good) contributions per contributor.
    mapping(address => uint256) public goodContributions;

    /// @notice A sample with the same key already exists (same contributor, data, label, time).
    error DuplicateContribution(bytes32 key);
    /// @notice No contribution has this key.
    error UnknownContribution(bytes32 key);
    /// @notice The contribution was already refunded.
    error AlreadyRefunded(bytes32 key);
    /// @notice A deposit above 2^96-1 wei.
    error DepositTooLarge(uint256 deposit);
    /// @notice A claim larger than what the contribution still holds.
    error ClaimTooLarge(uint256 amount, uint256 claimable);

    /// @notice The key of a contribution.
    /// @param contributor Who added the sample.
    /// @param dataHash keccak256(abi.encodePacked(data)).
    /// @param label The sample's label.
    /// @param addedTime Block timestamp (s) of the block that added it.
    function contributionKey(address contributor, bytes32 dataHash, uint64 label, uint256 addedTime)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(contributor, dataHash, label, addedTime));
    }

    /// @notice Record a new contribution holding `deposit` wei, added now. Owner only.
    /// @return key The contribution's key.
    function handleAddData(address contributor, bytes32 dataHash, uint64 label, uint256 deposit)
        external
        onlyOwner
        returns (bytes32 key)
    {
        if (deposit > type(uint96).max) revert DepositTooLarge(deposit);
        key = contributionKey(contributor, dataHash, label, block.timestamp);
        Contribution storage c = contributions[key];
        if (c.exists) revert DuplicateContribution(key);
        c.initialDeposit = uint96(deposit);
        c.claimableAmount = uint96(deposit);
        c.exists = true;
    }

    /// @notice Mark a contribution refunded to its contributor, who takes all that
    /// remains of the deposit, and count it as good. Owner only.
    /// @return initialDeposit The deposit made when the sample was added (wei).
    /// @return refund What the contributor gets back (wei): the whole remainder.
    function handleRefund(address contributor, bytes32 dataHash, uint64 label, uint256 addedTime)
        external
        onlyOwner
        returns (uint256 initialDeposit, uint256 refund)
    {
        bytes32 key = contributionKey(contributor, dataHash, label, addedTime);
        Contribution storage c = contributions[key];
        Contribution memory m = c;
        if (!m.exists) revert UnknownContribution(key);
        if (m.refunded) revert AlreadyRefunded(key);
        // The contributor's claim is recorded by `refunded`, which saves a fresh hasClaimed
        // slot per refund; a later take of their own remainder finds nothing left.
        c.claimableAmount = 0;
        c.numClaims = m.numClaims + 1;
        c.refunded = true;
        goodContributions[contributor] += 1;
        totalGoodContributions += 1;
        return (m.initialDeposit, m.claimableAmount);
    }

    /// @notice What a report works with.
    struct ReportInfo {
        bytes32 key; // the contribution's key
        uint256 initialDeposit; // its initial deposit (wei)
        uint256 claimable; // what it still holds (wei)
        uint256 reporterGood; // the reporter's refunded contributions
        uint256 totalGood; // all refunded contributions
        bool claimed; // the reporter already took from it by a report
    }

    /// @notice What a report by `reporter` on a contribution would work with; reverts
    /// if the contribution is unknown.
    function reportInfo(address reporter, address contributor, bytes32 dataHash, uint64 label, uint256 addedTime)
        external
        view
        returns (ReportInfo memory info)
    {
        bytes32 key = contributionKey(contributor, dataHash, label, addedTime);
        Contribution memory m = contributions[key];
        if (!m.exists) revert UnknownContribution(key);
        info = ReportInfo(
            key,
            m.initialDeposit,
            m.claimableAmount,
            goodContributions[reporter],
            totalGoodContributions,
            hasClaimed[key][reporter]
        );
    }

    /// @notice Take `amount` wei of contribution `key` for `claimant` and record the claim
    /// (the mechanism already allowed it). Owner only.
    function handleReport(bytes32 key, address claimant, uint256 amount) external onlyOwner {
        Contribution storage c = contributions[key];
        Contribution memory m = c;
        if (!m.exists) revert UnknownContribution(key);
        if (amount > m.claimableAmount) revert ClaimTooLarge(amount, m.claimableAmount);
        unchecked {
            c.claimableAmount = m.claimableAmount - uint96(amount);
        }
        c.numClaims = m.numClaims + 1;
        hasClaimed[key][claimant] = true;
    }
}
