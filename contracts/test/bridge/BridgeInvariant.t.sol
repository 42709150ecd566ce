// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {BridgeFixture} from "./BridgeFixture.sol";
import {BridgeEscrow} from "../../bridge/BridgeEscrow.sol";
import {BridgeL2} from "../../bridge/BridgeL2.sol";
import {BridgedToken} from "../../bridge/BridgedToken.sol";
import {BridgeMessages} from "../../bridge/BridgeMessages.sol";
import {TestToken} from "./BridgeFixture.sol";

/// @dev Drives random deposits, relays (including replays and under-signed attempts),
/// withdrawals, proofs and finalizations (early or not) through both bridge ends.
contract BridgeHandler is Test {
    BridgeEscrow internal escrow;
    BridgeL2 internal l2;
    TestToken internal token;
    BridgedToken internal bridged;
    uint256[] internal keys;

    BridgeMessages.Deposit[] internal deposits;
    BridgeMessages.Withdrawal[] internal withdrawalMsgs;
    bytes32[] internal proven;
    address[] internal actors;

    uint256 public replaysAccepted; // must stay 0
    uint256 public underSignedAccepted; // must stay 0
    uint256 public earlyReleases; // must stay 0
    uint256 public releasedTotal;
    uint256 public netWithdrawnTotal;

    constructor(
        BridgeEscrow escrow_,
        BridgeL2 l2_,
        TestToken token_,
        BridgedToken bridged_,
        uint256[] memory keys_
    ) {
        escrow = escrow_;
        l2 = l2_;
        token = token_;
        bridged = bridged_;
        keys = keys_;
        actors.push(address(0x1001));
        actors.push(address(0x1002));
        actors.push(address(0x1003));
    }

    function deposit(uint256 actorSeed, uint256 amount) external {
        address a = actors[actorSeed % actors.length];
        amount = bound(amount, 1, 1e15);
        if (amount <= escrow.feeFor(amount)) return;
        token.mint(a, amount);
        vm.startPrank(a);
        token.approve(address(escrow), amount);
        uint256 nonce = escrow.depositNonce();
        escrow.deposit(address(token), a, amount);
        vm.stopPrank();
        deposits.push(
            BridgeMessages.Deposit(
                block.chainid, address(escrow), address(token), a, a, amount - escrow.feeFor(amount), nonce
            )
        );
    }

    function relay(uint256 idx, uint256 nSigs) external {
        if (deposits.length == 0) return;
        BridgeMessages.Deposit memory d = deposits[idx % deposits.length];
        nSigs = bound(nSigs, 0, keys.length);
        bytes32 id = BridgeMessages.hash(d);
        bool was = l2.processed(id);
        bytes memory sigs = _sign(l2.digest(id), nSigs);
        try l2.finalizeDeposit(d, sigs) {
            if (was) replaysAccepted++;
            if (nSigs < l2.threshold()) underSignedAccepted++;
        } catch {}
    }

    function withdraw(uint256 actorSeed, uint256 amount) external {
        address a = actors[actorSeed % actors.length];
        uint256 bal = bridged.balanceOf(a);
        if (bal == 0) return;
        amount = bound(amount, 1, bal);
        if (amount <= l2.feeFor(amount)) return;
        uint256 nonce = l2.withdrawalNonce();
        vm.prank(a);
        l2.withdraw(address(bridged), a, amount);
        uint256 net = amount - l2.feeFor(amount);
        netWithdrawnTotal += net;
        withdrawalMsgs.push(BridgeMessages.Withdrawal(block.chainid, address(l2), address(token), a, a, net, nonce));
    }

    function prove(uint256 idx, uint256 nSigs) external {
        if (withdrawalMsgs.length == 0) return;
        BridgeMessages.Withdrawal memory w = withdrawalMsgs[idx % withdrawalMsgs.length];
        nSigs = bound(nSigs, 0, keys.length);
        bytes32 id = BridgeMessages.hash(w);
        (,,,, BridgeEscrow.WithdrawalStatus st) = escrow.withdrawals(id);
        try escrow.proveWithdrawal(w, _sign(escrow.digest(id), nSigs)) {
            if (st != BridgeEscrow.WithdrawalStatus.None) replaysAccepted++;
            if (nSigs < escrow.threshold()) underSignedAccepted++;
            proven.push(id);
        } catch {}
    }

    function finalize(uint256 idx) external {
        if (proven.length == 0) return;
        bytes32 id = proven[idx % proven.length];
        (,, uint256 amount, uint64 releaseAt, BridgeEscrow.WithdrawalStatus st) = escrow.withdrawals(id);
        try escrow.finalizeWithdrawal(id) {
            if (block.timestamp < releaseAt) earlyReleases++;
            if (st != BridgeEscrow.WithdrawalStatus.Pending) replaysAccepted++;
            releasedTotal += amount;
        } catch {}
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 2 hours));
    }

    function _sign(bytes32 digest, uint256 n) internal view returns (bytes memory sigs) {
        uint256[] memory ks = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            ks[i] = keys[i];
        }
        for (uint256 i = 1; i < n; ++i) {
            uint256 k = ks[i];
            uint256 j = i;
            while (j > 0 && vm.addr(ks[j - 1]) > vm.addr(k)) {
                ks[j] = ks[j - 1];
                --j;
            }
            ks[j] = k;
        }
        for (uint256 i; i < n; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(ks[i], digest);
            sigs = bytes.concat(sigs, r, s, bytes1(v));
        }
    }
}

contract BridgeInvariantTest is BridgeFixture {
    BridgeHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new BridgeHandler(escrow, l2, token, bridged, relayerKeys);
        targetContract(address(handler));
    }

    /// L2 supply never exceeds what the L1 escrow holds as backing, nor its actual balance.
    function invariant_l2SupplyBackedByEscrow() public view {
        assertLe(bridged.totalSupply(), escrow.locked(address(token)));
        assertLe(escrow.locked(address(token)), token.balanceOf(address(escrow)));
    }

    /// No message is accepted twice, none with fewer than k signatures, no release before its time.
    function invariant_noReplayNoUndersignedNoEarlyRelease() public view {
        assertEq(handler.replaysAccepted(), 0);
        assertEq(handler.underSignedAccepted(), 0);
        assertEq(handler.earlyReleases(), 0);
        assertLe(handler.releasedTotal(), handler.netWithdrawnTotal());
    }
}
