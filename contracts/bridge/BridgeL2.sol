// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {BridgeMessages} from "./BridgeMessages.sol";
import {BridgedToken} from "./BridgedToken.sol";
import {RelayerVerifier} from "./RelayerVerifier.sol";

/// @title BridgeL2
/// @notice The L2 end of the bridge: mints bridged tokens for deposits proven by k-of-n relayer
/// signatures, and burns them for withdrawals to L1.
contract BridgeL2 is RelayerVerifier, Ownable {
    using BridgeMessages for BridgeMessages.Deposit;

    /// @notice Fee above the cap (bps).
    error FeeTooHigh(uint256 feeBps, uint256 maxFeeBps);
    /// @notice The deposit was not emitted by our escrow on the L1 chain.
    error WrongSource(uint256 sourceChainId, address escrow);
    /// @notice The deposit was already minted: no replay.
    error DepositAlreadyProcessed(bytes32 id);
    /// @notice The L1 token has no bridged representation (or the L2 token is not ours).
    error UnknownToken(address token);
    /// @notice The L1 token is already registered.
    error TokenAlreadyRegistered(address l1Token, address l2Token);
    /// @notice Withdrawal of zero, or an amount the fee would swallow whole.
    error AmountTooSmall(uint256 amount, uint256 fee);
    /// @notice A withdrawal to the zero address would lock tokens on L1 forever.
    error ZeroRecipient();

    /// @notice A proven deposit was minted.
    event DepositFinalized(
        bytes32 indexed id, address indexed l2Token, address indexed recipient, uint256 amount, uint256 nonce
    );
    /// @notice Bridged tokens were burned for L1; `amount` (net of `fee`) is released there.
    event WithdrawalInitiated(
        bytes32 indexed id,
        address indexed token,
        address indexed sender,
        address recipient,
        uint256 amount,
        uint256 fee,
        uint256 nonce
    );
    /// @notice A bridged representation was created for an L1 token.
    event TokenRegistered(address indexed l1Token, address indexed l2Token);

    uint256 public constant MAX_FEE_BPS = 1_000;

    /// @notice Chain id of L1.
    uint256 public immutable l1ChainId;
    /// @notice The L1 escrow whose deposits this bridge accepts.
    address public immutable l1Escrow;
    /// @notice Withdrawal fee in basis points of the gross amount.
    uint256 public immutable feeBps;
    /// @notice Receives withdrawal fees (in bridged tokens).
    address public immutable feeRecipient;

    /// @notice Next withdrawal nonce.
    uint256 public withdrawalNonce;
    /// @notice Deposit ids already minted.
    mapping(bytes32 => bool) public processed;
    /// @notice L1 token -> its bridged L2 token.
    mapping(address => address) public bridgedToken;
    /// @notice L2 token -> the L1 token it represents.
    mapping(address => address) public l1TokenOf;

    constructor(
        address owner_,
        address[] memory relayers,
        uint256 threshold_,
        uint256 l1ChainId_,
        address l1Escrow_,
        uint256 feeBps_,
        address feeRecipient_
    ) RelayerVerifier("AgentBridgeL2", relayers, threshold_) Ownable(owner_) {
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        l1ChainId = l1ChainId_;
        l1Escrow = l1Escrow_;
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
    }

    /// @notice Create the bridged representation of an L1 token (same decimals).
    /// @param l1Token The L1 token.
    /// @param name_ ERC-20 name on L2.
    /// @param symbol_ ERC-20 symbol on L2.
    /// @param decimals_ The L1 token's decimals (base units are equal on both chains).
    /// @return l2Token The new token's address (CREATE2, salt = L1 token).
    function registerToken(address l1Token, string calldata name_, string calldata symbol_, uint8 decimals_)
        external
        onlyOwner
        returns (address l2Token)
    {
        address existing = bridgedToken[l1Token];
        if (existing != address(0) || l1Token == address(0)) revert TokenAlreadyRegistered(l1Token, existing);
        l2Token = address(new BridgedToken{salt: bytes32(uint256(uint160(l1Token)))}(name_, symbol_, decimals_, l1Token));
        bridgedToken[l1Token] = l2Token;
        l1TokenOf[l2Token] = l1Token;
        emit TokenRegistered(l1Token, l2Token);
    }

    /// @notice Fee charged on a gross withdrawal amount.
    /// @param amount Gross amount in base units.
    /// @return The fee in base units (rounded down).
    function feeFor(uint256 amount) public view returns (uint256) {
        return amount * feeBps / 10_000;
    }

    /// @notice Mint a deposit attested by at least `threshold` relayers; callable by anyone.
    /// @param d The deposit as emitted by the L1 escrow.
    /// @param signatures Relayer signatures, 65 bytes each, signers ascending.
    /// @return id The deposit id.
    function finalizeDeposit(BridgeMessages.Deposit calldata d, bytes calldata signatures)
        external
        returns (bytes32 id)
    {
        if (d.sourceChainId != l1ChainId || d.escrow != l1Escrow) revert WrongSource(d.sourceChainId, d.escrow);
        id = d.hash();
        if (processed[id]) revert DepositAlreadyProcessed(id);
        address l2Token = bridgedToken[d.token];
        if (l2Token == address(0)) revert UnknownToken(d.token);
        _verifyRelayers(id, signatures);
        processed[id] = true;
        BridgedToken(l2Token).mint(d.recipient, d.amount);
        emit DepositFinalized(id, l2Token, d.recipient, d.amount, d.nonce);
    }

    /// @notice Burn `amount` of a bridged token from the caller and emit a withdrawal to L1.
    /// @dev The fee is re-minted to the fee recipient rather than transferred, so no approval is
    /// needed and the L2 supply still drops by exactly the net amount released on L1.
    /// @param l2Token The bridged token.
    /// @param recipient Receiver on L1.
    /// @param amount Gross amount; `amount - feeFor(amount)` is released on L1.
    /// @return id The withdrawal id.
    /// @return nonce The withdrawal's nonce.
    function withdraw(address l2Token, address recipient, uint256 amount) external returns (bytes32 id, uint256 nonce) {
        address l1Token = l1TokenOf[l2Token];
        if (l1Token == address(0)) revert UnknownToken(l2Token);
        if (recipient == address(0)) revert ZeroRecipient();
        uint256 fee = feeFor(amount);
        if (amount <= fee) revert AmountTooSmall(amount, fee);
        uint256 net = amount - fee;
        BridgedToken(l2Token).burn(msg.sender, amount);
        if (fee != 0) BridgedToken(l2Token).mint(feeRecipient, fee);
        nonce = withdrawalNonce++;
        id = BridgeMessages.hash(
            BridgeMessages.Withdrawal({
                sourceChainId: block.chainid,
                source: address(this),
                token: l1Token,
                sender: msg.sender,
                recipient: recipient,
                amount: net,
                nonce: nonce
            })
        );
        emit WithdrawalInitiated(id, l1Token, msg.sender, recipient, net, fee, nonce);
    }
}
