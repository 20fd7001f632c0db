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
/// reward phase must re-apply every contribution, in order, to the initial model and
/// evaluate each h(t) on D. An IIncentiveMechanism sees amounts only and an external
/// IClassifier cannot be copied or reset; so the market owns its model (a binary sparse
/// perceptron, the same arithmetic as models/SparsePerceptron.sol, weights starting at
/// zero).
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
///        and one of labels, 256 samples to a word.
///    (b) Losses: the error count of h(0) and of every h(t). A perceptron step adds
///        +-lr to the weights of x_t and to the bias, so it moves the score of test
///        sample j by +-lr * (|x_t & x_j| + 1), and h(0) (zero weights, bias b0) scores
///        every sample b0. The working copy of the model is therefore kept as what the
///        0-1 loss needs of it: v_j = (score_j - b0) / lr - m with m = floor(-b0 / lr) + 1,
///        so that h predicts 1 on j exactly when v_j >= 0. The v_j are held bit-sliced
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

    /// @notice What the reward computation is doing (see the contract's notice, 3a-3d).
    enum Stage {
        Index,
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
        uint8 pass; // Balances: 0 schedule the first round, 1 collect leavers, 2 unlink them
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
        // contributions t = 1 .. T (index t - 1); flags: bit 0 label, bit 1 model changed
        address[] contributors;
        bytes[] contributionData;
        uint8[] contributionFlags;
        int256 liveIntercept;
        // reward computation
        uint256 cursor; // Index: next test sample; Losses: next t; Balances: see `pass`; Credit: last t
        uint256 words; // W = ceil(n / 256): words per bit set over D
        uint256 sliceBits; // bits of the v_j slices in use
        mapping(uint256 => uint256) postings; // feature * W + w => samples holding it
        mapping(uint256 => uint256) labelBits; // w => samples labelled 1
        mapping(uint256 => uint256) slices; // bit * W + w => that bit of v_j
        mapping(uint256 => uint256) errorWords; // errors of h(t), uint32 entries (lib/Packed)
        uint256 rounds; // B
        uint256 clock; // the last round whose leavers are applied
        uint256 bucket; // the round whose leavers are being applied
        mapping(uint256 => uint256) members; // t => k (int128) | base round << 128 | due << 192
        mapping(uint256 => uint256) links; // t => prev + 1 | (next + 1) << 128 (0: t - 1, t + 1)
        mapping(uint256 => uint256) heap; // min-heap of due << 128 | t, from index 0
        uint256 heapSize;
        mapping(uint256 => uint256) leavers; // the members leaving after round `bucket`
        uint256 leaverCount;
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
    /// @notice Most bits a v_j can need: |v_j| <= (65536 + 1) * 2^80 + 2^80 (int80
    /// weights and bias, in steps of at least 1).
    uint256 private constant MAX_SLICES = 104;
    /// @notice Bits of the per-contribution counts |x_t & x_j| + 1 (at most 65537).
    uint256 private constant MAX_COUNT_BITS = 17;
    uint256 private constant DUE_SHIFT = 192;
    uint256 private constant BASE_SHIFT = 128;
    uint256 private constant MASK64 = (1 << 64) - 1;
    uint256 private constant MASK128 = (1 << 128) - 1;
    /// @dev `due` of a member that left S (its balance is final) and is still linked.
    uint256 private constant LEAVING = MASK64;
    /// @dev `due` of a member that left S and is unlinked.
    uint256 private constant GONE = MASK64 - 1;

    // round => the live model's int80 weights, three to a storage word (lib/Packed.sol)
    mapping(uint256 => mapping(uint256 => uint256)) private _weights;

    /// @notice `provider` opened `round` with `bounty` wei and `numParts` part hashes.
    event Committed(uint256 indexed round, address indexed provider, uint256 bounty, uint256 numParts, Terms terms);
    /// @notice The parts to reveal before participation were drawn.
    event TestPartsDrawn(uint256 indexed round, uint256[] parts);
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
    /// @notice h(t) makes `errors` mistakes on the test set.
    event LossComputed(uint256 indexed round, uint256 t, uint256 errors);
    /// @notice `rounds` bounty rounds were applied at once (up to a round after which
    /// somebody left S, or to the last); `roundsLeft` remain.
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
    /// @notice A packed test sample has an odd number of bytes (`length`).
    error MalformedSample(uint256 length);
    /// @notice Data element at `position` repeats or precedes the one before: a
    /// sample's feature indices must be strictly increasing.
    error FeatureIndicesNotIncreasing(uint256 position);
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
    /// keccak256(abi.encode(salt, data, labels)) with data bytes[] (each sample its
    /// strictly increasing feature indices as big-endian uint16) and labels uint64[]
    /// (see `partHash`).
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
        if (msg.value / terms.stakeUnit >= GONE) revert InvalidParameter("bounty rounds");
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
    function partHash(bytes32 salt, bytes[] calldata data, uint64[] calldata labels)
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
    /// @param data Samples, each its strictly increasing feature indices as big-endian
    /// uint16 (2 bytes an index: a part of 100 reviews fits a transaction).
    /// @param labels Their labels (0 or 1).
    function revealTestPart(uint256 part, bytes32 salt, bytes[] calldata data, uint64[] calldata labels)
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
            r.testData.push(_checkPacked(data[i], n));
            r.testLabels.push(_checkLabel(labels[i]));
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
            if (r.stage == Stage.Index) steps = _indexSteps(r, steps);
            else if (r.stage == Stage.Losses) steps = _lossSteps(id, r, steps);
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
        return _errors(_rounds[round], t);
    }

    /// @notice Balance of contribution t (1-based) after the B rounds, in wei times the
    /// test-set size (valid once the round is finished).
    function balanceOf(uint256 round, uint256 t) external view returns (uint256) {
        Round storage r = _rounds[round];
        return r.terms.stakeUnit * uint256(int256(r.testLabels.length) + _finalK(r, t));
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

    // --- reward computation: (a) index --------------------------------------------

    /// One step per test sample: set its bit in the bit set of each of its features
    /// and, if labelled 1, in the label bit set. Then start the losses.
    function _indexSteps(Round storage r, uint256 steps) private returns (uint256) {
        uint256 n = r.testLabels.length;
        uint256 words = r.words;
        uint256 j = r.cursor;
        while (steps > 0 && j < n) {
            bytes memory x = r.testData[j];
            uint256 w = j >> 8;
            uint256 bit = 1 << (j & 255);
            for (uint256 k = 0; k + 1 < x.length; k += 2) {
                r.postings[_index(x, k) * words + w] |= bit;
            }
            if (r.testLabels[j] == 1) r.labelBits[w] |= bit;
            j += 1;
            steps -= 1;
        }
        r.cursor = j;
        if (j == n) _startLosses(r);
        return steps;
    }

    /// v_j = -m for every j (h(0) scores every sample b0), and the errors of h(0).
    function _startLosses(Round storage r) private {
        int256 lr = r.terms.learningRate;
        int256 b0 = r.terms.intercept;
        // m = floor(-b0 / lr) + 1 (Solidity's division truncates toward zero)
        int256 m = -b0 / lr;
        if ((-b0) % lr != 0 && -b0 < 0) m -= 1;
        m += 1;
        int256 v0 = -m;
        uint256 bits = 2;
        while (v0 < -(int256(1) << (bits - 1)) || v0 >= int256(1) << (bits - 1)) bits += 1;
        uint256 words = r.words;
        uint256 n = r.testLabels.length;
        for (uint256 b = 0; b < bits; ++b) {
            bool set = (uint256(v0) >> b) & 1 == 1;
            for (uint256 w = 0; w < words; ++w) {
                r.slices[b * words + w] = set ? _laneMask(n, w) : 0;
            }
        }
        r.sliceBits = bits;
        uint256 errs;
        for (uint256 w = 0; w < words; ++w) {
            errs += _popcount(~(r.slices[(bits - 1) * words + w] ^ r.labelBits[w]) & _laneMask(n, w));
        }
        _setErrors(r, 0, errs);
        emit LossComputed(currentRound, 0, errs);
        r.stage = Stage.Losses;
        r.cursor = 1;
    }

    // --- reward computation: (b) losses -------------------------------------------

    /// The losses stage's working set within one transaction: v's slices, the count
    /// slices, the label bit set, W, n and v's width.
    struct Work {
        uint256[] v;
        uint256[] cnt;
        uint256[] labels;
        uint256 words;
        uint256 n;
        uint256 bits;
    }

    /// One step per contribution t: if it changed the model, v_j += +-(|x_t & x_j| + 1)
    /// for every test sample j, bit-sliced; then errors(t) = the samples whose sign of
    /// v_j disagrees with the label. The slices live in memory within a transaction.
    function _lossSteps(uint256 id, Round storage r, uint256 steps) private returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 t = r.cursor;
        if (t > total) return _finishLosses(r, steps);
        Work memory work = _loadWork(r);
        uint256 errs = _errors(r, t - 1);
        while (steps > 0 && t <= total) {
            uint8 flags = r.contributionFlags[t - 1];
            if (flags & 2 != 0) errs = _applyContribution(r, r.contributionData[t - 1], flags & 1 == 1, work);
            _setErrors(r, t, errs);
            emit LossComputed(id, t, errs);
            t += 1;
            steps -= 1;
        }
        _storeWork(r, work);
        r.cursor = t;
        if (t > total) return _finishLosses(r, steps);
        return steps;
    }

    function _loadWork(Round storage r) private view returns (Work memory work) {
        uint256 words = r.words;
        uint256 bits = r.sliceBits;
        work.words = words;
        work.n = r.testLabels.length;
        work.bits = bits;
        work.v = new uint256[](MAX_SLICES * words);
        work.cnt = new uint256[](MAX_COUNT_BITS * words);
        work.labels = new uint256[](words);
        for (uint256 w = 0; w < words; ++w) {
            work.labels[w] = r.labelBits[w];
            for (uint256 b = 0; b < bits; ++b) {
                work.v[b * words + w] = r.slices[b * words + w];
            }
        }
    }

    function _storeWork(Round storage r, Work memory work) private {
        uint256 words = work.words;
        uint256 bits = work.bits;
        for (uint256 w = 0; w < words; ++w) {
            for (uint256 b = 0; b < bits; ++b) {
                r.slices[b * words + w] = work.v[b * words + w];
            }
        }
        r.sliceBits = bits;
    }

    /// v += sign * (|x & x_j| + 1) for every j; returns the errors of the model after
    /// the step (and leaves v's new width in `work.bits`).
    function _applyContribution(Round storage r, bytes memory x, bool up, Work memory work)
        private
        view
        returns (uint256)
    {
        uint256 countBits = _counts(r, x, work);
        _addCounts(work, countBits, up);
        return _sliceErrors(work);
    }

    /// The counts |x & x_j| + 1 for every j, bit-sliced into `work.cnt` (slice 0 starts
    /// as all ones, the bias); returns how many slices they take.
    function _counts(Round storage r, bytes memory x, Work memory work) private view returns (uint256 countBits) {
        countBits = 1;
        uint256 most = x.length / 2 + 1;
        while (most >> countBits != 0) countBits += 1;
        uint256 words = work.words;
        uint256[] memory cnt = work.cnt;
        unchecked {
            for (uint256 w = 0; w < words; ++w) {
                cnt[w] = _laneMask(work.n, w);
                for (uint256 b = 1; b < countBits; ++b) {
                    cnt[b * words + w] = 0;
                }
            }
            for (uint256 k = 0; k + 1 < x.length; k += 2) {
                uint256 base = _index(x, k) * words;
                for (uint256 w = 0; w < words; ++w) {
                    uint256 carry = r.postings[base + w];
                    for (uint256 b = 0; carry != 0; ++b) {
                        uint256 c = cnt[b * words + w];
                        cnt[b * words + w] = c ^ carry;
                        carry = c & carry;
                    }
                }
            }
        }
    }

    /// v +-= cnt, widening v first so that the sum cannot overflow and narrowing it
    /// after (dropping slices equal to the one below: redundant sign bits).
    function _addCounts(Work memory work, uint256 countBits, bool up) private pure {
        uint256 words = work.words;
        uint256 bits = work.bits;
        uint256[] memory v = work.v;
        uint256 wide = (bits > countBits + 1 ? bits : countBits + 1) + 1;
        if (wide > MAX_SLICES) revert Packed.PackedValueOutOfRange(int256(wide));
        uint256 flip = up ? 0 : type(uint256).max; // subtracting: add ~cnt + 1
        unchecked {
            for (uint256 w = 0; w < words; ++w) {
                uint256 top = v[(bits - 1) * words + w];
                for (uint256 b = bits; b < wide; ++b) {
                    v[b * words + w] = top;
                }
                _addWord(work, w, wide, countBits, flip);
            }
            while (wide > 2 && _sameSlices(v, words, wide - 1, wide - 2)) wide -= 1;
        }
        work.bits = wide;
    }

    /// Ripple-carry v +-= cnt on word w of every slice below `wide`.
    function _addWord(Work memory work, uint256 w, uint256 wide, uint256 countBits, uint256 flip) private pure {
        uint256 words = work.words;
        uint256[] memory v = work.v;
        uint256[] memory cnt = work.cnt;
        uint256 mask = _laneMask(work.n, w);
        uint256 carry = flip;
        unchecked {
            for (uint256 b = 0; b < wide; ++b) {
                uint256 a = v[b * words + w];
                uint256 c = (b < countBits ? cnt[b * words + w] : 0) ^ flip;
                uint256 half = a ^ c;
                v[b * words + w] = (half ^ carry) & mask;
                carry = (a & c) | (carry & half);
            }
        }
    }

    function _sameSlices(uint256[] memory v, uint256 words, uint256 a, uint256 b) private pure returns (bool) {
        for (uint256 w = 0; w < words; ++w) {
            if (v[a * words + w] != v[b * words + w]) return false;
        }
        return true;
    }

    /// Test samples whose prediction (1 exactly when v_j >= 0) differs from the label.
    function _sliceErrors(Work memory work) private pure returns (uint256 errs) {
        uint256 words = work.words;
        uint256 top = (work.bits - 1) * words;
        for (uint256 w = 0; w < words; ++w) {
            errs += _popcount(~(work.v[top + w] ^ work.labels[w]) & _laneMask(work.n, w));
        }
    }

    function _finishLosses(Round storage r, uint256 steps) private returns (uint256) {
        r.cursor = 1;
        r.pass = 0;
        r.stage = r.contributors.length == 0 ? Stage.Credit : Stage.Balances;
        if (r.stage == Stage.Credit) r.cursor = 0;
        return steps;
    }

    // --- reward computation: (c) balances -----------------------------------------

    /// The iterated rule, jumping between the rounds after which somebody leaves S.
    /// pass 0: one step per t, scheduling those whose balance falls from round 1;
    /// pass 1: one step per heap entry due at the next such round (collect leavers);
    /// pass 2: one step per leaver (rebase and reschedule its successor, unlink it).
    function _balanceSteps(uint256 id, Round storage r, uint256 steps) private returns (uint256) {
        uint256 total = r.contributors.length;
        while (steps > 0) {
            if (r.pass == 0) {
                uint256 t = r.cursor;
                while (steps > 0 && t <= total) {
                    if (_errors(r, t - 1) < _errors(r, t)) {
                        r.members[t] = 1 << DUE_SHIFT; // k = 0 from round 0, due after round 1
                        _heapPush(r, (1 << 128) | t);
                    }
                    t += 1;
                    steps -= 1;
                }
                r.cursor = t;
                if (t <= total) return steps;
                _nextBucket(id, r);
            } else if (r.pass == 1) {
                uint256 due = r.bucket;
                while (steps > 0 && r.heapSize > 0 && r.heap[0] >> 128 == due) {
                    uint256 t = _heapPop(r) & MASK128;
                    uint256 m = r.members[t];
                    if (m >> DUE_SHIFT == due) {
                        int256 k = _kAt(r, t, m, due);
                        r.members[t] = _member(k, due, LEAVING);
                        r.leavers[r.leaverCount] = t;
                        r.leaverCount += 1;
                    }
                    steps -= 1;
                }
                if (steps == 0) return 0;
                r.pass = 2;
                r.cursor = 0;
            } else if (r.pass == 2) {
                uint256 i = r.cursor;
                uint256 count = r.leaverCount;
                while (steps > 0 && i < count) {
                    _unlink(r, r.leavers[i], total);
                    i += 1;
                    steps -= 1;
                }
                r.cursor = i;
                if (i < count) return steps;
                if (count > 0) {
                    // (a bucket of stale entries only, left by rescheduling, is no run)
                    emit BalanceRounds(id, r.bucket - r.clock, r.rounds - r.bucket);
                    r.clock = r.bucket;
                    r.leaverCount = 0;
                }
                _nextBucket(id, r);
            } else {
                return steps;
            }
            if (r.stage != Stage.Balances) return steps;
        }
        return steps;
    }

    /// Move to the next round after which somebody leaves, or finish the B rounds.
    function _nextBucket(uint256 id, Round storage r) private {
        if (r.heapSize > 0) {
            r.bucket = r.heap[0] >> 128;
            r.pass = 1;
            return;
        }
        // nobody else leaves: the rest of the B rounds in one run, if S is not empty
        uint256 total = r.contributors.length;
        if (r.clock < r.rounds && _nextOf(r, 0) <= total) {
            emit BalanceRounds(id, r.rounds - r.clock, 0);
        }
        r.clock = r.rounds;
        r.pass = 3;
        r.stage = Stage.Credit;
        r.cursor = 0;
    }

    /// Leaver t (balance final, still linked): its successor u in S, if still a member,
    /// is rebased to round `bucket` at its old rate; t is unlinked; u is rescheduled at
    /// its new rate.
    function _unlink(Round storage r, uint256 t, uint256 total) private {
        uint256 round = r.bucket;
        uint256 prev = _prevOf(r, t);
        uint256 u = _nextOf(r, t);
        uint256 mu;
        bool alive = u <= total;
        if (alive) {
            mu = r.members[u];
            uint256 due = mu >> DUE_SHIFT;
            alive = due != LEAVING && due != GONE;
        }
        if (alive) mu = _member(_kAt(r, u, mu, round), round, 0);
        // unlink t
        _setNext(r, prev, u);
        if (u <= total) _setPrev(r, u, prev);
        uint256 mt = r.members[t];
        r.members[t] = (mt & ((1 << DUE_SHIFT) - 1)) | (GONE << DUE_SHIFT);
        if (!alive) return;
        // reschedule u: with rate d < 0, the first round its k is below zero
        int256 d = int256(_errors(r, prev)) - int256(_errors(r, u));
        if (d < 0) {
            uint256 k = uint256(int256(int128(uint128(mu))));
            uint256 due = round + k / uint256(-d) + 1;
            if (due <= r.rounds) {
                mu |= due << DUE_SHIFT;
                _heapPush(r, (due << 128) | u);
            }
        }
        r.members[u] = mu;
    }

    /// k of member t (record m) after round `round`, at its current rate.
    function _kAt(Round storage r, uint256 t, uint256 m, uint256 round) private view returns (int256) {
        int256 k = int256(int128(uint128(m)));
        uint256 base = (m >> BASE_SHIFT) & MASK64;
        int256 d = int256(_errors(r, _prevOf(r, t))) - int256(_errors(r, t));
        return k + int256(round - base) * d;
    }

    /// k of contribution t after the B rounds (final once the round is finished).
    function _finalK(Round storage r, uint256 t) private view returns (int256) {
        if (t == 0 || t > r.contributors.length) return 0;
        uint256 m = r.members[t];
        uint256 due = m >> DUE_SHIFT;
        if (due == LEAVING || due == GONE) return int256(int128(uint128(m)));
        return _kAt(r, t, m, r.rounds);
    }

    function _member(int256 k, uint256 base, uint256 due) private pure returns (uint256) {
        return uint256(uint128(int128(k))) | (base << BASE_SHIFT) | (due << DUE_SHIFT);
    }

    function _nextOf(Round storage r, uint256 t) private view returns (uint256) {
        uint256 stored = r.links[t] >> 128;
        return stored == 0 ? t + 1 : stored - 1;
    }

    function _prevOf(Round storage r, uint256 t) private view returns (uint256) {
        uint256 stored = r.links[t] & MASK128;
        return stored == 0 ? t - 1 : stored - 1;
    }

    function _setNext(Round storage r, uint256 t, uint256 next) private {
        r.links[t] = (r.links[t] & MASK128) | ((next + 1) << 128);
    }

    function _setPrev(Round storage r, uint256 t, uint256 prev) private {
        r.links[t] = (r.links[t] & ~MASK128) | (prev + 1);
    }

    function _heapPush(Round storage r, uint256 key) private {
        uint256 i = r.heapSize;
        r.heapSize = i + 1;
        while (i > 0) {
            uint256 parent = (i - 1) / 2;
            uint256 above = r.heap[parent];
            if (above <= key) break;
            r.heap[i] = above;
            i = parent;
        }
        r.heap[i] = key;
    }

    function _heapPop(Round storage r) private returns (uint256 top) {
        top = r.heap[0];
        uint256 size = r.heapSize - 1;
        r.heapSize = size;
        if (size == 0) return top;
        uint256 key = r.heap[size];
        uint256 i = 0;
        while (true) {
            uint256 child = 2 * i + 1;
            if (child >= size) break;
            uint256 smallest = r.heap[child];
            if (child + 1 < size) {
                uint256 right = r.heap[child + 1];
                if (right < smallest) {
                    smallest = right;
                    child += 1;
                }
            }
            if (key <= smallest) break;
            r.heap[i] = smallest;
            i = child;
        }
        r.heap[i] = key;
    }

    // --- reward computation: (d) credit -------------------------------------------

    /// owed[contributor] += b_t for every t.
    function _creditSteps(Round storage r, uint256 steps) private returns (uint256) {
        uint256 total = r.contributors.length;
        uint256 unit = r.terms.stakeUnit;
        int256 n = int256(r.testLabels.length);
        while (steps > 0 && r.cursor < total) {
            uint256 t = r.cursor + 1;
            r.owed[r.contributors[t - 1]] += unit * uint256(n + _finalK(r, t));
            r.cursor = t;
            steps -= 1;
        }
        if (r.cursor == total) r.stage = Stage.Done;
        return steps;
    }

    // --- helpers ----------------------------------------------------------------------

    function _errors(Round storage r, uint256 t) private view returns (uint256) {
        return Packed.getUint32(r.errorWords, t);
    }

    function _setErrors(Round storage r, uint256 t, uint256 errs) private {
        uint256 shift = 32 * (t % 8);
        uint256 word = r.errorWords[t / 8];
        r.errorWords[t / 8] = (word & ~(uint256(type(uint32).max) << shift)) | (errs << shift);
    }

    /// The lanes of word w that hold test samples (j < n).
    function _laneMask(uint256 n, uint256 w) private pure returns (uint256) {
        uint256 left = n - w * 256;
        return left >= 256 ? type(uint256).max : (uint256(1) << left) - 1;
    }

    /// Set bits of a word (SWAR).
    function _popcount(uint256 x) private pure returns (uint256) {
        if (x == type(uint256).max) return 256;
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            return (x * 0x0101010101010101010101010101010101010101010101010101010101010101) >> 248;
        }
    }

    /// A perceptron step on the live model of round `gen`: learn (x, y) if mispredicted. Indices in
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
