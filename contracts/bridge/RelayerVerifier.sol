// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title RelayerVerifier
/// @notice k-of-n relayer attestation over EIP-712 typed data, shared by both bridge ends.
/// @dev Signatures are 65-byte (r, s, v) chunks concatenated, ordered by strictly ascending
/// signer address (as Safe does), which rules out counting one relayer twice without a set.
abstract contract RelayerVerifier is EIP712 {
    /// @notice The relayer set is empty, has a duplicate or zero address, or k is outside 1..n.
    error InvalidRelayerSet(uint256 relayers, uint256 threshold);
    /// @notice Fewer signatures than the threshold were supplied.
    error InsufficientSignatures(uint256 provided, uint256 threshold);
    /// @notice The signature blob is not a whole number of 65-byte signatures.
    error MalformedSignatures(uint256 length);
    /// @notice Signature `index` does not recover to any address (bad v, high s, garbage).
    error InvalidSignature(uint256 index);
    /// @notice A signature recovered to an address outside the relayer set.
    error SignerNotRelayer(address signer);
    /// @notice Signers must be strictly ascending; equal means the same relayer signed twice.
    error SignersNotAscending(address previous, address signer);

    uint256 private constant SIGNATURE_LENGTH = 65;

    /// @notice Number of distinct relayer signatures a message needs.
    uint256 public immutable threshold;
    /// @notice Number of relayers in the (fixed) set.
    uint256 public immutable relayerCount;
    /// @notice Whether an address belongs to the relayer set.
    mapping(address => bool) public isRelayer;

    constructor(string memory name, address[] memory relayers, uint256 threshold_) EIP712(name, "1") {
        if (threshold_ == 0 || threshold_ > relayers.length) {
            revert InvalidRelayerSet(relayers.length, threshold_);
        }
        for (uint256 i; i < relayers.length; ++i) {
            address r = relayers[i];
            if (r == address(0) || isRelayer[r]) revert InvalidRelayerSet(relayers.length, threshold_);
            isRelayer[r] = true;
        }
        threshold = threshold_;
        relayerCount = relayers.length;
    }

    /// @notice The EIP-712 digest relayers sign for a given struct hash on this contract.
    /// @param structHash The message's struct hash (its id).
    /// @return The digest to sign.
    function digest(bytes32 structHash) external view returns (bytes32) {
        return _hashTypedDataV4(structHash);
    }

    /// @dev Reverts unless `signatures` holds at least `threshold` valid, distinct relayer
    /// signatures over the typed-data digest of `structHash`.
    function _verifyRelayers(bytes32 structHash, bytes calldata signatures) internal view {
        if (signatures.length % SIGNATURE_LENGTH != 0) revert MalformedSignatures(signatures.length);
        uint256 count = signatures.length / SIGNATURE_LENGTH;
        if (count < threshold) revert InsufficientSignatures(count, threshold);
        bytes32 h = _hashTypedDataV4(structHash);
        address previous;
        for (uint256 i; i < count; ++i) {
            uint256 o = i * SIGNATURE_LENGTH;
            bytes32 r = bytes32(signatures[o:o + 32]);
            bytes32 s = bytes32(signatures[o + 32:o + 64]);
            uint8 v = uint8(signatures[o + 64]);
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(h, v, r, s);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer <= previous) revert SignersNotAscending(previous, signer);
            if (!isRelayer[signer]) revert SignerNotRelayer(signer);
            previous = signer;
        }
    }
}
