// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BridgeFixture} from "./BridgeFixture.sol";
import {BridgeEscrow} from "../../bridge/BridgeEscrow.sol";
import {BridgeMessages} from "../../bridge/BridgeMessages.sol";
import {RelayerVerifier} from "../../bridge/RelayerVerifier.sol";

contract BridgeEscrowTest is BridgeFixture {
    event DepositInitiated(
        bytes32 indexed id,
        address indexed token,
        address indexed sender,
        address recipient,
        uint256 amount,
        uint256 fee,
        uint256 nonce
    );

    function setUp() public override {
        super.setUp();
        BridgeMessages.Deposit memory d = _deposit(alice, bob, 10_000e6);
        l2.finalizeDeposit(d, _depositSigs(d, 2));
    }

    function test_deposit_locksNetAndEmits() public {
        token.mint(alice, 500e6);
        vm.startPrank(alice);
        token.approve(address(escrow), 500e6);
        BridgeMessages.Deposit memory d = BridgeMessages.Deposit(
            block.chainid, address(escrow), address(token), alice, bob, 500e6 - 0.5e6, 1
        );
        vm.expectEmit(address(escrow));
        emit DepositInitiated(BridgeMessages.hash(d), address(token), alice, bob, 499.5e6, 0.5e6, 1);
        (bytes32 id, uint256 nonce) = escrow.deposit(address(token), bob, 500e6);
        vm.stopPrank();
        assertEq(id, BridgeMessages.hash(d));
        assertEq(nonce, 1);
    }

    function test_deposit_zeroRecipientRefused() public {
        vm.expectRevert(BridgeEscrow.ZeroRecipient.selector);
        escrow.deposit(address(token), address(0), 1e6);
    }

    function test_deposit_dustRefused() public {
        vm.expectRevert(abi.encodeWithSelector(BridgeEscrow.AmountTooSmall.selector, 0, 0));
        escrow.deposit(address(token), bob, 0);
    }

    function test_deposit_beforeCounterpartRefused() public {
        address[] memory relayers = new address[](1);
        relayers[0] = address(1);
        BridgeEscrow fresh = new BridgeEscrow(owner, relayers, 1, 1, 0, feeSink, CHALLENGE);
        vm.expectRevert(abi.encodeWithSelector(BridgeEscrow.CounterpartState.selector, address(0)));
        fresh.deposit(address(token), bob, 1e6);
    }

    function test_setCounterpart_onlyOnce() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(BridgeEscrow.CounterpartState.selector, address(l2)));
        escrow.setCounterpart(address(0xbeef));
    }

    function test_feeCapEnforced() public {
        address[] memory relayers = new address[](1);
        relayers[0] = address(1);
        vm.expectRevert(abi.encodeWithSelector(BridgeEscrow.FeeTooHigh.selector, 1_001, 1_000));
        new BridgeEscrow(owner, relayers, 1, 1, 1_001, feeSink, CHALLENGE);
    }

    function test_withdrawal_fullCycle() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes32 id = escrow.proveWithdrawal(w, _withdrawalSigs(w, 2));
        (,,, uint64 releaseAt, BridgeEscrow.WithdrawalStatus st) = escrow.withdrawals(id);
        assertEq(uint256(st), uint256(BridgeEscrow.WithdrawalStatus.Pending));
        assertEq(releaseAt, block.timestamp + CHALLENGE);
        vm.warp(releaseAt);
        uint256 before = token.balanceOf(alice);
        escrow.finalizeWithdrawal(id);
        assertEq(token.balanceOf(alice) - before, w.amount);
        assertEq(escrow.locked(address(token)), bridged.totalSupply());
    }

    function test_withdrawal_beforeChallengePeriodRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes32 id = escrow.proveWithdrawal(w, _withdrawalSigs(w, 2));
        uint256 releaseAt = block.timestamp + CHALLENGE;
        vm.warp(releaseAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(BridgeEscrow.ChallengePeriodActive.selector, id, releaseAt, releaseAt - 1)
        );
        escrow.finalizeWithdrawal(id);
    }

    function testFuzz_withdrawal_earlyFinalizeRefused(uint64 elapsed) public {
        elapsed = uint64(bound(elapsed, 0, CHALLENGE - 1));
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes32 id = escrow.proveWithdrawal(w, _withdrawalSigs(w, 2));
        vm.warp(block.timestamp + elapsed);
        vm.expectPartialRevert(BridgeEscrow.ChallengePeriodActive.selector);
        escrow.finalizeWithdrawal(id);
    }

    function test_withdrawal_replayRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes memory sigs = _withdrawalSigs(w, 2);
        bytes32 id = escrow.proveWithdrawal(w, sigs);
        vm.expectRevert(
            abi.encodeWithSelector(
                BridgeEscrow.WithdrawalAlreadyKnown.selector, id, BridgeEscrow.WithdrawalStatus.Pending
            )
        );
        escrow.proveWithdrawal(w, sigs);
        vm.warp(block.timestamp + CHALLENGE);
        escrow.finalizeWithdrawal(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                BridgeEscrow.WithdrawalNotPending.selector, id, BridgeEscrow.WithdrawalStatus.Finalized
            )
        );
        escrow.finalizeWithdrawal(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                BridgeEscrow.WithdrawalAlreadyKnown.selector, id, BridgeEscrow.WithdrawalStatus.Finalized
            )
        );
        escrow.proveWithdrawal(w, sigs);
    }

    function test_withdrawal_tooFewSignaturesRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes memory sigs = _withdrawalSigs(w, 1);
        vm.expectRevert(abi.encodeWithSelector(RelayerVerifier.InsufficientSignatures.selector, 1, 2));
        escrow.proveWithdrawal(w, sigs);
    }

    function test_withdrawal_depositSignaturesDoNotProveIt() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        // Signed over the L2 domain instead of the escrow's: recovers to strangers.
        bytes memory sigs = _sign(l2.digest(BridgeMessages.hash(w)), _keys(2));
        vm.expectRevert();
        escrow.proveWithdrawal(w, sigs);
    }

    function test_withdrawal_wrongSourceRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        w.sourceChainId = 999;
        bytes memory sigs = _withdrawalSigs(w, 2);
        vm.expectRevert(abi.encodeWithSelector(BridgeEscrow.WrongSource.selector, 999, address(l2)));
        escrow.proveWithdrawal(w, sigs);
    }

    function test_withdrawal_moreThanEscrowRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        w.amount = 1e30; // a forged amount signed by colluding relayers still cannot drain other tokens
        bytes memory sigs = _withdrawalSigs(w, 2);
        vm.expectPartialRevert(BridgeEscrow.InsufficientEscrow.selector);
        escrow.proveWithdrawal(w, sigs);
    }

    function test_challenge_stopsRelease() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes32 id = escrow.proveWithdrawal(w, _withdrawalSigs(w, 2));
        vm.expectRevert();
        escrow.challengeWithdrawal(id); // not the guardian
        vm.prank(owner);
        escrow.challengeWithdrawal(id);
        vm.warp(block.timestamp + CHALLENGE);
        vm.expectRevert(
            abi.encodeWithSelector(
                BridgeEscrow.WithdrawalNotPending.selector, id, BridgeEscrow.WithdrawalStatus.Challenged
            )
        );
        escrow.finalizeWithdrawal(id);
    }

    function test_challenge_afterPeriodRefused() public {
        BridgeMessages.Withdrawal memory w = _withdraw(bob, alice, 1_000e6);
        bytes32 id = escrow.proveWithdrawal(w, _withdrawalSigs(w, 2));
        vm.warp(block.timestamp + CHALLENGE);
        vm.prank(owner);
        vm.expectPartialRevert(BridgeEscrow.ChallengePeriodOver.selector);
        escrow.challengeWithdrawal(id);
    }
}
