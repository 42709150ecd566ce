// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PolicyBase, RecordingRouter, ISafe, DelegateProbe} from "./PolicyBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract PolicyModuleTest is PolicyBase {
    function setUp() public override {
        super.setUp();
        _scopeExactInputSingle();
    }

    // ------------------------------------------------------------------ roles, pause, config auth
    function testOnlyOperatorsExecute() public {
        bytes memory d = _eis(address(usdc), address(weth), address(safe), 1e6, 1);
        address stranger = makeAddr("stranger");
        _expectDeny(1, _w(stranger));
        vm.prank(stranger);
        module.execute(address(router), 0, d, 0);
        assertTrue(_exec(address(router), 0, d));
        assertEq(router.calls(), 1);
    }

    function testRevokedOperatorCannotExecute() public {
        vm.prank(address(safe));
        module.setOperator(operator, 0);
        _expectDeny(1, _w(operator));
        _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1e6, 1));
        (address[] memory ops,) = module.operators();
        assertEq(ops.length, 0);
    }

    function testPauseByOwnerGuardianSafeUnpauseOnlySafe() public {
        bytes memory d = _eis(address(usdc), address(weth), address(safe), 1e6, 1);
        address[3] memory pausers = [owner, guardian, address(safe)];
        for (uint256 i; i < 3; ++i) {
            vm.prank(pausers[i]);
            module.pause();
            _expectDeny(2, bytes32(0));
            _exec(address(router), 0, d);
            _expectDeny(3, _w(guardian));
            vm.prank(guardian);
            module.unpause();
            vm.prank(address(safe));
            module.unpause();
        }
        _expectDeny(3, _w(operator));
        vm.prank(operator);
        module.pause();
        assertTrue(_exec(address(router), 0, d));
    }

    function testFuzzConfigOnlyFromSafe(address caller) public {
        vm.assume(caller != address(safe));
        bytes[] memory calls = new bytes[](8);
        calls[0] = abi.encodeCall(PolicyModule.setOperator, (caller, 1));
        calls[1] = abi.encodeCall(PolicyModule.setScope, (1, caller, bytes4(0), 0, new PolicyModule.Condition[](0)));
        calls[2] = abi.encodeCall(PolicyModule.removeScope, (1, address(router), RecordingRouter.exactInputSingle.selector));
        calls[3] = abi.encodeCall(PolicyModule.setSet, (TOKENS, new bytes32[](0)));
        calls[4] = abi.encodeCall(PolicyModule.setAllowance, (USDC_ALLOWANCE, 1, 1, 1));
        calls[5] = abi.encodeCall(PolicyModule.setGuardian, (caller));
        calls[6] = abi.encodeCall(PolicyModule.setMultiSend, (caller));
        calls[7] = abi.encodeCall(PolicyModule.unpause, ());
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(caller);
            (bool ok, bytes memory ret) = address(module).call(calls[i]);
            assertFalse(ok);
            assertEq(ret, abi.encodeWithSelector(PolicyModule.PolicyViolation.selector, uint8(3), _w(caller)));
        }
    }

    function testConfigThroughRealSafeTransaction() public {
        address op2 = makeAddr("op2");
        assertTrue(_execBySafe(address(module), abi.encodeCall(PolicyModule.setOperator, (op2, 2))));
        assertEq(module.roleOf(op2), 2);
    }

    function testInvalidConfigRefused() public {
        vm.startPrank(address(safe));
        _expectDeny(17, bytes32(bytes20(address(router))));
        module.setScope(0, address(router), bytes4(0), 0, new PolicyModule.Condition[](0));
        _expectDeny(17, bytes32(bytes20(address(module))));
        module.setScope(1, address(module), bytes4(0), 0, new PolicyModule.Condition[](0));
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _cond(11, 0, 0, 0);
        _expectDeny(17, bytes32(uint256(11)));
        module.setScope(1, address(router), bytes4(0), 0, c);
        c[0] = _cond(10, 0, 3, 0); // OP_TOUCHES of an unknown kind
        _expectDeny(17, bytes32(uint256(3)));
        module.setScope(1, address(router), bytes4(0), 0, c);
        c[0] = _cond(10, 0, 0, 1); // OP_TOUCHES carries no value
        _expectDeny(17, bytes32(uint256(0)));
        module.setScope(1, address(router), bytes4(0), 0, c);
        c[0] = _cond(9, 0, 0, 0); // OP_CHECK naming an address without code
        _expectDeny(17, bytes32(0));
        module.setScope(1, address(router), bytes4(0), 0, c);
        _expectDeny(17, bytes32(uint256(2)));
        module.setAllowance(1, 1, 1, 2);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ target / selector / value
    function testUnknownSelectorDenied() public {
        bytes memory d = abi.encodeCall(RecordingRouter.exactInput, (RecordingRouter.ExactInputParams("", address(safe), 0, 0, 0)));
        _expectDeny(5, bytes32(bytes20(address(router))) | (bytes32(RecordingRouter.exactInput.selector) >> 160));
        _exec(address(router), 0, d);
    }

    function testRemovedScopeDenied() public {
        vm.prank(address(safe));
        module.removeScope(ROLE, address(router), RecordingRouter.exactInputSingle.selector);
        assertEq(module.scopeKeys().length, 0);
        vm.expectRevert();
        _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1e6, 1));
    }

    function testOperatorCannotEnableModuleOrChangeOwners() public {
        _expectDeny(5, bytes32(bytes20(address(safe))) | (bytes32(ISafe.enableModule.selector) >> 160));
        _exec(address(safe), 0, abi.encodeCall(ISafe.enableModule, (operator)));
        _expectDeny(5, bytes32(bytes20(address(safe))) | (bytes32(ISafe.addOwnerWithThreshold.selector) >> 160));
        _exec(address(safe), 0, abi.encodeCall(ISafe.addOwnerWithThreshold, (operator, 1)));
    }

    function testModuleItselfNeverATarget() public {
        _expectDeny(5, bytes32(bytes20(address(module))));
        _exec(address(module), 0, abi.encodeCall(PolicyModule.setOperator, (operator, 9)));
    }

    function testFuzzValueCap(uint96 cap, uint256 value) public {
        value = bound(value, 0, 100 ether);
        vm.prank(address(safe));
        module.setScope(ROLE, address(router), bytes4(0), cap, new PolicyModule.Condition[](0));
        if (value > cap) _expectDeny(6, bytes32(value));
        _exec(address(router), value, "");
        if (value <= cap) assertEq(address(router).balance, value);
    }

    function testShortCalldataDenied() public {
        _expectDeny(7, bytes32(uint256(2)));
        _exec(address(router), 0, hex"abcd");
        // selector present, words missing
        _expectDeny(7, bytes32(uint256(0)));
        _exec(address(router), 0, abi.encodePacked(RecordingRouter.exactInputSingle.selector));
    }

    // ------------------------------------------------------------------ parameter conditions
    function testEqCondition() public {
        _expectDeny(8, _w(address(wbtc)));
        _exec(address(router), 0, _eis(address(wbtc), address(weth), address(safe), 1e6, 1));
    }

    function testInSetCondition() public {
        _expectDeny(12, _w(address(wbtc)));
        _exec(address(router), 0, _eis(address(usdc), address(wbtc), address(safe), 1e6, 1));
        vm.prank(address(safe));
        bytes32[] memory toks = new bytes32[](1);
        toks[0] = _w(address(wbtc));
        module.setSet(TOKENS, toks);
        assertFalse(module.isMember(TOKENS, _w(address(weth))));
        assertTrue(_exec(address(router), 0, _eis(address(usdc), address(wbtc), address(safe), 1e6, 1)));
    }

    function testRecipientMustBeSafe() public {
        address thief = makeAddr("thief");
        _expectDeny(11, _w(thief));
        _exec(address(router), 0, _eis(address(usdc), address(weth), thief, 1e6, 1));
    }

    function testGeCondition() public {
        _expectDeny(10, bytes32(0));
        _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1e6, 0));
    }

    function testFuzzLeCondition(uint256 cap, uint256 amount) public {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](2);
        c[0] = _cond(5, 0, SPENDERS, 0);
        c[1] = _cond(2, 1, 0, cap);
        vm.prank(address(safe));
        module.setScope(ROLE, address(usdc), IERC20.approve.selector, 0, c);
        if (amount > cap) _expectDeny(9, bytes32(amount));
        _exec(address(usdc), 0, abi.encodeCall(IERC20.approve, (address(router), amount)));
        if (amount <= cap) assertEq(usdc.allowance(address(safe), address(router)), amount);
    }

    function testApproveToUnknownSpenderDenied() public {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](2);
        c[0] = _cond(5, 0, SPENDERS, 0);
        c[1] = _cond(2, 1, 0, 1e12);
        vm.prank(address(safe));
        module.setScope(ROLE, address(usdc), IERC20.approve.selector, 0, c);
        address evil = makeAddr("evil");
        _expectDeny(12, _w(evil));
        _exec(address(usdc), 0, abi.encodeCall(IERC20.approve, (evil, 1)));
    }

    // ------------------------------------------------------------------ allowances
    function testAllowanceExhaustedThenRefilled() public {
        assertTrue(_exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 600e6, 1)));
        assertTrue(_exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 400e6, 1)));
        _expectDeny(13, bytes32(uint256(1)));
        _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1, 1));
        vm.warp(block.timestamp + 1 days - 1);
        _expectDeny(13, bytes32(uint256(1)));
        _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1, 1));
        vm.warp(block.timestamp + 1);
        assertEq(module.currentAllowance(USDC_ALLOWANCE).balance, 1000e6);
        assertTrue(_exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), 1000e6, 1)));
        (uint96 bal,,,) = module.allowances(USDC_ALLOWANCE);
        assertEq(bal, 0);
    }

    function testFuzzAllowanceSequence(uint256[8] memory amounts, uint32[8] memory gaps) public {
        uint256 start = block.timestamp;
        uint256 balance = 1000e6;
        uint256 windowStart = start;
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 0, 2 days));
            if (block.timestamp >= windowStart + 1 days) {
                windowStart += ((block.timestamp - windowStart) / 1 days) * 1 days;
                balance = 1000e6;
            }
            uint256 amt = bound(amounts[i], 0, 1200e6);
            if (amt > balance) {
                _expectDeny(13, bytes32(amt));
                _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), amt, 1));
            } else {
                _exec(address(router), 0, _eis(address(usdc), address(weth), address(safe), amt, 1));
                balance -= amt;
            }
            (uint96 b, uint96 cap,, uint32 last) = module.allowances(USDC_ALLOWANCE);
            assertLe(b, cap);
            assertEq(module.currentAllowance(USDC_ALLOWANCE).balance, balance);
            assertLe(last, block.timestamp);
        }
    }

    // ------------------------------------------------------------------ paths
    function _scopeV2Path() internal {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](4);
        c[0] = _cond(1, 2, 0, 0xa0); // path offset pinned to its canonical place
        c[1] = _cond(4, 3, 0, 0); // to == Safe
        c[2] = _cond(7, 5, TOKENS, 0); // every hop in the token set
        c[3] = _cond(6, 0, USDC_ALLOWANCE, 0);
        vm.prank(address(safe));
        module.setScope(ROLE, address(router), RecordingRouter.swapExactTokensForTokens.selector, 0, c);
    }

    function testV2PathEveryTokenInSet() public {
        _scopeV2Path();
        address[] memory path = new address[](3);
        path[0] = address(usdc);
        path[1] = address(weth);
        path[2] = address(usdc);
        bytes memory ok = abi.encodeCall(RecordingRouter.swapExactTokensForTokens, (1e6, 0, path, address(safe), 1));
        assertTrue(_exec(address(router), 0, ok));
        path[1] = address(wbtc);
        _expectDeny(14, _w(address(wbtc)));
        _exec(address(router), 0, abi.encodeCall(RecordingRouter.swapExactTokensForTokens, (1e6, 0, path, address(safe), 1)));
    }

    function testV2PathEmptyOrTruncatedIsMalformed() public {
        _scopeV2Path();
        bytes memory d = abi.encodeCall(
            RecordingRouter.swapExactTokensForTokens, (1e6, 0, new address[](0), address(safe), 1)
        );
        _expectDeny(15, bytes32(0));
        _exec(address(router), 0, d);
    }

    function _v3Path(address a, address b, address c) internal pure returns (bytes memory) {
        return abi.encodePacked(a, uint24(500), b, uint24(3000), c);
    }

    function testV3MultiHopPathEveryTokenInSet() public {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](4);
        c[0] = _cond(1, 0, 0, 0x20); // tuple offset
        c[1] = _cond(1, 1, 0, 0xa0); // path offset inside the tuple
        c[2] = _cond(4, 2, 0, 0); // recipient
        c[3] = _cond(8, 6, TOKENS, 0); // path tokens
        vm.prank(address(safe));
        module.setScope(ROLE, address(router), RecordingRouter.exactInput.selector, 0, c);
        bytes memory good = abi.encodeCall(
            RecordingRouter.exactInput,
            (RecordingRouter.ExactInputParams(_v3Path(address(usdc), address(weth), address(usdc)), address(safe), 1, 1, 1))
        );
        assertTrue(_exec(address(router), 0, good));
        bytes memory bad = abi.encodeCall(
            RecordingRouter.exactInput,
            (RecordingRouter.ExactInputParams(_v3Path(address(usdc), address(wbtc), address(weth)), address(safe), 1, 1, 1))
        );
        _expectDeny(14, _w(address(wbtc)));
        _exec(address(router), 0, bad);
        bytes memory odd = abi.encodeCall(
            RecordingRouter.exactInput,
            (RecordingRouter.ExactInputParams(abi.encodePacked(address(usdc), uint24(500)), address(safe), 1, 1, 1))
        );
        _expectDeny(15, bytes32(uint256(23)));
        _exec(address(router), 0, odd);
    }

    // ------------------------------------------------------------------ delegatecall and batches
    function testDelegatecallOnlyToMultiSend() public {
        DelegateProbe probe = new DelegateProbe();
        _expectDeny(4, _w(address(probe)));
        vm.prank(operator);
        module.execute(address(probe), 0, abi.encodeCall(DelegateProbe.poke, ()), 1);
        _expectDeny(4, _w(address(probe)));
        vm.prank(operator);
        module.execute(address(probe), 0, "", 2);
    }

    function testBatchEachCallCheckedAsIfAlone() public {
        bytes memory good = _eis(address(usdc), address(weth), address(safe), 1e6, 1);
        bytes memory bad = _eis(address(usdc), address(weth), makeAddr("thief"), 1e6, 1);
        bytes memory txs = abi.encodePacked(_batchItem(address(router), 0, good), _batchItem(address(router), 0, good));
        vm.prank(operator);
        module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, txs), 1);
        assertEq(router.calls(), 2);
        assertEq(module.currentAllowance(USDC_ALLOWANCE).balance, 998e6);
        txs = abi.encodePacked(_batchItem(address(router), 0, good), _batchItem(address(router), 0, bad));
        _expectDeny(11, _w(makeAddr("thief")));
        vm.prank(operator);
        module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, txs), 1);
    }

    function testBatchInnerDelegatecallAndModuleTargetDenied() public {
        bytes memory good = _eis(address(usdc), address(weth), address(safe), 1e6, 1);
        bytes memory txs = abi.encodePacked(uint8(1), address(router), uint256(0), good.length, good);
        _expectDeny(4, _w(address(router)));
        vm.prank(operator);
        module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, txs), 1);
        bytes memory cfg = abi.encodeCall(PolicyModule.setOperator, (operator, 5));
        txs = _batchItem(address(module), 0, cfg);
        _expectDeny(5, bytes32(bytes20(address(module))));
        vm.prank(operator);
        module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, txs), 1);
    }

    function testFuzzMalformedBatchNeverExecutes(bytes calldata junk) public {
        vm.prank(operator);
        try module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, junk), 1) {
            // Only an empty batch or one made wholly of allowed calls can pass.
            assertEq(junk.length == 0 || router.calls() > 0, true);
        } catch (bytes memory err) {
            assertEq(bytes4(err), PolicyModule.PolicyViolation.selector);
        }
    }

    function testNonCanonicalBatchOffsetRefused() public {
        bytes memory good = _eis(address(usdc), address(weth), address(safe), 1e6, 1);
        bytes memory txs = _batchItem(address(router), 0, good);
        bytes memory data = abi.encodePacked(bytes4(0x8d80ff0a), uint256(64), uint256(0), txs.length, txs);
        _expectDeny(15, bytes32(uint256(64)));
        vm.prank(operator);
        module.execute(multiSend, 0, data, 1);
    }

    function testExecutionFailureReverts() public {
        // transfer more USDC than the Safe holds: the inner call fails, so nothing (incl. allowance) sticks
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _cond(6, 1, USDC_ALLOWANCE, 0);
        vm.prank(address(safe));
        module.setScope(ROLE, address(wbtc), IERC20.transfer.selector, 0, c);
        _expectDeny(16, _w(address(wbtc)));
        _exec(address(wbtc), 0, abi.encodeCall(IERC20.transfer, (address(safe), 5)));
        assertEq(module.currentAllowance(USDC_ALLOWANCE).balance, 1000e6);
    }

    function testReadBack() public {
        bytes32[] memory keys = module.scopeKeys();
        assertEq(keys.length, 1);
        (PolicyModule.Scope memory s, PolicyModule.Condition[] memory c) = module.getScope(keys[0]);
        assertEq(s.target, address(router));
        assertEq(s.selector, RecordingRouter.exactInputSingle.selector);
        assertEq(c.length, 5);
        assertEq(c[3].aux, USDC_ALLOWANCE);
        assertEq(module.setIds().length, 2);
        assertEq(module.setValues(TOKENS).length, 2);
        assertEq(module.allowanceIds().length, 1);
    }
}
