// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {DataHandler} from "./DataHandler.sol";
import {IIncentiveMechanism} from "./incentive/IIncentiveMechanism.sol";
import {IClassifier} from "./models/IClassifier.sol";

/// @title CollaborativeTrainer
/// @notice The single entry point of a shared, updatable model (Harris & Waggoner 2019):
/// anyone adds data under the incentive mechanism, which trains the model; anyone
/// queries the model for free; contributors claim refunds and others report bad data.
/// It owns (by composition) a DataHandler, an incentive mechanism and a model, all
/// three of which must have had their ownership transferred to this contract, and it
/// holds every deposit. Its events carry each sample in full, so the dataset is
/// rebuilt from its logs. A sample is identified by (contributor, data, label,
/// addedTime), addedTime being the timestamp of the block that added it.
contract CollaborativeTrainer {
    /// @notice Deployer; may replace the model and is the "model owner" for claims.
    address public immutable owner;
    /// @notice Contribution records.
    DataHandler public immutable dataHandler;
    /// @notice Deposit, refund and report rules.
    IIncentiveMechanism public immutable incentiveMechanism;
    /// @notice The model trained by added data.
    IClassifier public model;
    /// @notice Human-readable name of the model.
    string public name;
    /// @notice What the model does and on what data.
    string public description;
    /// @notice How raw inputs become the int64 data vector (e.g. an encoder id).
    string public encoder;

    /// @notice `contributor` added (data, label) at `addedTime` with `deposit` wei held.
    event DataAdded(address indexed contributor, uint64 label, uint256 deposit, uint256 addedTime, int64[] data);
    /// @notice `contributor` was refunded `amount` wei for the sample added at `addedTime`.
    event Refunded(address indexed contributor, uint64 label, uint256 amount, uint256 addedTime, int64[] data);
    /// @notice `reporter` took `amount` wei from `contributor`'s sample added at `addedTime`.
    event Reported(
        address indexed reporter,
        address indexed contributor,
        uint64 label,
        uint256 amount,
        uint256 addedTime,
        int64[] data
    );
    /// @notice The owner swapped the model (e.g. to revert a corrupted one).
    event ModelReplaced(address indexed oldModel, address indexed newModel);

    /// @notice Only the owner may do this.
    error NotOwner(address caller);
    /// @notice Refunds go to the sample's contributor only.
    error NotContributor(address caller, address contributor);
    /// @notice A replacement model must already be owned by this trainer.
    error ModelNotOwnedByTrainer(address model);
    /// @notice A replacement model must have finished initialisation.
    error ModelNotInitialized(address model);
    /// @notice Sending ether to `to` failed.
    error TransferFailed(address to, uint256 amount);

    /// @param name_ Model name.
    /// @param description_ Model description.
    /// @param encoder_ Input encoding.
    /// @param dataHandler_ The DataHandler (ownership to be transferred to this trainer).
    /// @param incentiveMechanism_ The mechanism (ditto).
    /// @param model_ The model (ditto).
    constructor(
        string memory name_,
        string memory description_,
        string memory encoder_,
        DataHandler dataHandler_,
        IIncentiveMechanism incentiveMechanism_,
        IClassifier model_
    ) {
        owner = msg.sender;
        name = name_;
        description = description_;
        encoder = encoder_;
        dataHandler = dataHandler_;
        incentiveMechanism = incentiveMechanism_;
        model = model_;
    }

    /// @notice Add a labelled sample and train the model on it. Send at least the
    /// mechanism's required deposit (see incentiveMechanism.getNextAddDataCost); any
    /// excess is returned.
    /// @param data The sample, encoded as the model expects.
    /// @param label Its class.
    function addData(int64[] calldata data, uint64 label) external payable {
        uint256 cost = incentiveMechanism.handleAddData(msg.value);
        model.update(data, label);
        dataHandler.handleAddData(msg.sender, keccak256(abi.encodePacked(data)), label, cost);
        emit DataAdded(msg.sender, label, cost, block.timestamp, data);
        if (msg.value > cost) _send(msg.sender, msg.value - cost);
    }

    /// @notice The model's class for `data`. Free (view).
    function predict(int64[] calldata data) external view returns (uint64) {
        return model.predict(data);
    }

    /// @notice Claim back what remains of your deposit (Stakeable) or your point
    /// (Points) for a sample the model still agrees with, after the wait time.
    /// @param contributor The sample's contributor; must be the caller.
    /// @param data The sample as added.
    /// @param label Its label as added.
    /// @param addedTime Timestamp of the block that added it.
    function refund(address contributor, int64[] calldata data, uint64 label, uint256 addedTime) external {
        if (contributor != msg.sender) revert NotContributor(msg.sender, contributor);
        bool agrees = model.predict(data) == label;
        (, uint256 claimable) =
            dataHandler.handleRefund(contributor, keccak256(abi.encodePacked(data)), label, addedTime);
        uint256 amount = incentiveMechanism.handleRefund(contributor, claimable, addedTime, agrees);
        emit Refunded(contributor, label, amount, addedTime, data);
        if (amount > 0) _send(contributor, amount);
    }

    /// @notice Take from the deposit of someone else's sample the model now disagrees
    /// with, or, after the claim wait times, the whole remainder of any sample (one's own
    /// included, as in the original framework; the mechanism decides).
    /// @param contributor The sample's contributor.
    /// @param data The sample as added.
    /// @param label Its label as added.
    /// @param addedTime Timestamp of the block that added it.
    function report(address contributor, int64[] calldata data, uint64 label, uint256 addedTime) external {
        uint256 amount = _take(contributor, data, label, addedTime);
        emit Reported(msg.sender, contributor, label, amount, addedTime, data);
        _send(msg.sender, amount);
    }

    /// @notice Swap in another model, e.g. a fresh one initialised with an earlier
    /// version's parameters to revert a corrupted model. Owner only. The new model must
    /// be initialised and already owned by this trainer.
    /// @param newModel The replacement.
    function replaceModel(IClassifier newModel) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (newModel.owner() != address(this)) revert ModelNotOwnedByTrainer(address(newModel));
        if (!newModel.initialized()) revert ModelNotInitialized(address(newModel));
        emit ModelReplaced(address(model), address(newModel));
        model = newModel;
    }

    function _take(address contributor, int64[] calldata data, uint64 label, uint256 addedTime)
        private
        returns (uint256 amount)
    {
        bool agrees = model.predict(data) == label;
        DataHandler.ReportInfo memory info =
            dataHandler.reportInfo(msg.sender, contributor, keccak256(abi.encodePacked(data)), label, addedTime);
        amount = _reportAmount(info, addedTime, agrees, msg.sender == contributor);
        dataHandler.handleReport(info.key, msg.sender, amount);
    }

    function _reportAmount(DataHandler.ReportInfo memory info, uint256 addedTime, bool agrees, bool own)
        private
        view
        returns (uint256)
    {
        return incentiveMechanism.handleReport(
            info.initialDeposit,
            info.claimable,
            addedTime,
            agrees,
            info.reporterGood,
            info.totalGood,
            msg.sender == owner,
            own,
            info.claimed
        );
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
