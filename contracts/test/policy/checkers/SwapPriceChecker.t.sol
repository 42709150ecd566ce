// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {GuardBase} from "../GuardBase.sol";
import {MockDex} from "../mocks/MockDex.sol";
import {SwapPriceChecker} from "../../../policy/checkers/SwapPriceChecker.sol";
import {CheckerBase} from "../../../policy/checkers/CheckerBase.sol";

/// @dev Attack (b) of issue 14 and its V3 / multi-hop variants: the stolen operator key swaps the Safe's USDC
///      into a pool it owns with a worthless limit. Each is first shown to drain without the new guards.
contract SwapPriceCheckerTest is GuardBase {
    uint256 internal constant DRAIN = 1_000_000e6;

    function setUp() public override {
        super.setUp();
        // The attacker's dust pools: USDC/DAI (no honest pair exists) and WBTC/DAI for the multi-hop variants.
        _pool(attacker, address(gUsdc), address(gDai), 1e6, 1e18);
        _pool(attacker, address(gWbtc), address(gDai), 1, 1e18);
    }

    function _attackerTakesProfit(address a, address b) internal returns (uint256 got) {
        uint256 before = MockERC20Like(a).balanceOf(attacker);
        vm.prank(attacker);
        dex.removeLiquidity(a, b);
        got = MockERC20Like(a).balanceOf(attacker) - before;
    }

    // ------------------------------------------------------------------ the attack as reported, then refused
    function testAttackV2DustPoolDrainsWithoutGuards() public {
        _scopeSwaps(false);
        assertTrue(_op(address(dex), _v2In(_path2(address(gUsdc), address(gDai)), DRAIN, 1)));
        assertGt(_attackerTakesProfit(address(gUsdc), address(gDai)), 999_000e6);
        assertLt(_safeValue(), SAFE_VALUE_E18 - 999_000e18);
    }

    function testAttackV2DustPoolRefusedByPriceBound() public {
        _scopeSwaps(true);
        _expectDeny(18, bytes32(uint256(1)));
        _op(address(dex), _v2In(_path2(address(gUsdc), address(gDai)), DRAIN, 1));
        // An honest-looking limit makes the dust pool itself refuse: the Safe keeps everything.
        vm.expectRevert(abi.encodeWithSelector(PolicyViolationLike.PolicyViolation.selector, uint8(16), _w(address(dex))));
        _op(address(dex), _v2In(_path2(address(gUsdc), address(gDai)), DRAIN, 990_000e18));
        assertEq(_safeValue(), SAFE_VALUE_E18);
    }

    function testAttackV2DustPoolRefusedByValueGuardAlone() public {
        _scopeSwaps(false);
        _guardOn();
        (uint8 st, bytes32 loss) = _opStatus(address(dex), _v2In(_path2(address(gUsdc), address(gDai)), DRAIN, 1));
        assertEq(st, 26);
        assertGt(uint256(loss), 999_000e18);
        assertEq(_safeValue(), SAFE_VALUE_E18);
    }

    function testAttackV2ExactOutRefused() public {
        _scopeSwaps(true);
        _expectDeny(18, bytes32(DRAIN));
        _op(address(dex), _v2Out(_path2(address(gUsdc), address(gDai)), 5e17, DRAIN));
    }

    function testAttackV3SingleHopRefused() public {
        _scopeSwaps(false);
        uint256 snap = vm.snapshotState();
        assertTrue(_op(address(dex), _v3InSingle(address(gUsdc), address(gDai), DRAIN, 1)));
        assertGt(_attackerTakesProfit(address(gUsdc), address(gDai)), 999_000e6);
        vm.revertToState(snap);
        _scopeSwaps(true);
        _expectDeny(18, bytes32(uint256(1)));
        _op(address(dex), _v3InSingle(address(gUsdc), address(gDai), DRAIN, 1));
        _expectDeny(18, bytes32(DRAIN));
        _op(address(dex), _v3OutSingle(address(gUsdc), address(gDai), 5e17, DRAIN));
    }

    function testAttackV3MultiHopRefused() public {
        // USDC -> WBTC (honest) -> DAI (the attacker's dust pool): priced end to end, USDC against DAI.
        bytes memory path = _v3Path(address(gUsdc), address(gWbtc), address(gDai));
        _scopeSwaps(false);
        uint256 snap = vm.snapshotState();
        assertTrue(_op(address(dex), _v3In(path, DRAIN, 1)));
        assertLt(_safeValue(), SAFE_VALUE_E18 - 990_000e18);
        vm.revertToState(snap);
        _scopeSwaps(true);
        _expectDeny(18, bytes32(uint256(1)));
        _op(address(dex), _v3In(path, DRAIN, 1));
        // exactOutput: the path starts at the token bought.
        _expectDeny(18, bytes32(DRAIN));
        _op(address(dex), _v3Out(_v3Path(address(gDai), address(gWbtc), address(gUsdc)), 5e17, DRAIN));
        _expectDeny(18, bytes32(uint256(1)));
        _op(address(dex), _v2In(_path3(address(gUsdc), address(gWbtc), address(gDai)), DRAIN, 1));
    }

    // ------------------------------------------------------------------ honest swaps still pass
    function testHonestSwapsPassEveryEntryPoint() public {
        _scopeSwaps(true);
        _guardOn();
        address u = address(gUsdc);
        address e = address(gWeth);
        uint256 q = dex.getAmountOut(u, e, 30_000e6); // ~9.97 WETH
        assertTrue(_op(address(dex), _v2In(_path2(u, e), 30_000e6, q * 99 / 100)));
        assertTrue(_op(address(dex), _v2Out(_path2(u, e), 1e18, 3_050e6)));
        assertTrue(_op(address(dex), _v3InSingle(u, e, 3_000e6, 0.98e18)));
        assertTrue(_op(address(dex), _v3OutSingle(u, e, 1e18, 3_050e6)));
        assertTrue(_op(address(dex), _v3In(_v3Path(u, e, address(gDai)), 3_000e6, 2_950e18)));
        assertTrue(_op(address(dex), _v3Out(_v3Path(address(gDai), e, u), 1_000e18, 1_015e6)));
        assertGt(gWeth.balanceOf(address(safe)), 1000e18);
    }

    function testLimitJustOutsideDeviationRefused() public {
        _scopeSwaps(true);
        // 3000 USDC buys 1 WETH at the oracle; a 2% floor accepts 0.98 WETH, not one wei less.
        bytes memory ok = _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.98e18);
        bytes memory bad = _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.98e18 - 1);
        assertTrue(_op(address(dex), ok));
        _expectDeny(18, bytes32(uint256(0.98e18 - 1)));
        _op(address(dex), bad);
        // exact-out: at most 1.02 of the value bought.
        _expectDeny(18, bytes32(uint256(3_060e6 + 1)));
        _op(address(dex), _v3OutSingle(address(gUsdc), address(gWeth), 1e18, 3_060e6 + 1));
    }

    function testStaleFeedDeniesSwap() public {
        _scopeSwaps(true);
        vm.warp(block.timestamp + MAX_AGE + 1);
        _expectDeny(20, _w(address(gUsdc)));
        _op(address(dex), _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.99e18));
    }

    // ------------------------------------------------------------------ canonical decoding
    function testDecodeAllEntryPoints() public view {
        address u = address(gUsdc);
        address d = address(gDai);
        SwapPriceChecker.Swap memory s = swapChecker.decode(_v2In(_path3(u, address(gWeth), d), 7, 5));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, true)));
        s = swapChecker.decode(_v2Out(_path2(u, d), 5, 7));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, false)));
        s = swapChecker.decode(_v3InSingle(u, d, 7, 5));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, true)));
        s = swapChecker.decode(_v3OutSingle(u, d, 5, 7));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, false)));
        s = swapChecker.decode(_v3In(_v3Path(u, address(gWeth), d), 7, 5));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, true)));
        s = swapChecker.decode(_v3Out(_v3Path(d, address(gWeth), u), 5, 7));
        assertEq(abi.encode(s), abi.encode(SwapPriceChecker.Swap(u, d, 7, 5, false)));
    }

    function testNonCanonicalEncodingsMalformed() public {
        address u = address(gUsdc);
        address d = address(gDai);
        // V2 path offset pointing past a decoy array: the router would read the second one.
        bytes memory canon = _v2In(_path2(u, d), 1e6, 1e18);
        bytes memory shifted = abi.encodePacked(
            MockDex.swapExactTokensForTokens.selector,
            abi.encode(uint256(1e6), uint256(1e18), uint256(0xe0), address(safe), block.timestamp),
            abi.encode(uint256(2), _w(u), _w(d)),
            abi.encode(uint256(2), _w(u), _w(address(gWeth)))
        );
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), bytes32(uint256(0xe0))));
        swapChecker.decode(shifted);
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), bytes32(canon.length + 1)));
        swapChecker.decode(bytes.concat(canon, hex"00"));
        // Dirty high bits of an address word.
        bytes memory dirty = _v3InSingle(u, d, 1, 1);
        dirty[4] = 0x01;
        vm.expectPartialRevert(CheckerBase.PolicyViolation.selector);
        swapChecker.decode(dirty);
        // Non-zero padding after a V3 path.
        bytes memory padded = _v3In(_v3Path(u, address(gWeth), d), 1, 1);
        padded[padded.length - 1] = 0x01;
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), bytes32(padded.length - 1)));
        swapChecker.decode(padded);
        // A path that is not token|fee|token...
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), bytes32(uint256(44))));
        swapChecker.decode(_v3In(abi.encodePacked(u, uint24(3000), d, uint8(0)), 1, 1));
        // Unknown selector.
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(28), bytes32(bytes4(0xdeadbeef))));
        swapChecker.decode(hex"deadbeef");
    }

    function testFuzzDecodeNeverPanics(bytes calldata junk, uint8 which) public {
        bytes4[6] memory sels = [bytes4(0x38ed1739), 0x8803dbee, 0x414bf389, 0xdb3e2198, 0xc04b8d59, 0xf28c0498];
        bytes memory data = bytes.concat(sels[which % 6], junk);
        try swapChecker.decode(data) returns (SwapPriceChecker.Swap memory) {}
        catch (bytes memory err) {
            assertEq(bytes4(err), CheckerBase.PolicyViolation.selector);
        }
    }

    // ------------------------------------------------------------------ the bound's math
    /// @dev The checker's decision is the spec's formula on oracle values, and whatever it allows loses at most
    ///      the deviation of the oracle value paid (exact-in) or gets at least 1/(1+dev) of it (exact-out).
    function testFuzzBoundMath(uint256 amountIn, uint256 amountOut, uint64 pIn, uint64 pOut, uint16 dev, bool exactIn)
        public
    {
        amountIn = bound(amountIn, 0, 1e13 * 1e6); // up to 10T USDC
        amountOut = bound(amountOut, 0, 1e9 * 1e18);
        pIn = uint64(bound(pIn, 1, 1e14));
        pOut = uint64(bound(pOut, 1, 1e14));
        dev = uint16(bound(dev, 0, 9_999));
        fUsdc.pushAnswer(int256(uint256(pIn)));
        fWeth.pushAnswer(int256(uint256(pOut)));
        bytes memory data = exactIn
            ? _v3InSingle(address(gUsdc), address(gWeth), amountIn, amountOut)
            : _v3OutSingle(address(gUsdc), address(gWeth), amountOut, amountIn);
        uint256 vin = Math.mulDiv(amountIn, uint256(pIn) * 1e18, 1e14);
        uint256 vout = Math.mulDiv(amountOut, uint256(pOut) * 1e18, 1e26);
        bool want = exactIn ? vout * 1e4 >= vin * (1e4 - dev) : vin * 1e4 <= vout * (1e4 + uint256(dev));
        vm.prank(address(module));
        try swapChecker.check(address(safe), address(dex), 0, data, dev) returns (uint8 st, bytes32, uint256 credit) {
            assertTrue(want, "allowed outside the bound");
            assertEq(st, 0);
            assertEq(credit, 0);
            // The oracle value given up beyond the deviation is at most rounding.
            if (exactIn) assertLe((vin > vout ? vin - vout : 0) * 1e4, uint256(dev) * vin + 1e4);
            else assertLe(vin * 1e4, vout * (1e4 + uint256(dev)));
        } catch (bytes memory err) {
            assertFalse(want, "denied inside the bound");
            assertEq(err, abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(18), bytes32(exactIn ? amountOut : amountIn)));
        }
    }

    function testDeviationParamAtOrAbove100PercentRefused() public {
        vm.prank(address(module));
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(28), bytes32(uint256(1e4))));
        swapChecker.check(address(safe), address(dex), 0, _v3InSingle(address(gUsdc), address(gWeth), 1, 1), 1e4);
    }
}

interface MockERC20Like {
    function balanceOf(address) external view returns (uint256);
}

interface PolicyViolationLike {
    error PolicyViolation(uint8 status, bytes32 word);
}
