// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IIncentiveMechanism
/// @notice The rules a CollaborativeTrainer applies to deposits, refunds and reports.
/// The trainer holds the ether; a mechanism only decides amounts and refuses what its
/// rules forbid (with its own custom errors). Write functions are owner (trainer) only.
interface IIncentiveMechanism {
    /// @notice The deposit an `addData` needs if mined now (wei).
    function getNextAddDataCost() external view returns (uint256);

    /// @notice Check the value sent with an addData and account for it. Owner only.
    /// @param value msg.value of the addData (wei).
    /// @return cost The deposit kept (wei); the trainer returns value - cost.
    function handleAddData(uint256 value) external returns (uint256 cost);

    /// @notice Check a refund and return what the contributor gets. Owner only.
    /// @param contributor The contributor (already checked to be the caller).
    /// @param claimable What the contribution still holds (wei).
    /// @param addedTime When it was added (s).
    /// @param modelAgrees Whether the current model predicts the sample's label.
    /// @return amount Wei to pay the contributor.
    function handleRefund(address contributor, uint256 claimable, uint256 addedTime, bool modelAgrees)
        external
        returns (uint256 amount);

    /// @notice Check a report (a take from a sample's deposit) and return the reward.
    /// @param initialDeposit The contribution's initial deposit (wei).
    /// @param claimable What it still holds (wei).
    /// @param addedTime When it was added (s).
    /// @param modelAgrees Whether the current model predicts the sample's label.
    /// @param reporterGood The reporter's refunded contributions.
    /// @param totalGood All refunded contributions.
    /// @param reporterIsOwner Whether the reporter owns the trainer (the model owner).
    /// @param reporterIsContributor Whether the reporter added the sample (a take of one's
    /// own remainder, allowed once anyone may take it).
    /// @param reporterClaimed Whether the reporter already took from this sample by a report.
    /// @return amount Wei to pay the reporter.
    function handleReport(
        uint256 initialDeposit,
        uint256 claimable,
        uint256 addedTime,
        bool modelAgrees,
        uint256 reporterGood,
        uint256 totalGood,
        bool reporterIsOwner,
        bool reporterIsContributor,
        bool reporterClaimed
    ) external view returns (uint256 amount);
}
