// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IntegerMath
/// @notice Integer functions the mechanisms need; vm_contracts/reference.py mirrors each.
library IntegerMath {
    /// @notice floor(sqrt(x)), by Newton's iteration from above (math.isqrt off chain).
    function sqrt(uint256 x) internal pure returns (uint256 root) {
        if (x < 2) return x;
        root = x;
        uint256 next = x / 2 + (x & 1); // ceil(x / 2) without overflow
        while (next < root) {
            root = next;
            next = (x / next + next) / 2;
        }
    }
}
