// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {GuardBase} from "../GuardBase.sol";
import {PolicyModule} from "../../../policy/PolicyModule.sol";
import {CheckerBase} from "../../../policy/checkers/CheckerBase.sol";
import {OptionsFillChecker} from "../../../policy/checkers/OptionsFillChecker.sol";
import {OptionsMarket} from "../../../options/OptionsMarket.sol";
import {Series} from "../../../options/OptionMath.sol";
import {DevPriceFeed} from "../../../options/DevPriceFeed.sol";
import {MockERC20} from "../../options/mocks/MockERC20.sol";

/// @dev Attack (a) of issue 14: the stolen operator key fills a quote of its own, on its own series, at an
///      absurd premium. Shown to drain without the new rules, then refused by each of them; honest fills pass.
contract OptionsFillCheckerTest is GuardBase {
    uint32 internal constant MAKERS = 13;
    uint32 internal constant OPT_ASSETS = 14;
    uint16 internal constant MAX_TV_BPS = 2000;

    OptionsMarket internal market;
    OptionsFillChecker internal optChecker;
    address internal mm;
    uint256 internal mmKey;
    uint256 internal attackerKey;
    uint256 internal putId; // the fund's: WETH/USDC 3000 put, 7 days
    uint256 internal callId; // WETH-collateralized 3000 call
    uint256 internal cappedId; // 3000 call capped at 4000, USDC collateral
    uint256 internal nonce;

    function setUp() public override {
        super.setUp();
        (mm, mmKey) = makeAddrAndKey("market maker");
        (, attackerKey) = makeAddrAndKey("attacker");
        market = new OptionsMarket(1 hours);
        // The Safe accepts ERC-1155 longs through its fallback handler, as deployed Safes do.
        address handler = _deploy("handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json");
        assertTrue(_execBySafe(address(safe), abi.encodeWithSignature("setFallbackHandler(address)", handler)));
        optChecker = new OptionsFillChecker();
        putId = market.createSeries(_series(address(gWeth), address(fWeth), false, address(gUsdc), 3000e6, 0, 7 days));
        callId = market.createSeries(_series(address(gWeth), address(fWeth), true, address(gWeth), 3000e6, 0, 7 days));
        cappedId = market.createSeries(_series(address(gWeth), address(fWeth), true, address(gUsdc), 3000e6, 4000e6, 7 days));
        address[2] memory who = [mm, attacker];
        for (uint256 i; i < 2; ++i) {
            gUsdc.mint(who[i], 10_000_000e6);
            gWeth.mint(who[i], 10_000e18);
            vm.startPrank(who[i]);
            gUsdc.approve(address(market), type(uint256).max);
            gWeth.approve(address(market), type(uint256).max);
            vm.stopPrank();
        }
        vm.startPrank(address(safe));
        gUsdc.approve(address(market), type(uint256).max);
        gWeth.approve(address(market), type(uint256).max);
        bytes32[] memory makers = new bytes32[](1);
        makers[0] = _w(mm);
        module.setSet(MAKERS, makers);
        bytes32[] memory assets = new bytes32[](2);
        (assets[0], assets[1]) = (_w(address(gWeth)), _w(address(gUsdc)));
        module.setSet(OPT_ASSETS, assets);
        vm.stopPrank();
    }

    function _param(uint16 tv, uint8 minDays, uint8 maxDays) internal pure returns (uint96) {
        return uint96(MAKERS) | (uint96(OPT_ASSETS) << 32) | (uint96(tv) << 64) | (uint96(minDays) << 80)
            | (uint96(maxDays) << 88);
    }

    function _scopeFill(bool checked) internal {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](checked ? 1 : 0);
        if (checked) c[0] = _checkCond(address(optChecker), _param(MAX_TV_BPS, 1, 120));
        vm.prank(address(safe));
        module.setScope(ROLE, address(market), OptionsMarket.fillQuotes.selector, 0, c);
    }

    function _series(address u, address f, bool isCall, address coll, uint128 strike, uint128 cap, uint256 life)
        internal
        view
        returns (Series memory)
    {
        return Series({
            underlying: u,
            quoteAsset: address(gUsdc),
            collateral: coll,
            feed: f,
            strike: strike,
            cap: cap,
            expiry: uint64(block.timestamp + life),
            isCall: isCall
        });
    }

    function _order(uint256 key, uint256 id, OptionsMarket.Side side, uint256 price, uint256 amount, address taker)
        internal
        returns (OptionsMarket.Order memory o)
    {
        OptionsMarket.Quote memory q = OptionsMarket.Quote({
            maker: vm.addr(key),
            taker: taker,
            seriesId: id,
            side: side,
            price: price,
            size: amount,
            expiry: uint64(block.timestamp + 60),
            nonce: ++nonce
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.quoteDigest(q));
        o = OptionsMarket.Order({quote: q, signature: abi.encodePacked(r, s, v), amount: amount});
    }

    function _fill(OptionsMarket.Order memory o) internal returns (uint8, bytes32) {
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](1);
        orders[0] = o;
        return _opStatus(address(market), abi.encodeCall(OptionsMarket.fillQuotes, (orders)));
    }

    function _attackerSeries() internal returns (uint256) {
        DevPriceFeed own = new DevPriceFeed(8, "mine", 3000e8, attacker);
        return market.createSeries(_series(address(gWeth), address(own), false, address(gUsdc), 3000e6, 0, 7 days));
    }

    /// @dev maker = attacker, taker = the Safe, price = 1e30 per WETH, size = 1 wei: the Safe pays 1M USDC.
    function _absurdQuote() internal returns (OptionsMarket.Order memory) {
        return _order(attackerKey, _attackerSeries(), OptionsMarket.Side.MakerSells, 1e30, 1, address(safe));
    }

    // ------------------------------------------------------------------ attack (a)
    function testAttackAbsurdPremiumDrainsWithoutGuards() public {
        _scopeFill(false);
        uint256 before = gUsdc.balanceOf(attacker);
        (uint8 st,) = _fill(_absurdQuote());
        assertEq(st, 0);
        assertEq(gUsdc.balanceOf(attacker) - before, 1_000_000e6 - 1); // premium minus the 1-unit collateral
        assertEq(gUsdc.balanceOf(address(safe)), 9_000_000e6);
    }

    function testAttackAbsurdPremiumRefusedByCounterpartySet() public {
        _scopeFill(true);
        (uint8 st, bytes32 w) = _fill(_absurdQuote());
        assertEq(abi.encode(st, w), abi.encode(uint8(22), _w(attacker)));
        assertEq(gUsdc.balanceOf(address(safe)), 10_000_000e6);
    }

    function testAttackAbsurdPremiumRefusedByValueGuardAlone() public {
        _scopeFill(false);
        _guardOn();
        (uint8 st, bytes32 w) = _fill(_absurdQuote());
        assertEq(st, 26);
        assertEq(uint256(w), 1_000_000e18);
    }

    function testTrustedMakerOnAttackerSeriesRefused() public {
        _scopeFill(true);
        uint256 id = _attackerSeries();
        (uint8 st, bytes32 w) = _fill(_order(mmKey, id, OptionsMarket.Side.MakerSells, 100e6, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(23), bytes32(id)));
        // A series on an underlying outside the asset set (the attacker's token, the fund's feed).
        MockERC20 junk = new MockERC20("JUNK", 18);
        id = market.createSeries(_series(address(junk), address(fWeth), false, address(gUsdc), 3000e6, 0, 7 days));
        (st, w) = _fill(_order(mmKey, id, OptionsMarket.Side.MakerSells, 1e6, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(23), bytes32(id)));
        // Unknown series id.
        (st, w) = _fill(_order(mmKey, 12345, OptionsMarket.Side.MakerSells, 1e6, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(23), bytes32(uint256(12345))));
    }

    function testExpiryWindowEnforced() public {
        _scopeFill(true);
        uint256 soon = market.createSeries(_series(address(gWeth), address(fWeth), false, address(gUsdc), 3000e6, 0, 12 hours));
        uint256 far = market.createSeries(_series(address(gWeth), address(fWeth), false, address(gUsdc), 3000e6, 0, 121 days));
        uint256 edge = market.createSeries(_series(address(gWeth), address(fWeth), false, address(gUsdc), 3000e6, 0, 120 days));
        (uint8 st,) = _fill(_order(mmKey, soon, OptionsMarket.Side.MakerSells, 10e6, 1e18, address(safe)));
        assertEq(st, 23);
        (st,) = _fill(_order(mmKey, far, OptionsMarket.Side.MakerSells, 10e6, 1e18, address(safe)));
        assertEq(st, 23);
        (st,) = _fill(_order(mmKey, edge, OptionsMarket.Side.MakerSells, 10e6, 1e18, address(safe)));
        assertEq(st, 0);
    }

    function testTrustedMakerAbsurdPremiumRefused() public {
        _scopeFill(true);
        (uint8 st, bytes32 w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 1e30, 1, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(24), bytes32(uint256(1e30))));
    }

    function testTakerMustBeTheSafe() public {
        _scopeFill(true);
        (uint8 st, bytes32 w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 100e6, 1e18, address(0)));
        assertEq(abi.encode(st, w), abi.encode(uint8(25), bytes32(0)));
        (st, w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 100e6, 1e18, attacker));
        assertEq(abi.encode(st, w), abi.encode(uint8(25), _w(attacker)));
    }

    function testOneBadOrderRefusesTheBatch() public {
        _scopeFill(true);
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](2);
        orders[0] = _order(mmKey, putId, OptionsMarket.Side.MakerSells, 100e6, 1e18, address(safe));
        orders[1] = _absurdQuote();
        (uint8 st,) = _opStatus(address(market), abi.encodeCall(OptionsMarket.fillQuotes, (orders)));
        assertEq(st, 22);
    }

    // ------------------------------------------------------------------ honest fills, with the value guard on
    function testHonestBuyPassesAtTheCapNotAbove() public {
        _scopeFill(true);
        _guardOn();
        // ATM put at spot 3000: intrinsic 0, cap 20% of spot = 600 USDC per WETH.
        (uint8 st, bytes32 w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 600e6 + 1, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(24), bytes32(uint256(600e6 + 1))));
        (st,) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 600e6, 10e18, address(safe)));
        assertEq(st, 0);
        assertEq(market.balanceOf(address(safe), putId), 10e18);
        assertEq(gUsdc.balanceOf(address(safe)), 10_000_000e6 - 6_000e6);
        (,,,,,, uint256 loss) = module.valueGuard();
        assertEq(loss, 0, "the premium is credited: the position is worth what the bound allowed");
    }

    function testHonestSellAtLeastIntrinsic() public {
        _scopeFill(true);
        _guardOn();
        fWeth.pushAnswer(2500e8); // the 3000 put is 500 in the money
        (uint8 st, bytes32 w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerBuys, 500e6 - 1, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(24), bytes32(uint256(500e6 - 1))));
        uint256 usdc0 = gUsdc.balanceOf(address(safe));
        (st,) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerBuys, 520e6, 2e18, address(safe)));
        assertEq(st, 0);
        assertEq(market.shortOf(putId, address(safe)), 2e18);
        assertEq(usdc0 - gUsdc.balanceOf(address(safe)), 6_000e6 - 1_040e6); // collateral out, premium in
        (,,,,,, uint256 loss) = module.valueGuard();
        assertEq(loss, 0);
    }

    function testCallBoundsUseMaxPayoff() public {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _checkCond(address(optChecker), _param(type(uint16).max, 1, 120)); // time value up to 655%
        vm.prank(address(safe));
        module.setScope(ROLE, address(market), OptionsMarket.fillQuotes.selector, 0, c);
        // Capped call 3000-4000 never pays more than 1000 per WETH.
        (uint8 st,) = _fill(_order(mmKey, cappedId, OptionsMarket.Side.MakerSells, 1000e6 + 1, 1e18, address(safe)));
        assertEq(st, 24);
        (st,) = _fill(_order(mmKey, cappedId, OptionsMarket.Side.MakerSells, 1000e6, 1e18, address(safe)));
        assertEq(st, 0);
        // A WETH-settled call never pays more than one WETH (spot) per WETH.
        (st,) = _fill(_order(mmKey, callId, OptionsMarket.Side.MakerSells, 3000e6 + 1, 1e18, address(safe)));
        assertEq(st, 24);
        (st,) = _fill(_order(mmKey, callId, OptionsMarket.Side.MakerSells, 3000e6, 1e18, address(safe)));
        assertEq(st, 0);
    }

    function testStaleSpotDeniesFill() public {
        _scopeFill(true);
        vm.warp(block.timestamp + MAX_AGE + 1);
        (uint8 st, bytes32 w) = _fill(_order(mmKey, putId, OptionsMarket.Side.MakerSells, 100e6, 1e18, address(safe)));
        assertEq(abi.encode(st, w), abi.encode(uint8(20), _w(address(gWeth))));
    }

    // ------------------------------------------------------------------ canonical decoding
    function _two() internal returns (OptionsMarket.Order[] memory orders) {
        orders = new OptionsMarket.Order[](2);
        orders[0] = _order(mmKey, putId, OptionsMarket.Side.MakerSells, 100e6, 1e18, address(safe));
        orders[1] = _order(mmKey, callId, OptionsMarket.Side.MakerBuys, 7e6, 3e18, address(safe));
        orders[1].signature = hex"0102030405"; // a short one: padding matters
    }

    function testDecodeTwoOrders() public {
        OptionsMarket.Order[] memory orders = _two();
        OptionsFillChecker.Fill[] memory f = optChecker.decode(abi.encodeCall(OptionsMarket.fillQuotes, (orders)));
        assertEq(f.length, 2);
        for (uint256 i; i < 2; ++i) {
            OptionsMarket.Quote memory q = orders[i].quote;
            assertEq(
                abi.encode(f[i]),
                abi.encode(OptionsFillChecker.Fill(q.maker, q.taker, q.seriesId, uint256(q.side), q.price, orders[i].amount))
            );
        }
    }

    function _expectMalformed(bytes memory data, bytes32 word) internal {
        vm.expectRevert(abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(15), word));
        optChecker.decode(data);
    }

    function testNonCanonicalFillsMalformed() public {
        bytes memory canon = abi.encodeCall(OptionsMarket.fillQuotes, (_two()));
        // Trailing byte.
        _expectMalformed(bytes.concat(canon, hex"00"), bytes32(canon.length + 1));
        // Second order moved one word later (a gap the market's decoder would skip over).
        bytes memory gap = bytes.concat(canon, new bytes(32));
        uint256 off1 = uint256(bytes32(_slice(canon, 4 + 96)));
        _store(gap, 4 + 96, off1 + 32);
        _expectMalformed(gap, bytes32(off1 + 32));
        // Array offset not 0x20.
        bytes memory badHead = bytes.concat(canon);
        _store(badHead, 4, 0x40);
        _expectMalformed(badHead, bytes32(uint256(0x40)));
        // Side out of the enum.
        bytes memory side = bytes.concat(canon);
        uint256 o0 = 4 + 64 + 64; // first order (two offset words)
        _store(side, o0 + 3 * 32, 2);
        _expectMalformed(side, bytes32(uint256(2)));
        // Dirty maker word.
        bytes memory dirty = bytes.concat(canon);
        dirty[o0] = 0x01;
        vm.expectPartialRevert(CheckerBase.PolicyViolation.selector);
        optChecker.decode(dirty);
        // Signature offset not 0x140.
        bytes memory sigOff = bytes.concat(canon);
        _store(sigOff, o0 + 8 * 32, 0x160);
        _expectMalformed(sigOff, bytes32(uint256(0x160)));
        // Non-zero padding after the 5-byte signature (the last bytes of the data).
        bytes memory pad = bytes.concat(canon);
        pad[pad.length - 1] = 0x01;
        _expectMalformed(pad, bytes32(pad.length - 1));
        // An empty batch.
        _expectMalformed(abi.encodeCall(OptionsMarket.fillQuotes, (new OptionsMarket.Order[](0))), bytes32(0));
        // The module refuses it the same way.
        _scopeFill(true);
        (uint8 st,) = _opStatus(address(market), gap);
        assertEq(st, 15);
    }

    function testFuzzCanonicalRoundTrip(uint8 n, uint8[3] memory sigLens, uint256 seed) public {
        n = uint8(bound(n, 1, 3));
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            orders[i].quote = OptionsMarket.Quote({
                maker: address(uint160(r)),
                taker: address(uint160(r >> 8)),
                seriesId: r >> 3,
                side: OptionsMarket.Side(r % 2),
                price: r >> 100,
                size: r >> 50,
                expiry: uint64(r >> 30),
                nonce: r >> 1
            });
            orders[i].signature = new bytes(sigLens[i] % 130);
            for (uint256 k; k < orders[i].signature.length; ++k) {
                orders[i].signature[k] = bytes1(uint8(r >> (k % 32)));
            }
            orders[i].amount = r >> 77;
        }
        OptionsFillChecker.Fill[] memory f = optChecker.decode(abi.encodeCall(OptionsMarket.fillQuotes, (orders)));
        assertEq(f.length, n);
        for (uint256 i; i < n; ++i) {
            assertEq(f[i].maker, orders[i].quote.maker);
            assertEq(f[i].taker, orders[i].quote.taker);
            assertEq(f[i].seriesId, orders[i].quote.seriesId);
            assertEq(f[i].side, uint256(orders[i].quote.side));
            assertEq(f[i].price, orders[i].quote.price);
            assertEq(f[i].amount, orders[i].amount);
        }
    }

    function testFuzzDecodeNeverPanics(bytes calldata junk) public view {
        bytes memory data = bytes.concat(OptionsMarket.fillQuotes.selector, junk);
        try optChecker.decode(data) returns (OptionsFillChecker.Fill[] memory) {}
        catch (bytes memory err) {
            assertEq(bytes4(err), CheckerBase.PolicyViolation.selector);
        }
    }

    // ------------------------------------------------------------------ the premium bound's math
    /// @dev Whatever the checker lets the Safe buy costs at most intrinsic + 20% of spot (and the option's largest
    ///      payoff); whatever it lets the Safe sell brings at least intrinsic. Computed here from the terms.
    function testFuzzPremiumBound(uint64 spot8, uint128 strike, uint256 price, uint8 kind, bool buy) public {
        spot8 = uint64(bound(spot8, 1e8, 1e13)); // 1 .. 100k USD
        strike = uint128(bound(strike, 1e6, 100_000e6));
        price = bound(price, 0, 1e12);
        kind %= 3; // put, physical call, capped call
        fWeth.pushAnswer(int256(uint256(spot8)));
        bytes memory data = _fuzzFill(strike, price, kind, buy);
        (uint256 intrinsic, uint256 maxPer, uint256 spot) = _refBounds(spot8, strike, kind);
        vm.prank(address(module));
        try optChecker.check(address(safe), address(market), 0, data, _param(MAX_TV_BPS, 1, 120)) returns (
            uint8 st, bytes32, uint256 credit
        ) {
            assertEq(st, 0);
            if (buy) {
                assertLe(price, intrinsic + spot * MAX_TV_BPS / 1e4);
                assertLe(price, maxPer);
                assertEq(credit, module.valueE18(address(gUsdc), price));
            } else {
                assertGe(price, intrinsic);
            }
        } catch (bytes memory err) {
            assertEq(err, abi.encodeWithSelector(CheckerBase.PolicyViolation.selector, uint8(24), bytes32(price)));
            if (buy) assertTrue(price > intrinsic + spot * MAX_TV_BPS / 1e4 || price > maxPer);
            else assertLt(price, intrinsic);
        }
    }

    function _fuzzFill(uint128 strike, uint256 price, uint8 kind, bool buy) internal returns (bytes memory) {
        uint128 cap = kind == 2 ? strike * 2 : 0;
        address coll = kind == 1 ? address(gWeth) : address(gUsdc);
        // 8 days: never one of the fixture's 7-day series.
        uint256 id = market.createSeries(_series(address(gWeth), address(fWeth), kind != 0, coll, strike, cap, 8 days));
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](1);
        OptionsMarket.Side side = buy ? OptionsMarket.Side.MakerSells : OptionsMarket.Side.MakerBuys;
        orders[0] = _order(mmKey, id, side, price, 1e18, address(safe));
        return abi.encodeCall(OptionsMarket.fillQuotes, (orders));
    }

    /// @dev Intrinsic and largest payoff per WETH in USDC units, from the terms (cap = 2 * strike when capped).
    function _refBounds(uint64 spot8, uint128 strike, uint8 kind)
        internal
        pure
        returns (uint256 intrinsic, uint256 maxPer, uint256 spot)
    {
        spot = uint256(spot8) / 100;
        if (kind == 0) return (spot < strike ? strike - spot : 0, strike, spot);
        if (kind == 1) return (spot > strike ? spot - strike : 0, spot, spot);
        uint256 top = Math.min(spot, 2 * uint256(strike));
        return (top > strike ? top - strike : 0, strike, spot);
    }

    function _slice(bytes memory b, uint256 at) internal pure returns (bytes32 w) {
        assembly {
            w := mload(add(add(b, 32), at))
        }
    }

    function _store(bytes memory b, uint256 at, uint256 v) internal pure {
        assembly {
            mstore(add(add(b, 32), at), v)
        }
    }
}
