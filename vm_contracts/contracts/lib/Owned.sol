// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IOwned} from "./IOwned.sol";

/// @title Owned
/// @notice A single owner, set to the deployer and transferable once the component is
/// handed to its CollaborativeTrainer. Models, the data handler and incentive
/// mechanisms use it so that only the trainer can write to them.
abstract contract Owned is IOwned {
    /// @notice The only address allowed to call owner-only functions.
    address public owner;

    /// @notice Ownership moved from `previousOwner` to `newOwner`.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice `caller` is not the owner.
    error NotOwner(address caller);
    /// @notice The zero address was given where an owner is needed.
    error ZeroAddress();

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Hand this contract to `newOwner` (e.g. the trainer that will use it).
    /// @param newOwner The new owner; not zero.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
