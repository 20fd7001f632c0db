// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Owned} from "../lib/Owned.sol";
import {IIncentiveMechanism} from "./IIncentiveMechanism.sol";

/// @title Points
/// @notice Gamification (Harris & Waggoner 2019, section III-A): no deposit (all value
/// sent is returned); from refundWaitTimeS after adding, a contribution the current
/// model still agrees with earns its contributor one point, once (claimed through the
/// trainer's `refund`). Points are public and per address. Reports are not part of
/// this mechanism.
contract Points is Owned, IIncentiveMechanism {
    /// @notice Seconds after adding before a contribution can earn its point.
    uint256 public immutable refundWaitTimeS;
    /// @notice Points earned per address.
    mapping(address => uint256) public points;

    /// @notice `contributor` earned a point and now has `total`.
    event PointAwarded(address indexed contributor, uint256 total);

    /// @notice The point can be claimed only from `availableAt` (block timestamp, s).
    error TooEarly(uint256 availableAt);
    /// @notice The model disagrees with the sample, so it earns no point.
    error ModelDisagrees();
    /// @notice Points has no deposits to take.
    error ReportNotSupported();

    /// @param refundWaitTimeS_ Seconds after adding before a point can be claimed.
    constructor(uint256 refundWaitTimeS_) {
        refundWaitTimeS = refundWaitTimeS_;
    }

    /// @inheritdoc IIncentiveMechanism
    function getNextAddDataCost() external pure returns (uint256) {
        return 0;
    }

    /// @inheritdoc IIncentiveMechanism
    function handleAddData(uint256) external view onlyOwner returns (uint256) {
        return 0;
    }

    /// @inheritdoc IIncentiveMechanism
    function handleRefund(address contributor, uint256, uint256 addedTime, bool modelAgrees)
        external
        onlyOwner
        returns (uint256)
    {
        if (block.timestamp < addedTime + refundWaitTimeS) revert TooEarly(addedTime + refundWaitTimeS);
        if (!modelAgrees) revert ModelDisagrees();
        uint256 total = points[contributor] + 1;
        points[contributor] = total;
        emit PointAwarded(contributor, total);
        return 0;
    }

    /// @inheritdoc IIncentiveMechanism
    function handleReport(uint256, uint256, uint256, bool, uint256, uint256, bool, bool, bool)
        external
        pure
        returns (uint256)
    {
        revert ReportNotSupported();
    }
}
