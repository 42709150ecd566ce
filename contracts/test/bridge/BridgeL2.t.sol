// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BridgeFixture} from "./BridgeFixture.sol";
import {BridgeL2} from "../../bridge/BridgeL2.sol";
import {BridgedToken} from "../../bridge/BridgedToken.sol";
import {BridgeMessages} from "../../bridge/BridgeMessages.sol";
import {RelayerVerifier} from "../../bridge/RelayerVerifier.sol";

contract BridgeL2Test is BridgeFixture {
    event DepositFinalized(
        bytes32 indexed id, address indexed l2Token, address indexed recipient, uint256 amount, uint256 nonce
    );

    function test_finalizeDeposit_mintsNetAmount() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        bytes32 id = BridgeMessages.hash(d);
        vm.expectEmit(address(l2));
        emit DepositFinalized(id, address(bridged), bob, 999e6, 0);
        assertEq(l2.finalizeDeposit(d, _depositSigs(d, 2)), id);
        assertEq(bridged.balanceOf(bob), 999e6);
        assertTrue(l2.processed(id));
    }

    function test_finalizeDeposit_replayRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        bytes memory sigs = _depositSigs(d, 3);
        l2.finalizeDeposit(d, sigs);
        vm.expectRevert(abi.encodeWithSelector(BridgeL2.DepositAlreadyProcessed.selector, BridgeMessages.hash(d)));
        l2.finalizeDeposit(d, sigs);
        assertEq(bridged.balanceOf(bob), 999e6);
    }

    function test_finalizeDeposit_tooFewSignaturesRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        bytes memory sigs = _depositSigs(d, 1);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.InsufficientSignatures.selector, 1, 2));
        l2.finalizeDeposit(d, sigs);
        assertEq(bridged.totalSupply(), 0);
    }

    function test_finalizeDeposit_tamperedAmountRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        bytes memory sigs = _depositSigs(d, 2);
        d.amount += 1;
        // The signatures now recover to unrelated addresses.
        vm.expectRevert();
        l2.finalizeDeposit(d, sigs);
        assertEq(bridged.totalSupply(), 0);
    }

    function test_finalizeDeposit_wrongSourceRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        d.escrow = address(0xdead);
        bytes memory sigs = _depositSigs(d, 2);
        vm.expectRevert(abi.encodeWithSelector(BridgeL2.WrongSource.selector, block.chainid, address(0xdead)));
        l2.finalizeDeposit(d, sigs);
    }

    function test_finalizeDeposit_unknownTokenRefused() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1_000e6);
        d.token = address(0xbeef);
        bytes memory sigs = _depositSigs(d, 2);
        vm.expectRevert(abi.encodeWithSelector(BridgeL2.UnknownToken.selector, address(0xbeef)));
        l2.finalizeDeposit(d, sigs);
    }

    function test_withdraw_burnsAndChargesFee() public {
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 10_000e6);
        l2.finalizeDeposit(d, _depositSigs(d, 2));
        uint256 supply = bridged.totalSupply();
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 2_000e6);
        assertEq(w.amount, 2_000e6 - 1e6);
        assertEq(bridged.balanceOf(bob), supply - 2_000e6);
        assertEq(bridged.balanceOf(feeSink), 1e6);
        assertEq(bridged.totalSupply(), supply - w.amount);
        assertEq(l2.withdrawalNonce(), 1);
    }

    function test_withdraw_unknownTokenRefused() public {
        vm.expectRevert(abi.encodeWithSelector(BridgeL2.UnknownToken.selector, address(token)));
        l2.withdraw(address(token), alice, 1);
    }

    function test_withdraw_zeroRefused() public {
        vm.expectRevert(abi.encodeWithSelector(BridgeL2.AmountTooSmall.selector, 0, 0));
        l2.withdraw(address(bridged), alice, 0);
    }

    function test_registerToken_onlyOwnerAndOnce() public {
        vm.expectRevert();
        l2.registerToken(address(0x1234), "x", "x", 6);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BridgeL2.TokenAlreadyRegistered.selector, address(token), address(bridged))
        );
        l2.registerToken(address(token), "x", "x", 6);
    }

    function test_bridgedToken_onlyBridgeMints() public {
        vm.expectRevert(abi.encodeWithSelector(BridgedToken.OnlyBridge.selector, address(this), address(l2)));
        bridged.mint(address(this), 1);
        assertEq(bridged.decimals(), 6);
        assertEq(bridged.l1Token(), address(token));
    }

    function testFuzz_depositRoundTrip(uint96 amount, address to) public {
        vm.assume(to != address(0));
        uint256 gross = bound(uint256(amount), 1, type(uint96).max);
        uint256 fee = escrow.feeFor(gross);
        if (gross <= fee) return;
        BridgeMessages.Deposit memory d = _deposit(alice, to, gross);
        l2.finalizeDeposit(d, _depositSigs(d, 2));
        assertEq(bridged.balanceOf(to), gross - fee);
        assertEq(escrow.locked(address(token)), gross - fee);
        assertEq(token.balanceOf(feeSink), fee);
    }

    function testFuzz_forgedSignerRefused(uint256 pk) public {
        pk = bound(pk, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        vm.assume(!l2.isRelayer(vm.addr(pk)));
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 1e6);
        uint256[] memory keys = new uint256[](2);
        keys[0] = relayerKeys[0];
        keys[1] = pk;
        bytes memory sigs = _sign(l2.digest(BridgeMessages.hash(d)), keys);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.SignerNotRelayer.selector, vm.addr(pk)));
        l2.finalizeDeposit(d, sigs);
    }
}
