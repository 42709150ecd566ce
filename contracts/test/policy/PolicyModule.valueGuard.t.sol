// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GuardBase} from "./GuardBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {IPolicyChecker} from "../../policy/IPolicyChecker.sol";
import {MockERC20} from "../options/mocks/MockERC20.sol";
import {MockDex} from "./mocks/MockDex.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev A checker whose answer the test sets: credits, statuses, garbage and reverts.
contract ScriptedChecker is IPolicyChecker {
    enum Mode {
        Allow,
        Status,
        HugeStatus,
        Short,
        RevertPlain,
        RevertViolation
    }

    Mode public mode;
    uint256 public credit;
    uint8 public status;

    error PolicyViolation(uint8 status, bytes32 word);

    function set(Mode m, uint256 c, uint8 s) external {
        (mode, credit, status) = (m, c, s);
    }

    function check(address, address, uint256, bytes calldata, uint96) external view returns (uint8, bytes32, uint256) {
        Mode m = mode;
        if (m == Mode.Status) return (status, bytes32(uint256(0xbad)), 0);
        if (m == Mode.HugeStatus) {
            assembly {
                mstore(0, 256)
                mstore(32, 0)
                mstore(64, 0)
                return(0, 96)
            }
        }
        if (m == Mode.Short) {
            assembly {
                return(0, 64)
            }
        }
        if (m == Mode.RevertPlain) revert("nope");
        if (m == Mode.RevertViolation) revert PolicyViolation(status, bytes32(uint256(0xfeed)));
        return (0, bytes32(0), credit);
    }
}

/// @dev Calls back into the module from inside an execution (it is an operator too).
contract Reenterer {
    PolicyModule internal module;
    bool public reentered;

    constructor(PolicyModule m) {
        module = m;
    }

    function poke() external {
        try module.execute(address(this), 0, abi.encodeCall(Reenterer.noop, ()), 0) {
            reentered = true;
        } catch (bytes memory err) {
            // Surface the module's refusal as this call's own revert.
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
    }

    function noop() external {}
}

contract PolicyModuleValueGuardTest is GuardBase {
    ScriptedChecker internal scripted;

    function setUp() public override {
        super.setUp();
        _scopeSwaps(false);
        _guardOn();
        scripted = new ScriptedChecker();
    }

    /// @dev A pool of the attacker's priced `bps` below the oracle for USDC -> DAI, deep enough to trade
    ///      50k at a time with little impact.
    function _skewedPool(uint256 bps) internal {
        _skewedPool(bps, 50_000_000);
    }

    function _skewedPool(uint256 bps, uint256 depth) internal {
        _pool(attacker, address(gUsdc), address(gDai), depth * 1e6, depth * 1e18 * (1e4 - bps) / 1e4);
    }

    function _drainTrade(uint256 amount) internal view returns (bytes memory) {
        uint256 q = dex.getAmountOut(address(gUsdc), address(gDai), amount);
        return _v2In(_path2(address(gUsdc), address(gDai)), amount, q);
    }

    // ------------------------------------------------------------------ per-execution bound
    function testLossAboveBoundRefused() public {
        _skewedPool(500); // ~5.3% below the oracle after fee and impact
        (uint8 st, bytes32 loss) = _opStatus(address(dex), _drainTrade(50_000e6));
        assertEq(st, 26);
        assertApproxEqRel(uint256(loss), 50_000e18 * 530 / 1e4, 0.02e18);
        assertEq(_safeValue(), SAFE_VALUE_E18);
    }

    function testLossWithinBoundPassesAndIsBooked() public {
        _skewedPool(200);
        uint256 v0 = _safeValue();
        assertTrue(_op(address(dex), _drainTrade(50_000e6)));
        (,,,, uint64 start, uint256 base, uint256 booked) = module.valueGuard();
        assertEq(start, block.timestamp);
        assertEq(base, v0);
        // What the module booked is what the Safe lost at oracle prices (outflows rounded up).
        uint256 lost = v0 - _safeValue();
        assertGe(booked, lost);
        assertLe(booked - lost, 2);
    }

    function testUntrackedOutputCountsAsLoss() public {
        MockERC20 junk = new MockERC20("JUNK", 18);
        _pool(lp, address(gUsdc), address(junk), 1_000_000e6, 1_000_000e18);
        bytes32[] memory toks = new bytes32[](5);
        for (uint256 i; i < 4; ++i) {
            toks[i] = _w(_tracked()[i]);
        }
        toks[4] = _w(address(junk));
        vm.prank(address(safe));
        module.setSet(G_TOKENS, toks);
        (uint8 st,) = _opStatus(address(dex), _v2In(_path2(address(gUsdc), address(junk)), 1_000e6, 1));
        assertEq(st, 26);
    }

    function testChangedTrackedAssetWithoutFeedDenies() public {
        vm.prank(address(safe));
        module.setOracle(address(gDai), address(0), 0, 0);
        (uint8 st, bytes32 w) = _opStatus(address(dex), _v2In(_path2(address(gWeth), address(gDai)), 1e18, 1));
        assertEq(st, 19);
        assertEq(w, _w(address(gDai)));
    }

    // ------------------------------------------------------------------ window budget: the slow drain
    /// @dev Attack (c): many trades, each 2% under the oracle and so inside the per-execution bound and the
    ///      swap price bound (2%), until the window's budget (50 bps of 14.6M = 73k USD) stops them.
    function testSlowDrainStopsAtWindowBudget() public {
        _scopeSwaps(true);
        _skewedPool(100, 5_000_000_000); // deep: ~1.3-1.6% under the oracle per trade, all the way
        uint256 v0 = _safeValue();
        uint256 budget = v0 * BUDGET_BPS / 1e4;
        uint256 ok;
        uint8 st;
        for (uint256 i; i < 200; ++i) {
            (st,) = _opStatus(address(dex), _drainTrade(50_000e6));
            if (st != 0) break;
            ++ok;
        }
        assertEq(st, 27, "the budget, not another rule, stopped the drain");
        emit log_named_uint("trades before the budget stopped the drain", ok);
        emit log_named_decimal_uint("USD lost (budget 73,000)", v0 - _safeValue(), 18);
        assertGt(ok, 30);
        assertLe(v0 - _safeValue(), budget);
        assertGt(v0 - _safeValue(), budget * 95 / 100);
        // The next window allows trading again, with a fresh base.
        vm.warp(block.timestamp + PERIOD);
        _refreshFeeds();
        assertTrue(_op(address(dex), _drainTrade(50_000e6)));
        (,,,,, uint256 base,) = module.valueGuard();
        assertGt(base, 0);
        assertLt(base, v0);
    }

    function testGainsDoNotReplenishBudget() public {
        // A pool that pays above the oracle (the attacker's gift) and one that takes 2%.
        _pool(attacker, address(gWeth), address(gWbtc), 1_000e18, 60e8); // WBTC cheap: gain for the Safe
        _skewedPool(150);
        assertTrue(_op(address(dex), _drainTrade(50_000e6)));
        (,,,,,, uint256 loss1) = module.valueGuard();
        assertTrue(_op(address(dex), _v2In(_path2(address(gWeth), address(gWbtc)), 10e18, 1)));
        (,,,,,, uint256 loss2) = module.valueGuard();
        assertEq(loss2, loss1, "a gain is not booked against the loss");
        assertTrue(_op(address(dex), _drainTrade(50_000e6)));
        (,,,,,, uint256 loss3) = module.valueGuard();
        assertGt(loss3, loss1);
    }

    function testBatchMeasuredAsOneExecution() public {
        _skewedPool(250);
        bytes memory a = _drainTrade(20_000e6);
        bytes memory b = _v2In(_path2(address(gUsdc), address(gDai)), 20_000e6, 1);
        bytes memory txs = bytes.concat(_batchItem(address(dex), 0, a), _batchItem(address(dex), 0, b));
        vm.prank(operator);
        assertTrue(module.execute(multiSend, 0, abi.encodeWithSelector(0x8d80ff0a, txs), 1));
        (,,,,,, uint256 loss) = module.valueGuard();
        // Both trades (~2.6% each of 40k) are in one booking.
        assertApproxEqRel(loss, 40_000e18 * 290 / 1e4, 0.1e18);
    }

    function testGuardOffMeasuresNothing() public {
        vm.prank(address(safe));
        module.setValueGuard(new address[](0), 0, 0, 0);
        _skewedPool(900);
        assertTrue(_op(address(dex), _drainTrade(50_000e6)));
        (address[] memory t,,,, uint64 start,,) = module.valueGuard();
        assertEq(t.length, 0);
        assertEq(start, 0);
    }

    // ------------------------------------------------------------------ checker plumbing and credits
    function _scopeScripted() internal {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _checkCond(address(scripted), 42);
        vm.prank(address(safe));
        module.setScope(ROLE, address(gUsdc), IERC20.transfer.selector, 0, c);
    }

    function testCheckerCreditOffsetsLoss() public {
        _scopeScripted();
        bytes memory pay = abi.encodeCall(IERC20.transfer, (attacker, 1_000e6));
        (uint8 st, bytes32 w) = _opStatus(address(gUsdc), pay);
        assertEq(st, 26);
        assertEq(uint256(w), 1_000e18);
        scripted.set(ScriptedChecker.Mode.Allow, 1_000e18, 0);
        assertTrue(_op(address(gUsdc), pay));
        (,,,,,, uint256 loss) = module.valueGuard();
        assertEq(loss, 0);
        // A credit short of the outflow books the difference.
        scripted.set(ScriptedChecker.Mode.Allow, 990e18, 0);
        assertTrue(_op(address(gUsdc), pay));
        (,,,,,, loss) = module.valueGuard();
        assertEq(loss, 10e18);
    }

    function testCheckerAnswersMapToStatuses() public {
        _scopeScripted();
        bytes memory pay = abi.encodeCall(IERC20.transfer, (attacker, 1e6));
        bytes32 who = _w(address(scripted));
        scripted.set(ScriptedChecker.Mode.Status, 0, 24);
        (uint8 st, bytes32 w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(24), bytes32(uint256(0xbad))));
        scripted.set(ScriptedChecker.Mode.HugeStatus, 0, 0);
        (st, w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(28), who));
        scripted.set(ScriptedChecker.Mode.Short, 0, 0);
        (st, w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(28), who));
        scripted.set(ScriptedChecker.Mode.RevertPlain, 0, 0);
        (st, w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(28), who));
        scripted.set(ScriptedChecker.Mode.RevertViolation, 0, 20);
        (st, w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(20), bytes32(uint256(0xfeed))));
        scripted.set(ScriptedChecker.Mode.RevertViolation, 0, 0);
        (st, w) = _opStatus(address(gUsdc), pay);
        assertEq(abi.encode(st, w), abi.encode(uint8(28), who));
    }

    function testCheckerGetsTheCallAndParam() public {
        // The param reaches the checker: the swap checker refuses a deviation of 100%.
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _checkCond(address(swapChecker), 1e4);
        vm.prank(address(safe));
        module.setScope(ROLE, address(dex), MockDex.exactInputSingle.selector, 0, c);
        (uint8 st, bytes32 w) = _opStatus(address(dex), _v3InSingle(address(gUsdc), address(gWeth), 1e6, 1));
        assertEq(abi.encode(st, w), abi.encode(uint8(28), bytes32(uint256(1e4))));
    }

    function testNestedExecutionRefused() public {
        Reenterer r = new Reenterer(module);
        vm.startPrank(address(safe));
        module.setOperator(address(r), ROLE);
        module.setScope(ROLE, address(r), Reenterer.poke.selector, 0, new PolicyModule.Condition[](0));
        module.setScope(ROLE, address(r), Reenterer.noop.selector, 0, new PolicyModule.Condition[](0));
        vm.stopPrank();
        (uint8 st,) = _opStatus(address(r), abi.encodeCall(Reenterer.poke, ()));
        assertEq(st, 16); // the Safe's call failed: inside, the module refused the nested execution
        assertFalse(r.reentered());
        // Not nested, the same inner execution is allowed: the refusal above was the lock.
        r.poke();
        assertTrue(r.reentered());
    }

    // ------------------------------------------------------------------ configuration
    function testValueGuardConfigAndReadBack() public {
        (address[] memory t, uint16 ml, uint16 bb, uint32 p, uint64 ws, uint256 base, uint256 loss) = module.valueGuard();
        assertEq(t, _tracked());
        assertEq(abi.encode(ml, bb, p, ws, base, loss), abi.encode(MAX_LOSS_BPS, BUDGET_BPS, PERIOD, 0, 0, 0));
        address[] memory dup = new address[](2);
        (dup[0], dup[1]) = (address(gUsdc), address(gUsdc));
        vm.startPrank(address(safe));
        _expectDeny(17, _w(address(gUsdc)));
        module.setValueGuard(dup, 100, 50, 1 days);
        _expectDeny(17, bytes32(uint256(4)));
        module.setValueGuard(_tracked(), 10_001, 50, 1 days);
        _expectDeny(17, bytes32(uint256(4)));
        module.setValueGuard(_tracked(), 100, 10_001, 1 days);
        _expectDeny(17, bytes32(uint256(4)));
        module.setValueGuard(_tracked(), 100, 50, 0);
        _expectDeny(17, bytes32(uint256(17)));
        module.setValueGuard(new address[](17), 100, 50, 1 days);
        vm.expectEmit(address(module));
        emit PolicyModule.ValueGuardSet(_tracked(), 100, 20, 2 days);
        module.setValueGuard(_tracked(), 100, 20, 2 days);
        vm.stopPrank();
    }

    function testFuzzValueGuardConfigOnlyFromSafe(address caller) public {
        vm.assume(caller != address(safe));
        vm.prank(caller);
        _expectDeny(3, _w(caller));
        module.setValueGuard(new address[](0), 0, 0, 0);
    }

    function testWindowRollsAndEmits() public {
        _skewedPool(100);
        uint256 v0 = _safeValue();
        vm.expectEmit(address(module));
        emit PolicyModule.WindowStarted(uint64(block.timestamp), v0);
        assertTrue(_op(address(dex), _drainTrade(10_000e6)));
        vm.warp(block.timestamp + PERIOD - 1);
        _refreshFeeds();
        assertTrue(_op(address(dex), _drainTrade(10_000e6)));
        (,,,, uint64 ws,,) = module.valueGuard();
        assertEq(ws, block.timestamp - (PERIOD - 1));
    }
}
