// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BridgeFixture} from "./BridgeFixture.sol";
import {BridgeL2} from "../../bridge/BridgeL2.sol";
import {BridgeMessages} from "../../bridge/BridgeMessages.sol";
import {RelayerVerifier} from "../../bridge/RelayerVerifier.sol";

contract RelayerVerifierTest is BridgeFixture {
    function test_duplicateSignerRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        bytes32 digest = l2.digest(BridgeMessages.hash(d));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(relayerKeys[0], digest);
        bytes memory one = bytes.concat(r, s, bytes1(v));
        address signer = vm.addr(relayerKeys[0]);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.SignersNotAscending.selector, signer, signer));
        l2.finalizeDeposit(d, bytes.concat(one, one));
    }

    function test_descendingOrderRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        bytes memory sigs = _depositSigs(d, 2);
        bytes memory swapped = bytes.concat(_slice(sigs, 65, 65), _slice(sigs, 0, 65));
        vm.expectRevert();
        l2.finalizeDeposit(d, swapped);
    }

    function test_malformedLengthRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        bytes memory sigs = _depositSigs(d, 2);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.MalformedSignatures.selector, 131));
        l2.finalizeDeposit(d, bytes.concat(sigs, hex"00"));
    }

    function test_garbageSignatureRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        bytes memory sigs = new bytes(130);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.InvalidSignature.selector, 0));
        l2.finalizeDeposit(d, sigs);
    }

    function test_invalidSetRefused() public {
        address[] memory relayers = new address[](2);
        relayers[0] = address(1);
        relayers[1] = address(1);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.InvalidRelayerSet.selector, 2, 1));
        new BridgeL2(owner, relayers, 1, 1, address(escrow), 0, feeSink);
        relayers[1] = address(2);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.InvalidRelayerSet.selector, 2, 3));
        new BridgeL2(owner, relayers, 3, 1, address(escrow), 0, feeSink);
    }

    function test_signaturesBoundToDomain() public {
        // A deposit attestation is not a withdrawal attestation on L1 even with equal fields.
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        bytes32 h = BridgeMessages.hash(d);
        assertTrue(l2.digest(h) != escrow.digest(h));
    }

    function _slice(bytes memory b, uint256 start, uint256 len) private pure returns (bytes memory out) {
        out = new bytes(len);
        for (uint256 i; i < len; ++i) {
            out[i] = b[start + i];
        }
    }
}
