// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IOwned
/// @notice A component with a single owner (see Owned). Split out of IClassifier so that
/// Owned's public `owner` variable is the one implementation of `owner()` a model
/// inherits, and the compiler can check every model against IClassifier.
interface IOwned {
    /// @notice The only address allowed to call owner-only functions.
    function owner() external view returns (address);
}
