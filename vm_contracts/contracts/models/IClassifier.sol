// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IClassifier
/// @notice What CollaborativeTrainer needs from a model. Data is an int64 vector whose
/// meaning is the model's: feature indices for sparse models, fixed-point values
/// (scaled by 10^9) for dense ones. Labels are class indices.
interface IClassifier {
    /// @notice The class the model assigns to `data`. Free to call (view).
    function predict(int64[] calldata data) external view returns (uint64);

    /// @notice Train on one labelled sample. Owner (the trainer) only.
    function update(int64[] calldata data, uint64 label) external;

    /// @notice The owner, i.e. the only address allowed to update.
    function owner() external view returns (address);

    /// @notice Whether initialisation is finished (predict/update allowed).
    function initialized() external view returns (bool);
}
