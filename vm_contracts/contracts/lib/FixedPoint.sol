// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title FixedPoint
/// @notice The framework's one place for fixed-point conventions: a real number r is
/// the integer round_toward_zero(r * 10^9). Products and quotients truncate toward
/// zero, as Solidity's signed division does; vm_contracts/fixed_point.py mirrors each
/// function exactly so off-chain twins reproduce on-chain results bit for bit.
library FixedPoint {
    /// @notice 1.0 in fixed point.
    int256 internal constant SCALE = 1e9;
    /// @notice 1.0 in fixed point, unsigned.
    uint256 internal constant USCALE = 1e9;
    /// @notice Binary digits computed after the point by `log2`; error < 2^-LOG2_FRACTION_BITS
    /// plus the truncations of the repeated squaring (both reproduced off chain).
    uint256 internal constant LOG2_FRACTION_BITS = 24;

    /// @notice log2 of zero was asked for.
    error LogOfZero();

    /// @notice a * b for fixed-point a and b, truncated toward zero.
    function mul(int256 a, int256 b) internal pure returns (int256) {
        return (a * b) / SCALE;
    }

    /// @notice log2(x) for a positive fixed-point x, as fixed point.
    /// @dev Integer part by halving/doubling x into [1, 2); then each fractional bit by
    /// squaring (x = x*x / SCALE, truncated) and halving when x >= 2; the bit's weight
    /// starts at SCALE/2 and is halved (integer) each step.
    function log2(uint256 x) internal pure returns (int256 result) {
        if (x == 0) revert LogOfZero();
        unchecked {
            while (x >= 2 * USCALE) {
                x >>= 1;
                result += SCALE;
            }
            while (x < USCALE) {
                x <<= 1;
                result -= SCALE;
            }
            int256 delta = SCALE;
            for (uint256 i = 0; i < LOG2_FRACTION_BITS; ++i) {
                x = (x * x) / USCALE;
                delta >>= 1;
                if (x >= 2 * USCALE) {
                    x >>= 1;
                    result += delta;
                }
            }
        }
    }
}
