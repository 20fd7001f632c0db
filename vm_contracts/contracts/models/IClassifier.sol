// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IOwned} from "../lib/IOwned.sol";

/// @title IClassifier
/// @notice What CollaborativeTrainer needs from a model. Data is an int64 vector whose
/// meaning is the model's: feature indices for sparse models, fixed-point values
/// (scaled by 10^9) for dense ones. Labels are class indices. `owner()` (the only
/// address allowed to update) comes from IOwned.
interface IClassifier is IOwned {
    /// @notice The class the model assigns to `data`. Free to call (view).
    function predict(int64[] calldata data) external view returns (uint64);

    /// @notice Train on one labelled sample. Owner (the trainer) only.
    function update(int64[] calldata data, uint64 label) external;

    /// @notice Whether initialisation is finished (predict/update allowed).
    function initialized() external view returns (bool);
}
