// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {PolicyBase, RecordingRouter, DelegateProbe, TestToken} from "./PolicyBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";

/// @dev Drives the module with random callers, calls, batches, config attempts and time jumps.
contract PolicyHandler is Test {
    PolicyModule internal module;
    address internal safe;
    address internal multiSend;
    RecordingRouter internal router;
    DelegateProbe internal probe;
    address internal usdc;
    address internal operator;
    uint32 internal allowanceId;

    uint256 public successes;
    uint256 public nonOperatorSuccesses;
    uint256 public delegatecallSuccesses;
    // What the configuration should be: only `safeConfigures` (acting as the Safe) may change it.
    uint16 public expectedRole;
    address public expectedGuardian;
    uint96 public expectedCap;

    constructor(
        PolicyModule m,
        address safe_,
        address multiSend_,
        RecordingRouter r,
        address usdc_,
        address op,
        uint32 aid,
        address guardian_
    ) {
        module = m;
        safe = safe_;
        multiSend = multiSend_;
        router = r;
        usdc = usdc_;
        operator = op;
        allowanceId = aid;
        probe = new DelegateProbe();
        expectedRole = m.roleOf(op);
        expectedGuardian = guardian_;
        (, expectedCap,,) = m.allowances(aid);
    }

    function _eis(address recipient, uint256 amountIn) internal view returns (bytes memory) {
        return abi.encodeCall(
            RecordingRouter.exactInputSingle,
            (RecordingRouter.ExactInputSingleParams(usdc, usdc, 500, recipient, 0, amountIn, 1, 0))
        );
    }

    function swap(uint256 actorSeed, uint256 amount, bool toSafe) external {
        address actor = actorSeed % 3 == 0 ? address(uint160(actorSeed)) : operator;
        bytes memory d = _eis(toSafe ? safe : address(uint160(amount)), bound(amount, 0, 2000e6));
        vm.prank(actor);
        try module.execute(address(router), 0, d, 0) {
            ++successes;
            if (module.roleOf(actor) == 0) ++nonOperatorSuccesses;
        } catch {}
    }

    function batch(uint256 amount, uint8 op, bool viaMultiSend) external {
        bytes memory inner = _eis(safe, bound(amount, 0, 600e6));
        bytes memory txs = abi.encodePacked(uint8(op % 2), address(router), uint256(0), inner.length, inner);
        address to = viaMultiSend ? multiSend : address(probe);
        bytes memory d = viaMultiSend ? abi.encodeWithSelector(0x8d80ff0a, txs) : abi.encodeCall(DelegateProbe.poke, ());
        vm.prank(operator);
        try module.execute(to, 0, d, 1) {
            if (!viaMultiSend || op % 2 == 1) ++delegatecallSuccesses;
        } catch {}
    }

    function configAttempt(address caller, uint16 role, uint96 cap) external {
        vm.assume(caller != safe);
        vm.startPrank(caller);
        try module.setOperator(operator, role) {} catch {}
        try module.setAllowance(allowanceId, cap, 1 days, cap) {} catch {}
        try module.setGuardian(caller) {} catch {}
        try module.unpause() {} catch {}
        vm.stopPrank();
    }

    function safeConfigures(uint16 role, uint96 cap, uint96 balance) external {
        role = uint16(bound(role, 1, 3));
        cap = uint96(bound(cap, 0, 5000e6));
        balance = uint96(bound(balance, 0, cap));
        vm.startPrank(safe);
        module.setOperator(operator, role);
        module.setAllowance(allowanceId, cap, 1 days, balance);
        vm.stopPrank();
        expectedRole = role;
        expectedCap = cap;
    }

    function pauseToggle(bool byGuardian) external {
        vm.prank(byGuardian ? expectedGuardian : safe);
        module.pause();
        vm.prank(safe);
        module.unpause();
    }

    function warp(uint32 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 3 days));
    }
}

contract PolicyModuleInvariantTest is PolicyBase {
    PolicyHandler internal handler;

    function setUp() public override {
        super.setUp();
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](2);
        c[0] = _cond(4, 3, 0, 0);
        c[1] = _cond(6, 5, USDC_ALLOWANCE, 0);
        vm.prank(address(safe));
        module.setScope(ROLE, address(router), RecordingRouter.exactInputSingle.selector, 0, c);
        handler = new PolicyHandler(
            module, address(safe), multiSend, router, address(usdc), operator, USDC_ALLOWANCE, guardian
        );
        // Role ids other than 1 have no scopes: role changes exercise "operator without permission".
        targetContract(address(handler));
    }

    /// @dev The handler's happy path must really execute, or the invariants above prove nothing.
    function testHandlerReachesHappyPath() public {
        handler.swap(1, 5e6, true);
        assertEq(handler.successes(), 1);
        assertEq(router.calls(), 1);
    }

    function invariant_onlyOperatorsExecute() public view {
        assertEq(handler.nonOperatorSuccesses(), 0);
    }

    function invariant_noDelegatecallExceptMultiSend() public view {
        assertEq(handler.delegatecallSuccesses(), 0);
        assertEq(vm.load(address(safe), bytes32(uint256(0xdead))), bytes32(0));
    }

    function invariant_allowanceWithinCap() public view {
        (uint96 balance, uint96 cap,,) = module.allowances(USDC_ALLOWANCE);
        assertLe(balance, cap);
        assertLe(module.currentAllowance(USDC_ALLOWANCE).balance, cap);
        assertEq(cap, handler.expectedCap());
    }

    function invariant_configOnlyFromSafe() public view {
        assertEq(module.roleOf(operator), handler.expectedRole());
        assertEq(module.guardian(), handler.expectedGuardian());
        assertEq(module.multiSend(), multiSend);
        assertFalse(module.paused());
    }
}
