// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GuardBase} from "./GuardBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {MockERC20} from "../options/mocks/MockERC20.sol";

/// @dev A feed whose every field the test sets, garbage included.
contract ScriptedFeed {
    uint80 public roundId = 1;
    int256 public answer = 1e8;
    uint256 public updatedAt;
    uint80 public answeredInRound = 1;
    uint8 public dec = 8;
    bool public reverts;
    bool public short;

    constructor() {
        updatedAt = block.timestamp;
    }

    function set(int256 a, uint256 at, uint80 rid, uint80 answered) external {
        (answer, updatedAt, roundId, answeredInRound) = (a, at, rid, answered);
    }

    function setDecimals(uint8 d) external {
        dec = d;
    }

    function setBroken(bool r, bool s) external {
        (reverts, short) = (r, s);
    }

    function decimals() external view returns (uint8) {
        return dec;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        require(!reverts, "down");
        if (short) {
            assembly {
                return(0, 64)
            }
        }
        return (roundId, answer, updatedAt, updatedAt, answeredInRound);
    }
}

contract NoDecimals {}

contract PolicyModuleOraclesTest is GuardBase {
    ScriptedFeed internal feed;
    MockERC20 internal tok;

    function setUp() public override {
        super.setUp();
        feed = new ScriptedFeed();
        tok = new MockERC20("TOK", 6);
        vm.prank(address(safe));
        module.setOracle(address(tok), address(feed), 8, MAX_AGE);
    }

    function _denies(uint8 status) internal {
        _expectDeny(status, _w(address(tok)));
        module.valueE18(address(tok), 1e6);
    }

    // ------------------------------------------------------------------ value math
    function testValueAcrossDecimals() public view {
        assertEq(module.valueE18(address(gUsdc), 1_500e6), 1_500e18);
        assertEq(module.valueE18(address(gDai), 1_500e18), 1_500e18);
        assertEq(module.valueE18(address(gWeth), 2e18), 6_000e18);
        assertEq(module.valueE18(address(gWbtc), 0.5e8), 30_000e18);
        assertEq(module.valueE18(address(gUsdc), 1), 1e12);
        assertEq(module.valueE18(address(tok), 0), 0);
    }

    function testFuzzValueMatchesFormula(uint256 amount, uint128 answer, uint8 feedDec, uint8 tokDec) public {
        feedDec = uint8(bound(feedDec, 0, 36));
        tokDec = uint8(bound(tokDec, 0, 36));
        answer = uint128(bound(answer, 1, type(uint128).max));
        amount = bound(amount, 0, type(uint96).max);
        MockERC20 t = new MockERC20("T", tokDec);
        feed.setDecimals(feedDec);
        feed.set(int256(uint256(answer)), block.timestamp, 1, 1);
        vm.prank(address(safe));
        module.setOracle(address(t), address(feed), feedDec, MAX_AGE);
        // amount * answer * 1e18 / 10**(feedDec + tokDec) where it fits; beyond 2**200 a denial, never a panic.
        uint256 den = 10 ** (uint256(feedDec) + tokDec);
        uint256 num = uint256(answer) * 1e18;
        try module.valueE18(address(t), amount) returns (uint256 got) {
            assertLt(got, 2 ** 200);
            if (amount == 0 || amount <= type(uint256).max / num) assertEq(got, amount * num / den);
        } catch (bytes memory err) {
            assertEq(err, abi.encodeWithSelector(PolicyModule.PolicyViolation.selector, uint8(21), _w(address(t))));
            if (amount <= type(uint256).max / num) assertGe(amount * num / den, 2 ** 200);
        }
    }

    function testNativeEthHas18Decimals() public {
        vm.prank(address(safe));
        module.setOracle(address(0), address(fWeth), 8, MAX_AGE);
        (address f, uint8 fd, uint8 td, uint32 age) = module.oracle(address(0));
        assertEq(abi.encode(f, fd, td, age), abi.encode(address(fWeth), uint8(8), uint8(18), MAX_AGE));
        assertEq(module.valueE18(address(0), 1 ether), 3000e18);
    }

    // ------------------------------------------------------------------ feed edge cases: each denies
    function testMissingFeedDenies() public {
        _expectDeny(19, _w(address(0xbeef)));
        module.valueE18(address(0xbeef), 1);
    }

    function testStaleFeedDenies() public {
        feed.set(1e8, block.timestamp - MAX_AGE - 1, 1, 1);
        _denies(20);
        feed.set(1e8, block.timestamp - MAX_AGE, 1, 1);
        assertEq(module.valueE18(address(tok), 1e6), 1e18); // exactly maxAge old is still fresh
    }

    function testFutureFeedDenies() public {
        feed.set(1e8, block.timestamp + 1, 1, 1);
        _denies(20);
    }

    function testZeroTimestampAndIncompleteRoundDeny() public {
        vm.warp(10); // near genesis, where an updatedAt of 0 would look fresh
        feed.set(1e8, 0, 1, 1);
        _denies(20);
        vm.warp(1_800_000_000);
        feed.set(1e8, block.timestamp, 5, 4); // answeredInRound < roundId
        _denies(20);
    }

    function testZeroAndNegativeAnswersDeny() public {
        feed.set(0, block.timestamp, 1, 1);
        _denies(21);
        feed.set(-1, block.timestamp, 1, 1);
        _denies(21);
        feed.set(type(int256).min, block.timestamp, 1, 1);
        _denies(21);
        feed.set(int256(uint256(type(uint128).max)) + 1, block.timestamp, 1, 1);
        _denies(21);
    }

    function testWrongDecimalsDeny() public {
        feed.setDecimals(18);
        _denies(21);
        feed.setDecimals(7);
        _denies(21);
    }

    function testBrokenFeedDenies() public {
        feed.setBroken(true, false);
        _denies(21);
        feed.setBroken(false, true);
        _denies(21);
    }

    function testRealDevFeedStaleAfterMaxAge() public {
        vm.warp(block.timestamp + MAX_AGE + 1);
        _expectDeny(20, _w(address(gWeth)));
        module.valueE18(address(gWeth), 1e18);
        fWeth.pushAnswer(3100e8);
        assertEq(module.valueE18(address(gWeth), 1e18), 3100e18);
    }

    // ------------------------------------------------------------------ configuration
    function testOracleReadBackAndRemoval() public {
        (address[] memory t, address[] memory f, uint8[] memory d, uint32[] memory a) = module.oracles();
        assertEq(t.length, 5);
        assertEq(t[4], address(tok));
        assertEq(f[4], address(feed));
        assertEq(abi.encode(d[4], a[4]), abi.encode(uint8(8), MAX_AGE));
        (,, uint8 td,) = module.oracle(address(gWbtc));
        assertEq(td, 8);
        vm.expectEmit(address(module));
        emit PolicyModule.OracleSet(address(gUsdc), address(0), 0, 0, 0);
        vm.prank(address(safe));
        module.setOracle(address(gUsdc), address(0), 0, 0);
        (t,,,) = module.oracles();
        assertEq(t.length, 4);
        for (uint256 i; i < t.length; ++i) {
            assertTrue(t[i] != address(gUsdc));
        }
        _expectDeny(19, _w(address(gUsdc)));
        module.valueE18(address(gUsdc), 1);
        // Removing again is harmless; re-adding lists it once.
        vm.startPrank(address(safe));
        module.setOracle(address(gUsdc), address(0), 0, 0);
        module.setOracle(address(gUsdc), address(fUsdc), 8, MAX_AGE);
        module.setOracle(address(gUsdc), address(fUsdc), 8, 2 * MAX_AGE);
        vm.stopPrank();
        (t,,, a) = module.oracles();
        assertEq(t.length, 5);
        assertEq(a[4], 2 * MAX_AGE);
    }

    function testInvalidOracleConfigRefused() public {
        vm.startPrank(address(safe));
        _expectDeny(17, _w(address(feed)));
        module.setOracle(address(tok), address(feed), 8, 0);
        _expectDeny(17, _w(address(feed)));
        module.setOracle(address(tok), address(feed), 37, MAX_AGE);
        _expectDeny(17, _w(address(0x1234)));
        module.setOracle(address(tok), address(0x1234), 8, MAX_AGE); // no code
        address nd = address(new NoDecimals());
        _expectDeny(17, _w(nd));
        module.setOracle(nd, address(feed), 8, MAX_AGE);
        MockERC20 huge = new MockERC20("HUGE", 37);
        _expectDeny(17, _w(address(huge)));
        module.setOracle(address(huge), address(feed), 8, MAX_AGE);
        vm.stopPrank();
    }

    function testFuzzOracleConfigOnlyFromSafe(address caller) public {
        vm.assume(caller != address(safe));
        vm.prank(caller);
        _expectDeny(3, _w(caller));
        module.setOracle(address(gUsdc), address(feed), 8, MAX_AGE);
    }
}
