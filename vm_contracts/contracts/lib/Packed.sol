// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Packed
/// @notice Dense arrays of small integers packed into storage words, so an update that
/// touches neighbouring entries pays for one slot instead of several.
/// @dev int80 entries: 3 per word, entry i at word i / 3, bits 80 * (i % 3).
/// uint32 entries: 8 per word, entry i at word i / 8, bits 32 * (i % 8).
library Packed {
    /// @notice A value does not fit its packed width (int80 or uint32).
    error PackedValueOutOfRange(int256 value);

    uint256 private constant MASK80 = (1 << 80) - 1;
    uint256 private constant MASK32 = (1 << 32) - 1;

    function getInt80(mapping(uint256 => uint256) storage words, uint256 i) internal view returns (int80) {
        unchecked {
            return int80(uint80(words[i / 3] >> (80 * (i % 3))));
        }
    }

    function setInt80(mapping(uint256 => uint256) storage words, uint256 i, int256 value) internal {
        if (value < type(int80).min || value > type(int80).max) revert PackedValueOutOfRange(value);
        unchecked {
            uint256 shift = 80 * (i % 3);
            uint256 w = words[i / 3];
            words[i / 3] = (w & ~(MASK80 << shift)) | (uint256(uint80(int80(value))) << shift);
        }
    }

    /// @dev Entry `i % 3` of an int80 word.
    function int80At(uint256 word, uint256 i) internal pure returns (int80) {
        unchecked {
            return int80(uint80(word >> (80 * (i % 3))));
        }
    }

    /// @dev `word` with int80 entry `i % 3` replaced by `value` (range checked).
    function withInt80(uint256 word, uint256 i, int256 value) internal pure returns (uint256) {
        if (value < type(int80).min || value > type(int80).max) revert PackedValueOutOfRange(value);
        unchecked {
            uint256 shift = 80 * (i % 3);
            return (word & ~(MASK80 << shift)) | (uint256(uint80(int80(value))) << shift);
        }
    }

    /// @dev `word` with uint32 entry `i % 8` incremented (range checked).
    function incrementUint32(uint256 word, uint256 i) internal pure returns (uint256, uint256 newValue) {
        unchecked {
            uint256 shift = 32 * (i % 8);
            newValue = ((word >> shift) & MASK32) + 1;
            if (newValue > type(uint32).max) revert PackedValueOutOfRange(int256(newValue));
            return (word + (1 << shift), newValue);
        }
    }

    function getUint32(mapping(uint256 => uint256) storage words, uint256 i) internal view returns (uint32) {
        unchecked {
            return uint32(words[i / 8] >> (32 * (i % 8)));
        }
    }

    function setUint32(mapping(uint256 => uint256) storage words, uint256 i, uint256 value) internal {
        if (value > type(uint32).max) revert PackedValueOutOfRange(int256(value));
        unchecked {
            uint256 shift = 32 * (i % 8);
            uint256 w = words[i / 8];
            words[i / 8] = (w & ~(MASK32 << shift)) | (value << shift);
        }
    }
}
