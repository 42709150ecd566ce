// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {BridgeMessages} from "./BridgeMessages.sol";
import {RelayerVerifier} from "./RelayerVerifier.sol";

/// @title BridgeEscrow
/// @notice The L1 end of the bridge: locks ERC-20s for deposits to L2, and releases them for
/// withdrawals proven by k-of-n relayer signatures once a challenge period has passed.
/// @dev `locked[token]` is the backing of the L2 supply. Fees leave the escrow at once, so the
/// invariant "L2 supply of a token <= locked[token]" never depends on fee accounting.
contract BridgeEscrow is RelayerVerifier, Ownable {
    using SafeERC20 for IERC20;
    using BridgeMessages for BridgeMessages.Withdrawal;

    enum WithdrawalStatus {
        None,
        Pending,
        Finalized,
        Challenged
    }

    struct PendingWithdrawal {
        address token;
        address recipient;
        uint256 amount;
        uint64 releaseAt;
        WithdrawalStatus status;
    }

    /// @notice Fee above the cap (bps).
    error FeeTooHigh(uint256 feeBps, uint256 maxFeeBps);
    /// @notice Deposit of zero, or an amount that the fee would swallow whole.
    error AmountTooSmall(uint256 amount, uint256 fee);
    /// @notice A deposit to the zero address would mint tokens nobody can move.
    error ZeroRecipient();
    /// @notice The token moved a different amount than asked (fee-on-transfer, rebasing).
    error UnsupportedToken(address token, uint256 expected, uint256 received);
    /// @notice The L2 counterpart is unset (deposits refused) or already set (cannot change).
    error CounterpartState(address current);
    /// @notice The withdrawal was not emitted by our L2 bridge on the L2 chain.
    error WrongSource(uint256 sourceChainId, address source);
    /// @notice The withdrawal is already proven, finalized or challenged: no replay.
    error WithdrawalAlreadyKnown(bytes32 id, WithdrawalStatus status);
    /// @notice Finalizing or challenging a withdrawal that is not pending.
    error WithdrawalNotPending(bytes32 id, WithdrawalStatus status);
    /// @notice Finalizing before the challenge period ended.
    error ChallengePeriodActive(bytes32 id, uint256 releaseAt, uint256 nowTs);
    /// @notice Challenging after the challenge period ended.
    error ChallengePeriodOver(bytes32 id, uint256 releaseAt, uint256 nowTs);
    /// @notice More released than the escrow holds for that token.
    error InsufficientEscrow(address token, uint256 amount, uint256 locked);

    /// @notice Tokens locked for L2; `amount` is net of `fee`, and is what L2 mints.
    event DepositInitiated(
        bytes32 indexed id,
        address indexed token,
        address indexed sender,
        address recipient,
        uint256 amount,
        uint256 fee,
        uint256 nonce
    );
    /// @notice A withdrawal was proven by the relayers; releasable from `releaseAt`.
    event WithdrawalProven(
        bytes32 indexed id, address indexed token, address indexed recipient, uint256 amount, uint256 releaseAt
    );
    /// @notice A withdrawal was released to its recipient.
    event WithdrawalFinalized(bytes32 indexed id, address indexed token, address indexed recipient, uint256 amount);
    /// @notice The guardian (owner) stopped a pending withdrawal inside its challenge period.
    event WithdrawalChallenged(bytes32 indexed id, address indexed challenger);
    /// @notice The L2 bridge was bound to this escrow.
    event CounterpartSet(address indexed l2Bridge);

    uint256 public constant MAX_FEE_BPS = 1_000;

    /// @notice Chain id of the L2.
    uint256 public immutable l2ChainId;
    /// @notice Deposit fee in basis points of the gross amount.
    uint256 public immutable feeBps;
    /// @notice Receives deposit fees.
    address public immutable feeRecipient;
    /// @notice Seconds between proof and release of a withdrawal.
    uint64 public immutable challengePeriod;

    /// @notice The L2 bridge (set once, after it is deployed with this escrow's address).
    address public l2Bridge;
    /// @notice Next deposit nonce.
    uint256 public depositNonce;
    /// @notice Backing of the L2 supply, per L1 token.
    mapping(address => uint256) public locked;
    /// @notice Withdrawals by id (the message's struct hash).
    mapping(bytes32 => PendingWithdrawal) public withdrawals;

    constructor(
        address owner_,
        address[] memory relayers,
        uint256 threshold_,
        uint256 l2ChainId_,
        uint256 feeBps_,
        address feeRecipient_,
        uint64 challengePeriod_
    ) RelayerVerifier("AgentBridgeEscrow", relayers, threshold_) Ownable(owner_) {
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        l2ChainId = l2ChainId_;
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
        challengePeriod = challengePeriod_;
    }

    /// @notice Bind the L2 bridge; once only, so a compromised owner cannot redirect deposits later.
    /// @param l2Bridge_ The L2 bridge address.
    function setCounterpart(address l2Bridge_) external onlyOwner {
        if (l2Bridge != address(0) || l2Bridge_ == address(0)) revert CounterpartState(l2Bridge);
        l2Bridge = l2Bridge_;
        emit CounterpartSet(l2Bridge_);
    }

    /// @notice Fee charged on a gross deposit amount.
    /// @param amount Gross amount in base units.
    /// @return The fee in base units (rounded down).
    function feeFor(uint256 amount) public view returns (uint256) {
        return amount * feeBps / 10_000;
    }

    /// @notice Lock `amount` of `token` (approved beforehand) and emit a deposit for `recipient` on L2.
    /// @param token L1 ERC-20.
    /// @param recipient Receiver on L2.
    /// @param amount Gross amount; `amount - feeFor(amount)` is minted on L2.
    /// @return id The deposit id (struct hash), tracked on L2.
    /// @return nonce The deposit's nonce.
    function deposit(address token, address recipient, uint256 amount) external returns (bytes32 id, uint256 nonce) {
        if (l2Bridge == address(0)) revert CounterpartState(address(0));
        if (recipient == address(0)) revert ZeroRecipient();
        uint256 fee = feeFor(amount);
        if (amount <= fee) revert AmountTooSmall(amount, fee);
        uint256 net = amount - fee;

        IERC20 t = IERC20(token);
        uint256 before = t.balanceOf(address(this));
        t.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = t.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(token, amount, received);
        if (fee != 0) t.safeTransfer(feeRecipient, fee);
        locked[token] += net;

        nonce = depositNonce++;
        id = BridgeMessages.hash(
            BridgeMessages.Deposit({
                sourceChainId: block.chainid,
                escrow: address(this),
                token: token,
                sender: msg.sender,
                recipient: recipient,
                amount: net,
                nonce: nonce
            })
        );
        emit DepositInitiated(id, token, msg.sender, recipient, net, fee, nonce);
    }

    /// @notice Record an L2 withdrawal attested by at least `threshold` relayers; starts its challenge period.
    /// @param w The withdrawal as emitted on L2.
    /// @param signatures Relayer signatures, 65 bytes each, signers ascending.
    /// @return id The withdrawal id.
    function proveWithdrawal(BridgeMessages.Withdrawal calldata w, bytes calldata signatures)
        external
        returns (bytes32 id)
    {
        if (w.sourceChainId != l2ChainId || w.source != l2Bridge || w.source == address(0)) {
            revert WrongSource(w.sourceChainId, w.source);
        }
        id = w.hash();
        WithdrawalStatus status = withdrawals[id].status;
        if (status != WithdrawalStatus.None) revert WithdrawalAlreadyKnown(id, status);
        _verifyRelayers(id, signatures);
        if (w.amount > locked[w.token]) revert InsufficientEscrow(w.token, w.amount, locked[w.token]);
        uint64 releaseAt = uint64(block.timestamp) + challengePeriod;
        withdrawals[id] = PendingWithdrawal({
            token: w.token,
            recipient: w.recipient,
            amount: w.amount,
            releaseAt: releaseAt,
            status: WithdrawalStatus.Pending
        });
        emit WithdrawalProven(id, w.token, w.recipient, w.amount, releaseAt);
    }

    /// @notice Release a proven withdrawal after its challenge period; callable by anyone.
    /// @param id The withdrawal id.
    function finalizeWithdrawal(bytes32 id) external {
        PendingWithdrawal storage p = withdrawals[id];
        if (p.status != WithdrawalStatus.Pending) revert WithdrawalNotPending(id, p.status);
        if (block.timestamp < p.releaseAt) revert ChallengePeriodActive(id, p.releaseAt, block.timestamp);
        uint256 backing = locked[p.token];
        if (p.amount > backing) revert InsufficientEscrow(p.token, p.amount, backing);
        p.status = WithdrawalStatus.Finalized;
        locked[p.token] = backing - p.amount;
        IERC20(p.token).safeTransfer(p.recipient, p.amount);
        emit WithdrawalFinalized(id, p.token, p.recipient, p.amount);
    }

    /// @notice Stop a pending withdrawal during its challenge period (guardian = owner).
    /// @dev The tokens stay locked; the burned L2 side is resolved by governance, never by this call.
    /// @param id The withdrawal id.
    function challengeWithdrawal(bytes32 id) external onlyOwner {
        PendingWithdrawal storage p = withdrawals[id];
        if (p.status != WithdrawalStatus.Pending) revert WithdrawalNotPending(id, p.status);
        if (block.timestamp >= p.releaseAt) revert ChallengePeriodOver(id, p.releaseAt, block.timestamp);
        p.status = WithdrawalStatus.Challenged;
        emit WithdrawalChallenged(id, msg.sender);
    }
}
