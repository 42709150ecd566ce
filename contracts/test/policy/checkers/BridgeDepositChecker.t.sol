// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GuardBase} from "../GuardBase.sol";
import {PolicyModule} from "../../../policy/PolicyModule.sol";
import {CheckerBase} from "../../../policy/checkers/CheckerBase.sol";
import {BridgeDepositChecker} from "../../../policy/checkers/BridgeDepositChecker.sol";
import {BridgeEscrow} from "../../../bridge/BridgeEscrow.sol";

/// @dev A deposit to the fund's own L2 Safe leaves the L1 Safe's balances but is not a loss: the checker credits
///      the net amount, so the value guard books only the bridge fee; any other recipient is refused by the set.
contract BridgeDepositCheckerTest is GuardBase {
    uint32 internal constant L2_SAFES = 21;
    BridgeEscrow internal escrow;
    BridgeDepositChecker internal bridgeChecker;
    address internal l2Safe = makeAddr("l2 safe");

    function setUp() public override {
        super.setUp();
        address[] memory relayers = new address[](1);
        relayers[0] = makeAddr("relayer");
        escrow = new BridgeEscrow(address(this), relayers, 1, block.chainid, 10, makeAddr("fees"), 1 hours);
        escrow.setCounterpart(makeAddr("l2 bridge"));
        bridgeChecker = new BridgeDepositChecker();
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](2);
        c[0] = _cond(5, 1, L2_SAFES, 0); // recipient in the fund's L2 Safes
        c[1] = _checkCond(address(bridgeChecker), 0);
        bytes32[] memory r = new bytes32[](1);
        r[0] = _w(l2Safe);
        vm.startPrank(address(safe));
        module.setSet(L2_SAFES, r);
        module.setScope(ROLE, address(escrow), BridgeEscrow.deposit.selector, 0, c);
        gUsdc.approve(address(escrow), type(uint256).max);
        vm.stopPrank();
        _guardOn();
    }

    function testDepositToOwnL2SafeBooksOnlyTheFee() public {
        assertTrue(_op(address(escrow), abi.encodeCall(BridgeEscrow.deposit, (address(gUsdc), l2Safe, 100_000e6))));
        (,,,,,, uint256 loss) = module.valueGuard();
        assertEq(loss, 100e18); // 10 bps of 100k
        assertEq(gUsdc.balanceOf(address(safe)), 10_000_000e6 - 100_000e6);
    }

    function testDepositElsewhereRefused() public {
        (uint8 st, bytes32 w) = _opStatus(address(escrow), abi.encodeCall(BridgeEscrow.deposit, (address(gUsdc), attacker, 1e6)));
        assertEq(abi.encode(st, w), abi.encode(uint8(12), _w(attacker)));
    }

    function testWithoutCheckerADepositIsALoss() public {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _cond(5, 1, L2_SAFES, 0);
        vm.prank(address(safe));
        module.setScope(ROLE, address(escrow), BridgeEscrow.deposit.selector, 0, c);
        (uint8 st,) = _opStatus(address(escrow), abi.encodeCall(BridgeEscrow.deposit, (address(gUsdc), l2Safe, 100_000e6)));
        assertEq(st, 26);
    }

    function testFuzzCreditIsNetValue(uint96 amount) public {
        amount = uint96(bound(amount, 0, 1e15));
        bytes memory d = abi.encodeCall(BridgeEscrow.deposit, (address(gUsdc), l2Safe, amount));
        vm.prank(address(module));
        (uint8 st,, uint256 credit) = bridgeChecker.check(address(safe), address(escrow), 0, d, 0);
        assertEq(st, 0);
        assertEq(credit, uint256(amount - escrow.feeFor(amount)) * 1e12);
    }

    function testMalformedAndUnknownRefused() public {
        bytes memory d = abi.encodeCall(BridgeEscrow.deposit, (address(gUsdc), l2Safe, 1e6));
        vm.startPrank(address(module));
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), bytes32(d.length + 1)));
        bridgeChecker.check(address(safe), address(escrow), 0, bytes.concat(d, hex"00"), 0);
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(28), bytes32(bytes4(0x12345678))));
        bridgeChecker.check(address(safe), address(escrow), 0, hex"12345678", 0);
        vm.stopPrank();
    }
}
