// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Packed} from "../lib/Packed.sol";

/// @title PredictionMarket
/// @notice A bounty-funded prediction market with a committed test set (Harris &
/// Waggoner 2019, section III-B and Fig. 2). A provider funds a bounty of B stake units
/// and commits to a test set split into K parts; contributors each stake one unit and
/// add one labelled sample, which trains the market's model; afterwards every
/// contributor t is paid by how much h(t) improved on h(t') over the whole test set D.
///
/// Why a contract of its own and not a mechanism behind CollaborativeTrainer: the
/// reward phase must re-apply every contribution, in order, to a fresh copy of the
/// initial model, evaluating each h(t) on D. An IIncentiveMechanism sees amounts only
/// and an external IClassifier cannot be copied or reset; so the market owns its model
/// (a binary sparse perceptron, the same arithmetic as models/SparsePerceptron.sol,
/// weights starting at zero) in two generations of storage per round: the live model
/// h(t) updated by `contribute` and the working copy rebuilt in the reward phase.
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
///    stored (packed) with its contributor, so every h(t) can be rebuilt later.
/// 3. Reward. The provider reveals the remaining K - k parts within
///    `revealWindowSeconds` of the end (else `abortRound`; contributors get their stakes
///    back and the bounty stays locked). Then anyone pushes `advance(maxSteps)` until
///    done: (a) the error count of h(0) and, re-applying the contributions in order to
///    the working copy, of every h(t) (unchanged models are not re-evaluated);
///    (b) balances by the paper's iterated rule: b_t starts at one stake; each round,
///    for every t still in S in order, b_t += L(h(t'), D) - L(h(t), D) stakes, t' the
///    previous member of S (0 for the first); then members below one stake leave S; B
///    rounds. A run of rounds in which nobody leaves is applied at once, r rounds
///    adding r times the same increments, r being the first round in which someone would
///    drop below one stake: exactly the iterated result. (c) each contributor's
///    balances are summed.
/// 4. Payout. `withdraw(round)` pulls floor(sum of balances) wei, once. What is not paid
///    stays in the contract. A new round (any provider) may start once a round is
///    finished or aborted.
///
/// Units: balances are kept in wei times n (n = test samples), so L(h, D) = errors / n
/// enters as whole numbers and the arithmetic is exact.
/// @dev Feature indices are packed as uint16 (numFeatures <= 65536), labels 0 or 1;
/// weights and intercept are int80 (PackedValueOutOfRange beyond), as in SparsePerceptron.
contract PredictionMarket {
    /// @notice A round's phase (Participation also covers the time after its end
    /// condition until the first reward-phase reveal; see `phaseOf`).
    enum Phase {
        None,
        Commitment,
        Participation,
        Reveal,
        Computing,
        Finished,
        Aborted
    }

    /// @notice What the reward computation is doing (see the contract's notice, 3a-3c).
    enum Stage {
        Losses,
        Balances,
        Credit,
        Done
    }

    /// @notice What the provider fixes in `commit`.
    struct Terms {
        /// @dev Wei per stake unit; the bounty must be a positive multiple of it.
        uint256 stakeUnit;
        /// @dev Model features (1 .. 65536); data are indices below it.
        uint64 numFeatures;
        /// @dev Perceptron step, fixed point (10^9), > 0.
        int80 learningRate;
        /// @dev Initial bias, fixed point.
        int80 intercept;
        /// @dev Parts revealed before participation (1 .. K-1).
        uint32 initialParts;
        /// @dev Participation lasts at most this long (s); 0 = no time limit.
        uint64 durationSeconds;
        /// @dev Participation ends at this many contributions; 0 = no count limit.
        uint64 maxContributions;
        /// @dev Time the provider has for each reveal step (s), > 0.
        uint64 revealWindowSeconds;
    }

    struct Round {
        address provider;
        Phase phase;
        Stage stage;
        uint64 seedBlock;
        uint64 committedAt;
        uint64 startedAt;
        uint64 closedAt;
        bool drawn;
        Terms terms;
        uint256 bounty;
        bytes32[] partHashes;
        mapping(uint256 => bool) selected;
        mapping(uint256 => bool) revealed;
        uint256 revealedParts;
        // the test set D, one packed sample per entry
        bytes[] testData;
        uint8[] testLabels;
        // contributions t = 1 .. T (index t - 1)
        address[] contributors;
        bytes[] contributionData;
        uint8[] contributionLabels;
        int256 liveIntercept;
        int256 workIntercept;
        // reward computation state
        uint256 cursor; // Losses: next t to compute; Balances/Credit: next node
        uint256 testCursor; // Losses: next test sample to evaluate for h(cursor)
        uint256 errorsSoFar; // Losses: errors of h(cursor) over samples < testCursor
        bool applied; // Losses: contribution `cursor` is applied to the working copy
        mapping(uint256 => uint256) errors; // t => test errors of h(t)
        uint256 roundsLeft;
        bool secondPass; // Balances: false = find the run length, true = apply it
        uint256 runLength;
        uint256 prevErrors; // Balances: errors of the previous visited member of S
        uint256 lastKept; // Balances: last member kept in S (0 = head)
        mapping(uint256 => uint256) next; // S as a list from node 0 (0 = t + 1)
        mapping(uint256 => int256) balances; // t => b_t - one stake, wei * n
        mapping(address => uint256) owed; // wei * n
        mapping(address => uint256) stakes; // wei, for refunds after an abort
        mapping(address => bool) withdrawn;
    }

    /// @notice Largest feature count (indices are stored as uint16).
    uint256 public constant MAX_FEATURES = 65536;
    /// @notice Largest number of test parts K.
    uint256 public constant MAX_PARTS = 1024;
    /// @notice Blocks for which a block hash stays readable (EVM rule).
    uint256 public constant BLOCKHASH_WINDOW = 256;

    /// @notice The latest round (0 before the first commit).
    uint256 public currentRound;

    mapping(uint256 => Round) private _rounds;
    // generation (2 * round live, 2 * round + 1 working copy) => int80 weights, three
    // to a storage word (lib/Packed.sol)
    mapping(uint256 => mapping(uint256 => uint256)) private _weights;

    /// @notice `provider` opened `round` with `bounty` wei and `numParts` part hashes.
    event Committed(uint256 indexed round, address indexed provider, uint256 bounty, uint256 numParts, Terms terms);
    /// @notice The parts to reveal before participation were drawn.
    event TestPartsDrawn(uint256 indexed round, uint256[] parts);
    /// @notice Part `part` of the test set was revealed (the samples are public from here).
    event TestPartRevealed(uint256 indexed round, uint256 indexed part, int64[][] data, uint64[] labels);
    /// @notice Participation opened.
    event ParticipationStarted(uint256 indexed round, uint256 startedAt);
    /// @notice Contribution `t` (1-based) was added and the model trained on it.
    event Contributed(uint256 indexed round, address indexed contributor, uint256 t, uint64 label, int64[] data);
    /// @notice The whole test set is revealed; the reward computation may start.
    event RewardComputationStarted(uint256 indexed round);
    /// @notice h(t) makes `errors` mistakes on the test set.
    event LossComputed(uint256 indexed round, uint256 t, uint256 errors);
    /// @notice `rounds` bounty rounds were applied at once; `roundsLeft` remain.
    event BalanceRounds(uint256 indexed round, uint256 rounds, uint256 roundsLeft);
    /// @notice The reward computation is finished; withdrawals are open.
    event RoundFinished(uint256 indexed round);
    /// @notice The round was aborted; the bounty stays locked.
    event RoundAborted(uint256 indexed round);
    /// @notice `account` withdrew `amount` wei from `round`.
    event Withdrawn(uint256 indexed round, address indexed account, uint256 amount);

    /// @notice The action needs another phase.
    error WrongPhase(Phase expected, Phase actual);
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
    /// @notice The draw needs the block after the commit to exist (at `availableAtBlock`).
    error TooEarly(uint256 availableAtBlock);
    /// @notice The seed block's hash is no longer readable; the round can only abort.
    error SeedExpired(uint256 seedBlock);
    /// @notice The initial parts were drawn already.
    error AlreadyDrawn();
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
    /// @notice Labels are 0 or 1.
    error LabelOutOfRange(uint64 label);
    /// @notice `abortRound` before a reveal deadline (`deadline`, s) passed or when
    /// nothing is missing.
    error CannotAbort(uint256 deadline);
    /// @notice `advance` on a round whose computation is finished.
    error ComputationFinished();
    /// @notice `advance` before the whole test set is revealed.
    error ComputationNotStarted();
    /// @notice A withdrawal before the reward phase ended.
    error RewardPhaseNotFinished(Phase actual);
    /// @notice A second withdrawal.
    error AlreadyWithdrawn();
    /// @notice The caller has nothing to withdraw from this round.
    error NothingToWithdraw();
    /// @notice Sending ether failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice The round number does not exist.
    error NoSuchRound(uint256 round);

    // --- commitment ---------------------------------------------------------------

    /// @notice Open a round as its provider: deposit the bounty (msg.value), fix the
    /// terms and commit to the K test parts by hash. A part's hash is
    /// keccak256(abi.encode(salt, data, labels)) with data int64[][] (feature indices)
    /// and labels uint64[] (see `partHash`).
    /// @param terms Stake unit, model, initial parts k, end condition, reveal window.
    /// @param partHashes The K part hashes (k < K <= MAX_PARTS).
    function commit(Terms calldata terms, bytes32[] calldata partHashes) external payable {
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
        uint256 id = previous + 1;
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
        r.workIntercept = terms.intercept;
        r.applied = true; // h(0) needs no contribution applied
        emit Committed(id, msg.sender, msg.value, partHashes.length, terms);
    }

    /// @notice Draw the k parts to reveal before participation from the hash of the
    /// block after the commit. Anyone may call, from that block's successor on and
    /// within BLOCKHASH_WINDOW blocks of it.
    function drawTestParts() external {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        if (r.phase != Phase.Commitment) revert WrongPhase(Phase.Commitment, r.phase);
        if (r.drawn) revert AlreadyDrawn();
        if (block.number <= r.seedBlock) revert TooEarly(r.seedBlock + 1);
        bytes32 seed = blockhash(r.seedBlock);
        if (seed == bytes32(0)) revert SeedExpired(r.seedBlock);
        uint256[] memory chosen = drawParts(seed, id, r.partHashes.length, r.terms.initialParts);
        for (uint256 i = 0; i < chosen.length; ++i) {
            r.selected[chosen[i]] = true;
        }
        r.drawn = true;
        emit TestPartsDrawn(id, chosen);
    }

    /// @notice The k of K parts a seed selects: the first k of a Fisher-Yates shuffle
    /// of 0..K-1, draw i using keccak256(seed, round, i) mod (K - i).
    function drawParts(bytes32 seed, uint256 round, uint256 numParts, uint256 k)
        public
        pure
        returns (uint256[] memory chosen)
    {
        uint256[] memory order = new uint256[](numParts);
        for (uint256 i = 0; i < numParts; ++i) {
            order[i] = i;
        }
        chosen = new uint256[](k);
        for (uint256 i = 0; i < k; ++i) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, round, i))) % (numParts - i);
            (order[i], order[j]) = (order[j], order[i]);
            chosen[i] = order[i];
        }
    }

    /// @notice The hash committed for a part.
    function partHash(bytes32 salt, int64[][] calldata data, uint64[] calldata labels)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(salt, data, labels));
    }

    /// @notice Reveal test part `part` (provider only): one of the drawn parts during
    /// commitment, or any remaining part once participation has ended. The samples are
    /// checked against the committed hash and stored for the reward computation.
    /// @param part Index 0..K-1.
    /// @param salt The salt used in the part's hash.
    /// @param data Samples, each a list of feature indices.
    /// @param labels Their labels (0 or 1).
    function revealTestPart(uint256 part, bytes32 salt, int64[][] calldata data, uint64[] calldata labels)
        external
    {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        Phase p = _phase(r);
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
        for (uint256 i = 0; i < data.length; ++i) {
            r.testData.push(_pack(data[i], n));
            r.testLabels.push(_checkLabel(labels[i]));
        }
        r.revealed[part] = true;
        r.revealedParts += 1;
        emit TestPartRevealed(id, part, data, labels);
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
                r.roundsLeft = r.bounty / r.terms.stakeUnit;
                emit RewardComputationStarted(id);
            }
        }
    }

    /// @notice Abort the current round when the provider missed a reveal deadline
    /// (`revealWindowSeconds` after the commit for the drawn parts, or after the end of
    /// participation for the rest), or when the draw's seed expired. Anyone may call.
    /// The bounty stays locked; contributors may withdraw their stakes.
    function abortRound() external {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        Phase p = _phase(r);
        uint256 deadline;
        if (p == Phase.Commitment) {
            bool seedExpired = !r.drawn && block.number > r.seedBlock + BLOCKHASH_WINDOW;
            deadline = r.committedAt + r.terms.revealWindowSeconds;
            if (!seedExpired && block.timestamp <= deadline) revert CannotAbort(deadline);
        } else if (p == Phase.Reveal) {
            deadline = _closedAt(r) + r.terms.revealWindowSeconds;
            if (block.timestamp <= deadline) revert CannotAbort(deadline);
        } else {
            revert CannotAbort(0);
        }
        r.phase = Phase.Aborted;
        emit RoundAborted(id);
    }

    // --- participation --------------------------------------------------------------

    /// @notice Add a labelled sample with exactly one stake unit (msg.value) and train
    /// the live model on it (a perceptron step when it mispredicts the sample).
    /// @param data Feature indices in [0, numFeatures).
    /// @param label 0 or 1.
    function contribute(int64[] calldata data, uint64 label) external payable {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        Phase p = _phase(r);
        if (p == Phase.Reveal || (p == Phase.Participation && _ended(r))) revert ParticipationClosed();
        if (p != Phase.Participation) revert WrongPhase(Phase.Participation, p);
        if (msg.value != r.terms.stakeUnit) revert WrongStake(r.terms.stakeUnit, msg.value);
        bytes memory packed = _pack(data, r.terms.numFeatures);
        uint8 y = _checkLabel(label);
        r.contributors.push(msg.sender);
        r.contributionData.push(packed);
        r.contributionLabels.push(y);
        r.stakes[msg.sender] += msg.value;
        (, r.liveIntercept) = _train(2 * id, r.liveIntercept, packed, y, r.terms.learningRate);
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
        return _score(2 * round, r.liveIntercept, _pack(data, r.terms.numFeatures)) > 0 ? 1 : 0;
    }

    // --- reward ---------------------------------------------------------------------

    /// @notice Push the reward computation of the current round forward by at most
    /// `maxSteps` steps (one step: applying one contribution, evaluating one test
    /// sample, or visiting one participant). Anyone may call, as often as needed; the
    /// result does not depend on how the work is split.
    /// @return done Whether the computation finished in this call.
    function advance(uint256 maxSteps) external returns (bool done) {
        uint256 id = currentRound;
        Round storage r = _rounds[id];
        if (r.phase == Phase.Finished) revert ComputationFinished();
        if (r.phase != Phase.Computing) revert ComputationNotStarted();
        uint256 steps = maxSteps;
        while (steps > 0 && r.stage != Stage.Done) {
            if (r.stage == Stage.Losses) steps = _lossSteps(id, r, steps);
            else if (r.stage == Stage.Balances) steps = _balanceSteps(id, r, steps);
            else steps = _creditSteps(r, steps);
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
        Round storage r = _rounds[round];
        if (r.phase == Phase.None) revert NoSuchRound(round);
        if (r.phase != Phase.Finished && r.phase != Phase.Aborted) revert RewardPhaseNotFinished(_phase(r));
        if (r.withdrawn[msg.sender]) revert AlreadyWithdrawn();
        uint256 amount = r.phase == Phase.Finished ? r.owed[msg.sender] / r.testLabels.length : r.stakes[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        r.withdrawn[msg.sender] = true;
        emit Withdrawn(round, msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // --- views ------------------------------------------------------------------------

    /// @notice The phase of `round` as it stands now (Participation becomes Reveal once
    /// its end condition is met).
    function phaseOf(uint256 round) external view returns (Phase) {
        return _phase(_rounds[round]);
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
        return (r.provider, r.bounty, r.terms, r.partHashes.length, r.seedBlock, r.startedAt, _closedAt(r));
    }

    /// @notice Contributions so far, test samples revealed so far, and whether the
    /// drawn parts are known.
    function counts(uint256 round) external view returns (uint256 contributions, uint256 testSamples, bool drawn) {
        Round storage r = _rounds[round];
        return (r.contributors.length, r.testLabels.length, r.drawn);
    }

    /// @notice Whether `part` is one of the drawn initial parts / revealed.
    function partStatus(uint256 round, uint256 part) external view returns (bool selected, bool revealed) {
        Round storage r = _rounds[round];
        return (r.selected[part], r.revealed[part]);
    }

    /// @notice Test errors of h(t) (valid once computed; t = 0 is the initial model).
    function errorsOf(uint256 round, uint256 t) external view returns (uint256) {
        return _rounds[round].errors[t];
    }

    /// @notice Balance of contribution t (1-based), in wei times the test-set size.
    function balanceOf(uint256 round, uint256 t) external view returns (uint256) {
        Round storage r = _rounds[round];
        return _balance(r, t, r.terms.stakeUnit * r.testLabels.length);
    }

    /// @notice What `account` may withdraw from `round` once it is finished (wei), and
    /// whether it has.
    function owedTo(uint256 round, address account) external view returns (uint256 amount, bool withdrawn) {
        Round storage r = _rounds[round];
        uint256 n = r.testLabels.length;
        uint256 owed = r.phase == Phase.Aborted ? r.stakes[account] : (n == 0 ? 0 : r.owed[account] / n);
        return (owed, r.withdrawn[account]);
    }

    /// @notice Reward computation progress: stage, cursor, bounty rounds left.
    function progress(uint256 round) external view returns (Stage stage, uint256 cursor, uint256 roundsLeft) {
        Round storage r = _rounds[round];
        return (r.stage, r.cursor, r.roundsLeft);
    }

    // --- internals --------------------------------------------------------------------

    function _phase(Round storage r) private view returns (Phase) {
        if (r.phase == Phase.Participation && _ended(r)) return Phase.Reveal;
        return r.phase;
    }

    function _ended(Round storage r) private view returns (bool) {
        if (r.closedAt != 0) return true;
        return r.terms.durationSeconds != 0 && block.timestamp >= r.startedAt + r.terms.durationSeconds;
    }

    function _closedAt(Round storage r) private view returns (uint256) {
        if (r.closedAt != 0) return r.closedAt;
        if (r.startedAt == 0 || r.terms.durationSeconds == 0) return 0;
        return r.startedAt + r.terms.durationSeconds;
    }

    /// Stage (a): errors of h(0) .. h(T). One step per applied contribution or
    /// evaluated test sample.
    function _lossSteps(uint256 id, Round storage r, uint256 steps) private returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 n = r.testLabels.length;
        uint256 gen = 2 * id + 1;
        int256 bias = r.workIntercept;
        while (steps > 0) {
            uint256 t = r.cursor;
            if (!r.applied) {
                bool changed;
                (changed, bias) =
                    _train(gen, bias, r.contributionData[t - 1], r.contributionLabels[t - 1], r.terms.learningRate);
                steps -= 1;
                if (!changed) {
                    r.errors[t] = r.errors[t - 1];
                    emit LossComputed(id, t, r.errors[t]);
                    if (t == total) return _finishLosses(r, bias, steps);
                    r.cursor = t + 1;
                    continue;
                }
                r.applied = true;
                continue;
            }
            uint256 j = r.testCursor;
            uint256 errs = r.errorsSoFar;
            while (steps > 0 && j < n) {
                uint8 predicted = _score(gen, bias, r.testData[j]) > 0 ? 1 : 0;
                if (predicted != r.testLabels[j]) errs += 1;
                j += 1;
                steps -= 1;
            }
            if (j < n) {
                r.testCursor = j;
                r.errorsSoFar = errs;
                break;
            }
            r.errors[t] = errs;
            emit LossComputed(id, t, errs);
            r.testCursor = 0;
            r.errorsSoFar = 0;
            if (t == total) return _finishLosses(r, bias, steps);
            r.cursor = t + 1;
            r.applied = false;
        }
        r.workIntercept = bias;
        return steps;
    }

    function _finishLosses(Round storage r, int256 bias, uint256 steps) private returns (uint256) {
        r.workIntercept = bias;
        r.cursor = 0;
        r.lastKept = 0;
        r.prevErrors = r.errors[0];
        r.stage = r.contributors.length == 0 || r.roundsLeft == 0 ? Stage.Credit : Stage.Balances;
        return steps;
    }

    /// Stage (b): the iterated rule, one run of rounds without drop-outs at a time.
    /// Pass 1 walks S to find the run length; pass 2 applies it and unlinks drop-outs.
    /// S is a list from node 0 (the head, h(0)); `_nextOf` is t + 1 until a drop-out
    /// relinks it, and a node above T ends the list. A balance is one stake plus
    /// `_delta[t]`, so nothing needs initialising per contribution.
    function _balanceSteps(uint256 id, Round storage r, uint256 steps) private returns (uint256) {
        uint256 one = r.terms.stakeUnit * r.testLabels.length;
        uint256 unit = r.terms.stakeUnit;
        uint256 total = r.contributors.length;
        while (steps > 0) {
            uint256 t = _nextOf(r, r.cursor);
            if (t > total) {
                if (!r.secondPass) {
                    if (r.runLength == 0 || r.runLength > r.roundsLeft) r.runLength = r.roundsLeft;
                    r.secondPass = true;
                } else {
                    r.roundsLeft -= r.runLength;
                    emit BalanceRounds(id, r.runLength, r.roundsLeft);
                    r.secondPass = false;
                    r.runLength = 0;
                    if (r.roundsLeft == 0 || _nextOf(r, 0) > total) {
                        r.stage = Stage.Credit;
                        r.cursor = 0;
                        return steps;
                    }
                }
                r.cursor = 0;
                r.lastKept = 0;
                r.prevErrors = r.errors[0];
                continue;
            }
            uint256 errs = r.errors[t];
            if (!r.secondPass) {
                if (errs > r.prevErrors) {
                    // b_t falls by `fall` each round: the first round it ends below one stake
                    uint256 fall = unit * (errs - r.prevErrors);
                    uint256 rounds = (_balance(r, t, one) - one) / fall + 1;
                    if (r.runLength == 0 || rounds < r.runLength) r.runLength = rounds;
                }
            } else {
                int256 change = int256(r.runLength * unit) * (int256(r.prevErrors) - int256(errs));
                r.balances[t] += change;
                if (_balance(r, t, one) < one) {
                    r.next[r.lastKept] = _nextOf(r, t);
                } else {
                    r.lastKept = t;
                }
            }
            r.cursor = t;
            r.prevErrors = errs;
            steps -= 1;
        }
        return steps;
    }

    function _nextOf(Round storage r, uint256 t) private view returns (uint256) {
        uint256 stored = r.next[t];
        return stored == 0 ? t + 1 : stored;
    }

    function _balance(Round storage r, uint256 t, uint256 one) private view returns (uint256) {
        return uint256(int256(one) + r.balances[t]);
    }

    /// Stage (c): owed[contributor] += b_t for every t.
    function _creditSteps(Round storage r, uint256 steps) private returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 one = r.terms.stakeUnit * r.testLabels.length;
        while (steps > 0 && r.cursor < total) {
            uint256 t = r.cursor + 1;
            r.owed[r.contributors[t - 1]] += _balance(r, t, one);
            r.cursor = t;
            steps -= 1;
        }
        if (r.cursor == total) r.stage = Stage.Done;
        return steps;
    }

    /// A perceptron step on generation `gen`: learn (x, y) if mispredicted. Indices in
    /// one storage word in a row (sorted data) write that word once.
    function _train(uint256 gen, int256 bias, bytes memory x, uint8 y, int80 learningRate)
        private
        returns (bool changed, int256 newBias)
    {
        uint8 predicted = _score(gen, bias, x) > 0 ? 1 : 0;
        if (predicted == y) return (false, bias);
        int256 step = y == 1 ? int256(learningRate) : -int256(learningRate);
        mapping(uint256 => uint256) storage w = _weights[gen];
        uint256 slot = type(uint256).max;
        uint256 word;
        for (uint256 k = 0; k + 1 < x.length; k += 2) {
            uint256 i = _index(x, k);
            uint256 s = i / 3;
            if (s != slot) {
                if (slot != type(uint256).max) w[slot] = word;
                slot = s;
                word = w[s];
            }
            word = Packed.withInt80(word, i, int256(Packed.int80At(word, i)) + step);
        }
        if (slot != type(uint256).max) w[slot] = word;
        newBias = bias + step;
        if (newBias < type(int80).min || newBias > type(int80).max) revert Packed.PackedValueOutOfRange(newBias);
        return (true, newBias);
    }

    function _score(uint256 gen, int256 bias, bytes memory x) private view returns (int256 score) {
        mapping(uint256 => uint256) storage w = _weights[gen];
        score = bias;
        for (uint256 k = 0; k + 1 < x.length; k += 2) {
            score += Packed.getInt80(w, _index(x, k));
        }
    }

    function _index(bytes memory x, uint256 k) private pure returns (uint256) {
        return (uint256(uint8(x[k])) << 8) | uint256(uint8(x[k + 1]));
    }

    function _pack(int64[] calldata data, uint256 numFeatures) private pure returns (bytes memory packed) {
        packed = new bytes(2 * data.length);
        for (uint256 k = 0; k < data.length; ++k) {
            int64 v = data[k];
            if (v < 0 || uint256(int256(v)) >= numFeatures) revert FeatureIndexOutOfRange(k, v);
            uint256 i = uint256(int256(v));
            packed[2 * k] = bytes1(uint8(i >> 8));
            packed[2 * k + 1] = bytes1(uint8(i));
        }
    }

    function _checkLabel(uint64 label) private pure returns (uint8) {
        if (label > 1) revert LabelOutOfRange(label);
        return uint8(label);
    }
}
