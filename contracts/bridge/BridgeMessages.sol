// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title BridgeMessages
/// @notice The two messages relayers attest to, and their EIP-712 struct hashes.
/// @dev The struct hash doubles as the message id on both chains: it is independent of the
/// EIP-712 domain, so the agent can track one deposit from the L1 event to the L2 mint by one id,
/// while the signatures themselves are bound to the destination contract and chain.
library BridgeMessages {
    /// @notice An L1 -> L2 deposit, exactly as emitted by the L1 escrow.
    struct Deposit {
        uint256 sourceChainId;
        address escrow;
        address token; // the L1 token
        address sender;
        address recipient;
        uint256 amount; // net of the bridge fee, in the token's base units
        uint256 nonce;
    }

    /// @notice An L2 -> L1 withdrawal, exactly as emitted by the L2 bridge.
    struct Withdrawal {
        uint256 sourceChainId;
        address source; // the L2 bridge
        address token; // the L1 token to release
        address sender;
        address recipient;
        uint256 amount; // net of the bridge fee
        uint256 nonce;
    }

    bytes32 internal constant DEPOSIT_TYPEHASH = keccak256(
        "Deposit(uint256 sourceChainId,address escrow,address token,address sender,address recipient,uint256 amount,uint256 nonce)"
    );

    bytes32 internal constant WITHDRAWAL_TYPEHASH = keccak256(
        "Withdrawal(uint256 sourceChainId,address source,address token,address sender,address recipient,uint256 amount,uint256 nonce)"
    );

    /// @notice EIP-712 struct hash of a deposit; also its id.
    function hash(Deposit memory d) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                DEPOSIT_TYPEHASH, d.sourceChainId, d.escrow, d.token, d.sender, d.recipient, d.amount, d.nonce
            )
        );
    }

    /// @notice EIP-712 struct hash of a withdrawal; also its id.
    function hash(Withdrawal memory w) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                WITHDRAWAL_TYPEHASH, w.sourceChainId, w.source, w.token, w.sender, w.recipient, w.amount, w.nonce
            )
        );
    }
}
