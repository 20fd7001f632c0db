// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Owned} from "../lib/Owned.sol";
import {IntegerMath} from "../lib/IntegerMath.sol";
import {IIncentiveMechanism} from "./IIncentiveMechanism.sol";

/// @title Stakeable
/// @notice Deposit, refund and take: self-assessment (Harris & Waggoner 2019, section III-C;
/// section III-B is the prediction market, PredictionMarket.sol).
/// Deposit: adding data at time t, elapsed = max(1, t - lastUpdateTimeS) seconds after the
/// latest addData (deployment time at first), needs
///   required(t) = costUnitWei * max(minDeposit, costWeight / elapsed) wei         (linear law), or
///   required(t) = costUnitWei * max(minDeposit, costWeight / isqrt(elapsed)) wei  (square-root
/// law, the original framework's: its Solidity charges costWeight * 1 hour / sqrt(elapsed)),
/// integer divisions and integer square root, so rapid-fire additions cost more. The cost
/// is a whole number of cost units (costUnitWei wei each; 1: plain wei), as the original's
/// simulation rounds its cost down to whole units, while refunds and report shares keep
/// wei precision.
/// Refund: from refundWaitTimeS after adding, the contributor gets back all that remains
/// of the deposit if the current model predicts the sample's label.
/// Take (report): from refundWaitTimeS on, while the model disagrees with the sample, a
/// reporter with at least one refunded sample takes
///   share = initialDeposit * reporterGood / totalGood, or all of claimable when the share is
///   0 or more than claimable (the original's "too little left to divide up")
/// once per sample. From ownerClaimWaitTimeS the trainer's owner, and from
/// anyAddressClaimWaitTimeS anyone (the sample's own contributor and a reporter who already
/// took a share included), may take the whole remainder whatever the model says. The checks
/// run in the original framework's order: nothing left; the owner's and anyone's wait; own
/// sample; already claimed; too early; agreement; good contributions.
contract Stakeable is Owned, IIncentiveMechanism {
    /// @notice Time of the latest addData (s); shares slot 0 with the owner.
    uint64 public lastUpdateTimeS;
    /// @notice Seconds after adding before a refund or a report is allowed.
    uint256 public immutable refundWaitTimeS;
    /// @notice Seconds after adding from which the trainer's owner takes the remainder.
    uint256 public immutable ownerClaimWaitTimeS;
    /// @notice Seconds after adding from which anyone takes the remainder.
    uint256 public immutable anyAddressClaimWaitTimeS;
    /// @notice Numerator of the deposit formula (cost units * s, or * sqrt(s)).
    uint256 public immutable costWeight;
    /// @notice Floor of the required deposit (cost units).
    uint256 public immutable minDeposit;
    /// @notice Wei per cost unit: the required deposit is a whole number of these.
    uint256 public immutable costUnitWei;
    /// @notice True: the deposit falls with the square root of the elapsed time; false: linearly.
    bool public immutable sqrtDepositLaw;

    /// @notice The value sent is below the deposit required now.
    error DepositTooLow(uint256 required, uint256 sent);
    /// @notice The action is allowed only from `availableAt` (block timestamp, s).
    error TooEarly(uint256 availableAt);
    /// @notice A refund while the model disagrees with the sample.
    error ModelDisagrees();
    /// @notice A report while the model agrees with the sample.
    error ModelAgrees();
    /// @notice A report by someone with no refunded contribution.
    error NoGoodContributions();
    /// @notice Nothing is left of the deposit.
    error NothingToClaim();
    /// @notice A contributor reports their own sample before anyone may take its remainder.
    error CannotReportOwnContribution();
    /// @notice A reporter takes a second share before anyone may take the remainder.
    error AlreadyClaimed();
    /// @notice A cost unit of 0 wei.
    error InvalidCostUnit();
    /// @notice Wait times must satisfy refund <= owner claim <= any-address claim.
    error InvalidWaitTimes();

    /// @param refundWaitTimeS_ Seconds before refund/report.
    /// @param ownerClaimWaitTimeS_ Seconds before the owner takes the remainder.
    /// @param anyAddressClaimWaitTimeS_ Seconds before anyone takes the remainder.
    /// @param costWeight_ Deposit numerator (cost units * s, or * sqrt(s)).
    /// @param minDeposit_ Deposit floor (cost units).
    /// @param sqrtDepositLaw_ Square-root deposit law (true) or linear (false).
    /// @param costUnitWei_ Wei per cost unit (at least 1).
    constructor(
        uint256 refundWaitTimeS_,
        uint256 ownerClaimWaitTimeS_,
        uint256 anyAddressClaimWaitTimeS_,
        uint256 costWeight_,
        uint256 minDeposit_,
        bool sqrtDepositLaw_,
        uint256 costUnitWei_
    ) {
        if (refundWaitTimeS_ > ownerClaimWaitTimeS_ || ownerClaimWaitTimeS_ > anyAddressClaimWaitTimeS_) {
            revert InvalidWaitTimes();
        }
        if (costUnitWei_ == 0) revert InvalidCostUnit();
        refundWaitTimeS = refundWaitTimeS_;
        ownerClaimWaitTimeS = ownerClaimWaitTimeS_;
        anyAddressClaimWaitTimeS = anyAddressClaimWaitTimeS_;
        costWeight = costWeight_;
        minDeposit = minDeposit_;
        sqrtDepositLaw = sqrtDepositLaw_;
        costUnitWei = costUnitWei_;
        lastUpdateTimeS = uint64(block.timestamp);
    }

    /// @notice The deposit an addData needs in a block with timestamp `timeS` (wei).
    function getAddDataCost(uint256 timeS) public view returns (uint256) {
        uint256 last = lastUpdateTimeS;
        uint256 elapsed = timeS > last ? timeS - last : 1;
        uint256 cost = costWeight / (sqrtDepositLaw ? IntegerMath.sqrt(elapsed) : elapsed);
        return costUnitWei * (cost > minDeposit ? cost : minDeposit);
    }

    /// @inheritdoc IIncentiveMechanism
    function getNextAddDataCost() external view returns (uint256) {
        return getAddDataCost(block.timestamp);
    }

    /// @inheritdoc IIncentiveMechanism
    function handleAddData(uint256 value) external onlyOwner returns (uint256 cost) {
        cost = getAddDataCost(block.timestamp);
        if (value < cost) revert DepositTooLow(cost, value);
        lastUpdateTimeS = uint64(block.timestamp);
    }

    /// @inheritdoc IIncentiveMechanism
    function handleRefund(address, uint256 claimable, uint256 addedTime, bool modelAgrees)
        external
        view
        onlyOwner
        returns (uint256)
    {
        if (claimable == 0) revert NothingToClaim();
        if (block.timestamp < addedTime + refundWaitTimeS) revert TooEarly(addedTime + refundWaitTimeS);
        if (!modelAgrees) revert ModelDisagrees();
        return claimable;
    }

    /// @inheritdoc IIncentiveMechanism
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
    ) external view returns (uint256) {
        if (claimable == 0) revert NothingToClaim();
        uint256 age = block.timestamp - addedTime;
        if (age >= anyAddressClaimWaitTimeS) return claimable;
        if (reporterIsOwner && age >= ownerClaimWaitTimeS) return claimable;
        if (reporterIsContributor) revert CannotReportOwnContribution();
        if (reporterClaimed) revert AlreadyClaimed();
        if (age < refundWaitTimeS) revert TooEarly(addedTime + refundWaitTimeS);
        if (modelAgrees) revert ModelAgrees();
        if (reporterGood == 0) revert NoGoodContributions();
        uint256 share = (initialDeposit * reporterGood) / totalGood;
        return share == 0 || share > claimable ? claimable : share;
    }
}
