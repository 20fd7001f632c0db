// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Packed} from "../lib/Packed.sol";
import {PerceptronStep} from "../lib/PerceptronStep.sol";
import {IMarketStages} from "./IMarketStages.sol";
import {MarketBalances} from "./MarketBalances.sol";
import {MarketLosses} from "./MarketLosses.sol";
import {MarketRound, Phase, Round, Stage, Terms} from "./MarketRound.sol";

/// @title PredictionMarket
/// @notice A bounty-funded prediction market with a committed test set (Harris &
/// Waggoner 2019, section III-B and Fig. 2). A provider funds a bounty of B stake units
/// and commits to a test set split into K parts; contributors each stake one unit and
/// add one labelled sample, which trains the market's model; afterwards every
/// contributor t is paid by how much h(t) improved on h(t') over the test set D: all K
/// parts, or (terms.lossOnLaterParts, the original framework's rule) only the K - k parts
/// revealed after participation.
///
/// Why a contract of its own and not a mechanism behind CollaborativeTrainer: the
/// reward phase must re-apply every contribution, in order, to the initial model and
/// evaluate each h(t) on D. An IIncentiveMechanism sees amounts only and an external
/// IClassifier cannot be copied or reset; so the market owns its model (a binary sparse
/// perceptron taking SparsePerceptron's step, lib/PerceptronStep.sol, whose weights
/// start at zero or at weights the provider gives (`commit`'s initialWeights).
///
/// Where the work lives: this contract holds the rounds (commitment, participation,
/// payout and the views) and drives the reward computation; its stages (a) and (b) run
/// in the linked library MarketLosses (with the copy of h(0)'s weights), (c) and (d) in
/// MarketBalances (with the draw and the abort), by DELEGATECALL on this contract's
/// storage (types in MarketRound.sol). Deploy the two libraries once and
/// link their addresses into this contract's bytecode (`vm_contracts.market`); so split,
/// the unoptimized build also fits EIP-170's 24,576-byte limit.
///
/// Phases of one round:
/// 1. Commitment. `commit` deposits the bounty (a multiple of the stake unit; B is the
///    number of units), fixes the loss (0-1 loss on D, clipped to [0, 1] by nature),
///    the model's hyperparameters, K part hashes, k, and the end condition (a duration
///    and/or a number of contributions). The k parts revealed first are drawn by
///    `drawTestParts` from the hash of the block after the commit: the provider fixes
///    every hash before that block exists and cannot choose it (on sumchain the block
///    producer is the chain's authority, not the provider; on a public chain a producer
///    colluding with the provider could at most withhold a block). The draw must happen
///    within 256 blocks, while that hash is readable; otherwise the round can be aborted.
///    The provider reveals the k drawn parts (`revealTestPart`; each checked against
///    its hash). Unless all k are revealed within `revealWindowSeconds` of the commit,
///    anyone may `abortRound`: the bounty stays locked in the contract.
/// 2. Participation. `contribute(data, label)` with exactly one stake unit, until the
///    duration has passed or the contribution count is reached. Each contribution is
///    stored (packed) with its contributor, its label and whether it changed the model
///    (a perceptron changes only when it mispredicts), so every h(t) can be rebuilt.
/// 3. Reward. The provider reveals the remaining K - k parts within
///    `revealWindowSeconds` of the end (else `abortRound`; contributors get their stakes
///    back and the bounty stays locked). Then anyone pushes `advance(maxSteps)` until
///    done:
///    (a) Index: D is turned into one bit set per feature (which test samples hold it)
///        and one of labels, 256 samples to a word; and each test sample's start value
///        v_j (below) is written into the slices.
///    (b) Losses: the error count of h(0) and of every h(t). A perceptron step adds
///        +-lr to the weights of x_t and to the bias, so it moves the score of test
///        sample j by +-lr * (|x_t & x_j| + 1) from its score s_j under h(0) (b0 plus
///        h(0)'s weights of x_j; b0 alone for zero weights). The working copy of the model
///        is therefore kept as what the 0-1 loss needs of it: v_j = c_j - m_j, c_j the
///        sum of those counts so far and m_j = floor(-s_j / lr) + 1, so that h predicts 1
///        on j exactly when v_j >= 0. The v_j are held bit-sliced
///        (slice b holds bit b of every v_j, two's complement), and a contribution that
///        changed the model adds or subtracts the counts |x_t & x_j| + 1, which are summed
///        bit-sliced from the feature bit sets of x_t: some hundred word operations for
///        256 test samples at once, instead of re-scoring every test sample. An unchanged
///        model keeps its error count. The result is exactly that of re-applying the
///        contributions to the weights and re-scoring D (the twin does that; the tests
///        compare them).
///    (c) Balances by the paper's iterated rule: b_t starts at one stake; each round,
///        for every t still in S in order, b_t += L(h(t'), D) - L(h(t), D) stakes, t' the
///        previous member of S (0, the initial model, for the first); then members
///        below one stake leave S; B rounds. Between two rounds in which somebody leaves,
///        every member's balance moves by the same amount each round, so it is kept as
///        (balance at round r0, r0) and evaluated when needed; a member whose balance
///        falls is scheduled, in a min-heap, at the round it will first be below one
///        stake. The computation jumps from one such round to the next: the members due
///        leave, and the member after each of them, whose predecessor t' changed, is
///        rescheduled. Every balance is exactly the iterated rule's.
///    (d) Credit: each contributor's balances are summed.
/// 4. Payout. `withdraw(round)` pulls floor(sum of balances) wei, once. What is not paid
///    stays in the contract. A new round (any provider) may start once a round is
///    finished or aborted.
///
/// Units: a balance is one stake plus k stake units / n, n the test-set size: k is the
/// whole number of test errors it gained or lost, so the arithmetic is exact.
/// @dev Feature indices are packed as uint16 (numFeatures <= 65536) and must be strictly
/// increasing (a sample is a set of features); labels 0 or 1; weights and intercept are
/// int80 (PackedValueOutOfRange beyond), as in SparsePerceptron.
contract PredictionMarket is IMarketStages {
    /// @notice Largest feature count (indices are stored as uint16).
    uint256 public constant MAX_FEATURES = 65536;
    /// @notice Largest number of test parts K.
    uint256 public constant MAX_PARTS = 1024;
    /// @notice Blocks for which a block hash stays readable (EVM rule).
    uint256 public constant BLOCKHASH_WINDOW = MarketRound.BLOCKHASH_WINDOW;

    /// @notice The latest round (0 before the first commit).
    uint256 public currentRound;

    mapping(uint256 => Round) private _rounds;

    // round => the live model's int80 weights, three to a storage word (lib/Packed.sol)
    mapping(uint256 => mapping(uint256 => uint256)) private _weights;

    /// @notice `provider` opened `round` with `bounty` wei and `numParts` part hashes.
    event Committed(uint256 indexed round, address indexed provider, uint256 bounty, uint256 numParts, Terms terms);
    /// @notice Part `part` of the test set (`samples` samples) was revealed. The samples
    /// are public from here: they are the arguments of the revealing transaction (not
    /// repeated in the log, which would cost 8 gas a byte more).
    event TestPartRevealed(uint256 indexed round, uint256 indexed part, uint256 samples);
    /// @notice Participation opened.
    event ParticipationStarted(uint256 indexed round, uint256 startedAt);
    /// @notice Contribution `t` (1-based) was added and the model trained on it.
    event Contributed(uint256 indexed round, address indexed contributor, uint256 t, uint64 label, int64[] data);
    /// @notice The whole test set is revealed; the reward computation may start.
    event RewardComputationStarted(uint256 indexed round);
    /// @notice The reward computation is finished; withdrawals are open.
    event RoundFinished(uint256 indexed round);

    /// @notice A test-part reveal outside the two reveal steps.
    error RevealOutOfPhase(Phase actual);
    /// @notice A new round while the current one is neither finished nor aborted.
    error RoundInProgress(uint256 round);
    /// @notice A terms value is unusable (`what` names it).
    error InvalidParameter(string what);
    /// @notice The bounty must be a positive multiple of the stake unit.
    error BountyNotMultipleOfStake(uint256 bounty, uint256 stakeUnit);
    /// @notice Only the round's provider may do this.
    error NotProvider(address caller);
    /// @notice The initial parts must be drawn before they are revealed.
    error NotDrawn();
    /// @notice `part` is not among the K parts.
    error PartOutOfRange(uint256 part, uint256 numParts);
    /// @notice `part` is not one of the drawn initial parts.
    error PartNotSelected(uint256 part);
    /// @notice `part` was revealed already.
    error PartAlreadyRevealed(uint256 part);
    /// @notice The revealed samples do not hash to the committed value of `part`.
    error PartHashMismatch(uint256 part);
    /// @notice A part's data and labels differ in length.
    error PartLengthMismatch(uint256 samples, uint256 labels);
    /// @notice A part must hold at least one sample.
    error EmptyPart(uint256 part);
    /// @notice A contribution after the end condition (time or count) was reached.
    error ParticipationClosed();
    /// @notice A contribution must carry exactly one stake unit.
    error WrongStake(uint256 required, uint256 sent);
    /// @notice Data element at `position` is not a feature index in [0, numFeatures).
    error FeatureIndexOutOfRange(uint256 position, int64 index);
    /// @notice A packed test sample has an odd number of bytes (`length`).
    error MalformedSample(uint256 length);
    /// @notice Data element at `position` repeats or precedes the one before: a
    /// sample's feature indices must be strictly increasing.
    error FeatureIndicesNotIncreasing(uint256 position);
    /// @notice Labels are 0 or 1.
    error LabelOutOfRange(uint64 label);
    /// @notice `advance` on a round whose computation is finished.
    error ComputationFinished();
    /// @notice `advance` before the whole test set is revealed.
    error ComputationNotStarted();
    /// @notice Sending ether failed.
    error TransferFailed(address to, uint256 amount);

    // --- commitment ---------------------------------------------------------------

    /// @notice Open a round as its provider: deposit the bounty (msg.value), fix the
    /// terms and commit to the K test parts by hash. A part's hash is
    /// keccak256(abi.encode(salt, data, labels)) with data bytes[] (each sample its
    /// strictly increasing feature indices as big-endian uint16) and labels uint64[]
    /// (see `partHash`).
    /// @param terms Stake unit, model, initial parts k, end condition, reveal window.
    /// @param partHashes The K part hashes (k < K <= MAX_PARTS).
    /// @param initialWeights h(0)'s int80 weights in fixed point, packed three to a word
    /// as lib/Packed (weight i in word i / 3, bits 80 * (i % 3)), at most
    /// ceil(numFeatures / 3) words, the rest zero (lanes past numFeatures are never read);
    /// empty: zero weights. The original framework trains h(0) on a few samples first.
    /// They are public from here (the transaction's arguments) and readable with
    /// `initialWeight`; as many as fit one transaction (1,000 features: 334 words, at
    /// most some 15 M gas).
    function commit(Terms calldata terms, bytes32[] calldata partHashes, uint256[] calldata initialWeights)
        external
        payable
    {
        uint256 id = _commit(terms, partHashes);
        if (initialWeights.length == 0) return;
        if (initialWeights.length > (uint256(terms.numFeatures) + 2) / 3) revert InvalidParameter("initialWeights");
        MarketLosses.setInitialWeights(_rounds[id], _weights[id], initialWeights);
    }

    /// @notice Draw the k parts to reveal before participation from the hash of the
    /// block after the commit. Anyone may call, from that block's successor on and
    /// within BLOCKHASH_WINDOW blocks of it.
    function drawTestParts() external {
        MarketBalances.draw(currentRound, _rounds[currentRound]);
    }

    /// @notice The k of K parts a seed selects: the first k of a Fisher-Yates shuffle
    /// of 0..K-1, draw i using keccak256(seed, round, i) mod (K - i).
    function drawParts(bytes32 seed, uint256 round, uint256 numParts, uint256 k)
        external
        pure
        returns (uint256[] memory)
    {
        return MarketRound.drawParts(seed, round, numParts, k);
    }

    /// @notice The hash committed for a part.
    function partHash(bytes32 salt, bytes[] calldata data, uint64[] calldata labels)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(salt, data, labels));
    }

    /// @notice Reveal test part `part` (provider only): one of the drawn parts during
    /// commitment, or any remaining part once participation has ended. The samples are
    /// checked against the committed hash and stored for the reward computation (a drawn
    /// part of a round whose loss is on the later parts only is checked, not stored).
    /// @param part Index 0..K-1.
    /// @param salt The salt used in the part's hash.
    /// @param data Samples, each its strictly increasing feature indices as big-endian
    /// uint16 (2 bytes an index: a part of 100 reviews fits a transaction).
    /// @param labels Their labels (0 or 1).
    function revealTestPart(uint256 part, bytes32 salt, bytes[] calldata data, uint64[] calldata labels)
        external
    {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        Phase p = MarketRound.phase(r);
        if (p != Phase.Commitment && p != Phase.Reveal) revert RevealOutOfPhase(p);
        if (msg.sender != r.provider) revert NotProvider(msg.sender);
        if (part >= r.partHashes.length) revert PartOutOfRange(part, r.partHashes.length);
        if (r.revealed[part]) revert PartAlreadyRevealed(part);
        if (p == Phase.Commitment && !r.drawn) revert NotDrawn();
        if (p == Phase.Commitment && !r.selected[part]) revert PartNotSelected(part);
        if (data.length != labels.length) revert PartLengthMismatch(data.length, labels.length);
        if (data.length == 0) revert EmptyPart(part);
        if (partHash(salt, data, labels) != r.partHashes[part]) revert PartHashMismatch(part);
        uint256 n = r.terms.numFeatures;
        // a drawn part of a round scored on the later parts: seen by every contributor,
        // checked, not stored (not scored)
        bool scored = p != Phase.Commitment || !r.terms.lossOnLaterParts;
        for (uint256 i = 0; i < data.length; ++i) {
            bytes calldata x = _checkPacked(data[i], n);
            uint8 y = _checkLabel(labels[i]);
            if (scored) {
                r.testData.push(x);
                r.testLabels.push(y);
            }
        }
        r.revealed[part] = true;
        r.revealedParts += 1;
        emit TestPartRevealed(id, part, data.length);
        if (p == Phase.Commitment && r.revealedParts == r.terms.initialParts) {
            r.phase = Phase.Participation;
            r.startedAt = uint64(block.timestamp);
            emit ParticipationStarted(id, block.timestamp);
        } else if (p == Phase.Reveal) {
            if (r.phase == Phase.Participation) {
                r.phase = Phase.Reveal;
                if (r.closedAt == 0) r.closedAt = uint64(r.startedAt + r.terms.durationSeconds);
            }
            if (r.revealedParts == r.partHashes.length) {
                r.phase = Phase.Computing;
                r.rounds = r.bounty / r.terms.stakeUnit;
                r.words = (r.testLabels.length + 255) / 256;
                emit RewardComputationStarted(id);
            }
        }
    }

    /// @notice Abort the current round when the provider missed a reveal deadline
    /// (`revealWindowSeconds` after the commit for the drawn parts, or after the end of
    /// participation for the rest), or when the draw's seed expired. Anyone may call.
    /// The bounty stays locked; contributors may withdraw their stakes.
    function abortRound() external {
        MarketBalances.abort(currentRound, _rounds[currentRound]);
    }

    // --- participation --------------------------------------------------------------

    /// @notice Add a labelled sample with exactly one stake unit (msg.value) and train
    /// the live model on it (a perceptron step when it mispredicts the sample).
    /// @param data Feature indices in [0, numFeatures).
    /// @param label 0 or 1.
    function contribute(int64[] calldata data, uint64 label) external payable {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        Phase p = MarketRound.phase(r);
        if (p == Phase.Reveal || (p == Phase.Participation && MarketRound.ended(r))) revert ParticipationClosed();
        if (p != Phase.Participation) revert WrongPhase(Phase.Participation, p);
        if (msg.value != r.terms.stakeUnit) revert WrongStake(r.terms.stakeUnit, msg.value);
        bytes memory packed = _pack(data, r.terms.numFeatures);
        uint8 y = _checkLabel(label);
        r.contributors.push(msg.sender);
        r.contributionData.push(packed);
        r.stakes[msg.sender] += msg.value;
        bool changed;
        (changed, r.liveIntercept) = _train(id, r.liveIntercept, packed, y, r.terms.learningRate);
        r.contributionFlags.push(changed ? y | 2 : y);
        uint256 t = r.contributors.length;
        if (r.terms.maxContributions != 0 && t >= r.terms.maxContributions) {
            r.closedAt = uint64(block.timestamp);
        }
        emit Contributed(id, msg.sender, t, label, data);
    }

    /// @notice The live model's class for `data` in round `round`. Free (view).
    function predict(uint256 round, int64[] calldata data) external view returns (uint64) {
        Round storage r = _rounds[round];
        if (r.phase == Phase.None) revert NoSuchRound(round);
        return _score(round, r.liveIntercept, _pack(data, r.terms.numFeatures)) > 0 ? 1 : 0;
    }

    // --- reward ---------------------------------------------------------------------

    /// @notice Push the reward computation of the current round forward by at most
    /// `maxSteps` steps (one step: indexing one test sample, applying one contribution,
    /// scheduling, removing or unlinking one member of S, or crediting one contribution). Anyone may call, as often as needed; the
    /// result does not depend on how the work is split.
    /// @return done Whether the computation finished in this call.
    function advance(uint256 maxSteps) external returns (bool done) {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        if (r.phase == Phase.Finished) revert ComputationFinished();
        if (r.phase != Phase.Computing) revert ComputationNotStarted();
        uint256 steps = maxSteps;
        while (steps > 0 && r.stage != Stage.Done) {
            if (r.stage == Stage.Index) steps = MarketLosses.indexSteps(id, r, steps);
            else if (r.stage == Stage.Losses) steps = MarketLosses.lossSteps(id, r, steps);
            else if (r.stage == Stage.Balances) steps = MarketBalances.balanceSteps(id, r, steps);
            else steps = MarketBalances.creditSteps(r, steps);
        }
        if (r.stage == Stage.Done) {
            r.phase = Phase.Finished;
            emit RoundFinished(id);
            return true;
        }
        return false;
    }

    /// @notice Pull what round `round` owes the caller: floor of the sum of their
    /// balances (finished round), or their stakes (aborted round). Once.
    function withdraw(uint256 round) external {
        uint256 amount = MarketBalances.payout(round, _rounds[round], msg.sender);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // --- views ------------------------------------------------------------------------

    /// @notice The phase of `round` as it stands now (Participation becomes Reveal once
    /// its end condition is met).
    function phaseOf(uint256 round) external view returns (Phase) {
        return MarketRound.phase(_rounds[round]);
    }

    /// @notice Provider, bounty (wei), terms, parts K, seed block and times of `round`.
    function roundInfo(uint256 round)
        external
        view
        returns (
            address provider,
            uint256 bounty,
            Terms memory terms,
            uint256 numParts,
            uint256 seedBlock,
            uint256 startedAt,
            uint256 closedAt
        )
    {
        Round storage r = _rounds[round];
        return (r.provider, r.bounty, r.terms, r.partHashes.length, r.seedBlock, r.startedAt, MarketRound.closedAt(r));
    }

    /// @notice Contributions so far, test samples of D revealed so far (the samples the
    /// loss counts: with terms.lossOnLaterParts the drawn parts are not among them), and
    /// whether the drawn parts are known.
    function counts(uint256 round) external view returns (uint256 contributions, uint256 testSamples, bool drawn) {
        Round storage r = _rounds[round];
        return (r.contributors.length, r.testLabels.length, r.drawn);
    }

    /// @notice Whether `part` is one of the drawn initial parts / revealed.
    function partStatus(uint256 round, uint256 part) external view returns (bool selected, bool revealed) {
        Round storage r = _rounds[round];
        return (r.selected[part], r.revealed[part]);
    }

    /// @notice Weight `index` of round `round`'s initial model h(0) (fixed point; 0 for a
    /// round committed without weights).
    function initialWeight(uint256 round, uint256 index) external view returns (int80) {
        return Packed.getInt80(_rounds[round].initialWeights, index);
    }

    /// @notice Test errors of h(t) (valid once computed; t = 0 is the initial model).
    function errorsOf(uint256 round, uint256 t) external view returns (uint256) {
        return MarketRound.errors(_rounds[round], t);
    }

    /// @notice Balance of contribution t (1-based) after the B rounds, in wei times the
    /// test-set size (valid once the round is finished).
    function balanceOf(uint256 round, uint256 t) external view returns (uint256) {
        Round storage r = _rounds[round];
        return r.terms.stakeUnit * uint256(int256(r.testLabels.length) + MarketBalances.finalK(r, t));
    }

    /// @notice What `account` may withdraw from `round` once it is finished (wei), and
    /// whether it has.
    function owedTo(uint256 round, address account) external view returns (uint256 amount, bool withdrawn) {
        Round storage r = _rounds[round];
        uint256 n = r.testLabels.length;
        uint256 owed = r.phase == Phase.Aborted ? r.stakes[account] : (n == 0 ? 0 : r.owed[account] / n);
        return (owed, r.withdrawn[account]);
    }

    /// @notice Reward computation progress: stage, cursor, bounty rounds not yet
    /// applied (B until the balances stage has passed them).
    function progress(uint256 round) external view returns (Stage stage, uint256 cursor, uint256 roundsLeft) {
        Round storage r = _rounds[round];
        return (r.stage, r.cursor, r.rounds - r.clock);
    }

    // --- internals --------------------------------------------------------------------

    function _commit(Terms calldata terms, bytes32[] calldata partHashes) private returns (uint256 id) {
        uint256 previous = currentRound;
        if (previous != 0) {
            Phase p = _rounds[previous].phase;
            if (p != Phase.Finished && p != Phase.Aborted) revert RoundInProgress(previous);
        }
        if (terms.stakeUnit == 0) revert InvalidParameter("stakeUnit");
        if (terms.numFeatures == 0 || terms.numFeatures > MAX_FEATURES) revert InvalidParameter("numFeatures");
        if (terms.learningRate <= 0) revert InvalidParameter("learningRate");
        if (partHashes.length < 2 || partHashes.length > MAX_PARTS) revert InvalidParameter("partHashes");
        if (terms.initialParts == 0 || terms.initialParts >= partHashes.length) revert InvalidParameter("initialParts");
        if (terms.durationSeconds == 0 && terms.maxContributions == 0) revert InvalidParameter("end condition");
        if (terms.revealWindowSeconds == 0) revert InvalidParameter("revealWindowSeconds");
        if (msg.value == 0 || msg.value % terms.stakeUnit != 0) {
            revert BountyNotMultipleOfStake(msg.value, terms.stakeUnit);
        }
        if (msg.value / terms.stakeUnit >= MarketBalances.GONE) revert InvalidParameter("bounty rounds");
        id = previous + 1;
        currentRound = id;
        Round storage r = _rounds[id];
        r.provider = msg.sender;
        r.phase = Phase.Commitment;
        r.seedBlock = uint64(block.number + 1);
        r.committedAt = uint64(block.timestamp);
        r.terms = terms;
        r.bounty = msg.value;
        r.partHashes = partHashes;
        r.liveIntercept = terms.intercept;
        emit Committed(id, msg.sender, msg.value, partHashes.length, terms);
    }


    // --- helpers ----------------------------------------------------------------------

    /// A perceptron step on the live model of round `gen`: learn (x, y) if mispredicted,
    /// by SparsePerceptron's step (lib/PerceptronStep).
    function _train(uint256 gen, int256 bias, bytes memory x, uint8 y, int80 learningRate)
        private
        returns (bool changed, int256 newBias)
    {
        uint8 predicted = _score(gen, bias, x) > 0 ? 1 : 0;
        if (predicted == y) return (false, bias);
        int256 step = PerceptronStep.signedStep(learningRate, y);
        mapping(uint256 => uint256) storage w = _weights[gen];
        uint256 slot = PerceptronStep.NO_SLOT;
        uint256 word;
        for (uint256 k = 0; k + 1 < x.length; k += 2) {
            (slot, word) = PerceptronStep.add(w, slot, word, MarketRound.index(x, k), step);
        }
        PerceptronStep.finish(w, slot, word);
        return (true, PerceptronStep.movedBias(bias, step));
    }

    function _score(uint256 gen, int256 bias, bytes memory x) private view returns (int256 score) {
        mapping(uint256 => uint256) storage w = _weights[gen];
        score = bias;
        for (uint256 k = 0; k + 1 < x.length; k += 2) {
            score += Packed.getInt80(w, MarketRound.index(x, k));
        }
    }

    function _pack(int64[] calldata data, uint256 numFeatures) private pure returns (bytes memory packed) {
        packed = new bytes(2 * data.length);
        for (uint256 k = 0; k < data.length; ++k) {
            int64 v = data[k];
            if (v < 0 || uint256(int256(v)) >= numFeatures) revert FeatureIndexOutOfRange(k, v);
            if (k > 0 && v <= data[k - 1]) revert FeatureIndicesNotIncreasing(k);
            uint256 i = uint256(int256(v));
            packed[2 * k] = bytes1(uint8(i >> 8));
            packed[2 * k + 1] = bytes1(uint8(i));
        }
    }

    /// A packed sample (uint16 indices), checked: in range and strictly increasing.
    function _checkPacked(bytes calldata x, uint256 numFeatures) private pure returns (bytes calldata) {
        if (x.length % 2 != 0) revert MalformedSample(x.length);
        uint256 previous;
        for (uint256 k = 0; k < x.length; k += 2) {
            uint256 i = (uint256(uint8(x[k])) << 8) | uint256(uint8(x[k + 1]));
            if (i >= numFeatures) revert FeatureIndexOutOfRange(k / 2, int64(int256(i)));
            if (k > 0 && i <= previous) revert FeatureIndicesNotIncreasing(k / 2);
            previous = i;
        }
        return x;
    }

    function _checkLabel(uint64 label) private pure returns (uint8) {
        if (label > 1) revert LabelOutOfRange(label);
        return uint8(label);
    }
}
