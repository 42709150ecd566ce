// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OptionsBase} from "./OptionsBase.sol";
import {OptionsMarket} from "../../options/OptionsMarket.sol";
import {Series} from "../../options/OptionMath.sol";

contract OptionsMarketTest is OptionsBase {
    // ------------------------------------------------------------ series

    function test_createSeries_rejectsBadTerms() public {
        Series memory s = _series(false, address(usdc), 3000e6, 0);
        s.feed = address(0);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, 2));
        market.createSeries(s);

        s = _series(false, address(usdc), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, 3));
        market.createSeries(s);

        s = _series(false, address(usdc), 3000e6, 0);
        s.expiry = uint64(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, 4));
        market.createSeries(s);

        // a put cannot be collateralized in the underlying
        s = _series(false, address(weth), 3000e6, 0);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, 5));
        market.createSeries(s);

        // a quote-collateralized call needs a cap above the strike
        s = _series(true, address(usdc), 3000e6, 3000e6);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, 6));
        market.createSeries(s);

        s = _series(false, address(usdc), 3000e6, 0);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesExists.selector, putId));
        market.createSeries(s);
    }

    function test_seriesId_isHashOfTerms() public view {
        Series memory s = _series(false, address(usdc), 3000e6, 0);
        assertEq(putId, uint256(keccak256(abi.encode(s))));
        assertEq(market.series(putId).unit, 1e18);
    }

    // ------------------------------------------------------------ fills

    function test_fill_makerSells_takerPaysPremiumAndGetsLongs() public {
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1);
        uint256 mUsdc = usdc.balanceOf(maker);
        uint256 tUsdc = usdc.balanceOf(taker);
        OptionsMarket.Order[] memory orders = _one(_order(q, 1.5e18));
        vm.prank(taker);
        uint256[] memory prem = market.fillQuotes(orders);
        assertEq(prem[0], 180e6);
        assertEq(market.balanceOf(taker, putId), 1.5e18);
        assertEq(market.shortOf(putId, maker), 1.5e18);
        assertEq(market.collateralOf(putId, maker), 4500e6);
        assertEq(usdc.balanceOf(taker), tUsdc - 180e6);
        assertEq(usdc.balanceOf(maker), mUsdc + 180e6 - 4500e6);
        assertTrue(market.nonceUsed(maker, 1));
    }

    function test_fill_makerBuys_takerWritesAndReceivesPremium() public {
        OptionsMarket.Quote memory q = _quote(callId, OptionsMarket.Side.MakerBuys, 95.5e6, 1e18, 7);
        uint256 tWeth = weth.balanceOf(taker);
        uint256 tUsdc = usdc.balanceOf(taker);
        OptionsMarket.Order[] memory orders = _one(_order(q, 1e18));
        vm.prank(taker);
        market.fillQuotes(orders);
        assertEq(market.balanceOf(maker, callId), 1e18);
        assertEq(market.shortOf(callId, taker), 1e18);
        assertEq(weth.balanceOf(taker), tWeth - 1e18);
        assertEq(usdc.balanceOf(taker), tUsdc + 95.5e6);
    }

    function test_fillQuotes_severalLegsInOneCall() public {
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](3);
        orders[0] = _order(_quote(putId, OptionsMarket.Side.MakerBuys, 100e6, 1e18, 1), 1e18);
        orders[1] = _order(_quote(cappedCallId, OptionsMarket.Side.MakerBuys, 80e6, 1e18, 2), 1e18);
        orders[2] = _order(_quote(callId, OptionsMarket.Side.MakerSells, 30e6, 1e18, 3), 1e18);
        vm.prank(taker);
        uint256[] memory prem = market.fillQuotes(orders);
        assertEq(prem.length, 3);
        assertEq(market.shortOf(putId, taker), 1e18);
        assertEq(market.shortOf(cappedCallId, taker), 1e18);
        assertEq(market.balanceOf(taker, callId), 1e18);
    }

    function test_fillQuotes_oneBadLegRevertsAll() public {
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](2);
        orders[0] = _order(_quote(putId, OptionsMarket.Side.MakerBuys, 100e6, 1e18, 1), 1e18);
        orders[1] = _order(_quote(callId, OptionsMarket.Side.MakerSells, 30e6, 1e18, 2), 2e18); // over size
        uint256 before = usdc.balanceOf(taker);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidAmount.selector, 2e18, 1e18));
        market.fillQuotes(orders);
        assertEq(usdc.balanceOf(taker), before);
        assertEq(market.shortOf(putId, taker), 0);
        assertFalse(market.nonceUsed(maker, 1));
    }

    function test_fill_replayReverts() public {
        OptionsMarket.Order memory o = _order(_quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 9), 1e18);
        vm.startPrank(taker);
        market.fillQuotes(_one(o));
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NonceUsed.selector, maker, 9));
        market.fillQuotes(_one(o)); // the unfilled remainder is gone too: one quote, one fill
        vm.stopPrank();
    }

    function test_fill_cancelledReverts() public {
        OptionsMarket.Order memory o = _order(_quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 300), 1e18);
        uint256[] memory nonces = new uint256[](1);
        nonces[0] = 300;
        vm.prank(maker);
        market.cancelNonces(nonces);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NonceUsed.selector, maker, 300));
        market.fillQuotes(_one(o));
    }

    function test_fill_expiredQuoteReverts() public {
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1);
        OptionsMarket.Order memory o = _order(q, 1e18);
        vm.warp(q.expiry + 1);
        vm.prank(taker);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.QuoteExpired.selector, market.hashQuote(q), q.expiry, q.expiry + 1)
        );
        market.fillQuotes(_one(o));
    }

    function test_fill_forgedSignatureReverts() public {
        (, uint256 otherKey) = makeAddrAndKey("mallory");
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1);
        OptionsMarket.Order memory o = OptionsMarket.Order({quote: q, signature: _sign(q, otherKey), amount: 1e18});
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSignature.selector, maker, market.quoteDigest(q)));
        market.fillQuotes(_one(o));
    }

    function test_fill_tamperedPriceReverts() public {
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerBuys, 120e6, 2e18, 1);
        OptionsMarket.Order memory o = _order(q, 1e18);
        o.quote.price = 1200e6; // the taker tries to get paid more than the maker signed
        vm.prank(taker);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.InvalidSignature.selector, maker, market.quoteDigest(o.quote))
        );
        market.fillQuotes(_one(o));
    }

    function test_fill_wrongTakerReverts() public {
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1);
        q.taker = makeAddr("someoneElse");
        OptionsMarket.Order memory o = _order(q, 1e18);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.TakerNotAllowed.selector, taker, q.taker));
        market.fillQuotes(_one(o));
    }

    function test_fill_unknownSeriesReverts() public {
        OptionsMarket.Order memory o = _order(_quote(12345, OptionsMarket.Side.MakerSells, 1e6, 1e18, 1), 1e18);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.UnknownSeries.selector, 12345));
        market.fillQuotes(_one(o));
    }

    function test_fill_insufficientCollateralReverts() public {
        address poor = makeAddr("poor");
        usdc.mint(poor, 100e6);
        vm.prank(poor);
        usdc.approve(address(market), type(uint256).max);
        OptionsMarket.Order memory o = _order(_quote(putId, OptionsMarket.Side.MakerBuys, 120e6, 1e18, 1), 1e18);
        vm.prank(poor);
        vm.expectRevert(); // SafeERC20 bubbles the token's ERC20InsufficientBalance
        market.fillQuotes(_one(o));
        assertFalse(market.nonceUsed(maker, 1));
    }

    function test_fill_afterSeriesExpiryReverts() public {
        OptionsMarket.Quote memory q = _quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1);
        vm.warp(expiry);
        q.expiry = uint64(block.timestamp + 60);
        OptionsMarket.Order memory o = _order(q, 1e18);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesExpired.selector, putId, expiry));
        market.fillQuotes(_one(o));
    }

    // ------------------------------------------------------------ close

    function test_close_releasesCollateral() public {
        vm.startPrank(taker);
        market.write(putId, 2e18, taker);
        uint256 before = usdc.balanceOf(taker);
        market.close(putId, 0.5e18);
        vm.stopPrank();
        assertEq(usdc.balanceOf(taker), before + 1500e6);
        assertEq(market.collateralOf(putId, taker), 4500e6);
        assertEq(market.balanceOf(taker, putId), 1.5e18);
    }

    // ------------------------------------------------------------ settlement

    function test_settle_beforeExpiryReverts() public {
        vm.warp(expiry - 1);
        feed.pushAnswer(2500e8);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesNotExpired.selector, putId, expiry, expiry - 1));
        market.settle(putId);
    }

    function test_settle_priceFromBeforeExpiryReverts() public {
        vm.warp(expiry - 5);
        feed.pushAnswer(2500e8);
        vm.warp(expiry + 5);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.StalePrice.selector, putId, expiry - 5, expiry + 5));
        market.settle(putId);
    }

    function test_settle_tooOldPriceReverts() public {
        vm.warp(expiry + 1);
        feed.pushAnswer(2500e8);
        vm.warp(expiry + 2 + MAX_FEED_AGE);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.StalePrice.selector, putId, expiry + 1, expiry + 2 + MAX_FEED_AGE)
        );
        market.settle(putId);
    }

    function test_settle_twiceReverts() public {
        _expireAndPrice(2500e8);
        market.settle(putId);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.AlreadySettled.selector, putId));
        market.settle(putId);
    }

    function test_exercise_beforeSettleReverts() public {
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotSettled.selector, putId));
        market.exercise(putId, 1);
    }

    function test_putLifecycle_exerciseAndRedeem() public {
        OptionsMarket.Order[] memory orders =
            _one(_order(_quote(putId, OptionsMarket.Side.MakerSells, 120e6, 2e18, 1), 2e18));
        vm.prank(taker);
        market.fillQuotes(orders);
        _expireAndPrice(2500e8);
        market.settle(putId);
        assertEq(market.series(putId).settlementPrice, 2500e6);

        uint256 t0 = usdc.balanceOf(taker);
        vm.prank(taker);
        assertEq(market.exercise(putId, 2e18), 1000e6);
        assertEq(usdc.balanceOf(taker), t0 + 1000e6);

        uint256 m0 = usdc.balanceOf(maker);
        vm.prank(maker);
        assertEq(market.redeem(putId), 5000e6);
        assertEq(usdc.balanceOf(maker), m0 + 5000e6);
        assertEq(usdc.balanceOf(address(market)), 0);
    }

    function test_callLifecycle_underlyingCollateral() public {
        vm.prank(taker);
        market.write(callId, 3e18, maker);
        _expireAndPrice(4000e8);
        market.settle(callId);
        vm.prank(maker);
        assertEq(market.exercise(callId, 3e18), 0.75e18); // 3 * (4000-3000)/4000 WETH
        vm.prank(taker);
        assertEq(market.redeem(callId), 2.25e18);
        assertEq(weth.balanceOf(address(market)), 0);
    }

    function test_cappedCallLifecycle_payoffStopsAtCap() public {
        vm.prank(taker);
        market.write(cappedCallId, 1e18, maker);
        assertEq(market.collateralOf(cappedCallId, taker), 1000e6);
        _expireAndPrice(9000e8);
        market.settle(cappedCallId);
        vm.prank(maker);
        assertEq(market.exercise(cappedCallId, 1e18), 1000e6);
        vm.prank(taker);
        assertEq(market.redeem(cappedCallId), 0);
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_fill_premiumAndCollateral(uint256 price, uint256 size, uint256 amount, bool makerSells) public {
        price = bound(price, 1, 5000e6);
        size = bound(size, 1, 100e18);
        amount = bound(amount, 1, size);
        OptionsMarket.Side side = makerSells ? OptionsMarket.Side.MakerSells : OptionsMarket.Side.MakerBuys;
        OptionsMarket.Quote memory q = _quote(putId, side, price, size, 42);
        uint256 mktBefore = usdc.balanceOf(address(market));
        uint256 sumBefore = usdc.balanceOf(maker) + usdc.balanceOf(taker);
        OptionsMarket.Order[] memory orders = _one(_order(q, amount));
        vm.prank(taker);
        uint256 premium = market.fillQuotes(orders)[0];
        assertEq(premium, (price * amount + 1e18 - 1) / 1e18);
        uint256 coll = market.collateralFor(putId, amount);
        assertGe(coll * 1e18, 3000e6 * amount); // full cover, rounded up
        assertEq(usdc.balanceOf(address(market)) - mktBefore, coll);
        assertEq(sumBefore - usdc.balanceOf(maker) - usdc.balanceOf(taker), coll); // nothing leaks
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NonceUsed.selector, maker, 42));
        market.fillQuotes(orders);
    }

    /// Six writes and a full settlement per run (~0.9M gas): fewer runs keep `scripts/test` fast.
    /// forge-config: ci.fuzz.runs = 2000
    function testFuzz_settleAndPayout_neverExceedsCollateral(uint256 a1, uint256 a2, uint256 px) public {
        a1 = bound(a1, 1, 50e18);
        a2 = bound(a2, 1, 50e18);
        px = bound(px, 100, 100_000e8); // below 1e-6 USD the quote-unit price is 0 and settle refuses it
        uint256[3] memory ids = [putId, callId, cappedCallId];
        for (uint256 i; i < 3; ++i) {
            vm.prank(maker);
            market.write(ids[i], a1, taker);
            vm.prank(taker);
            market.write(ids[i], a2, maker);
        }
        _expireAndPrice(int256(px));
        for (uint256 i; i < 3; ++i) {
            market.settle(ids[i]);
            vm.prank(taker);
            market.exercise(ids[i], a1);
            vm.prank(maker);
            market.exercise(ids[i], a2);
            vm.prank(maker);
            market.redeem(ids[i]);
            vm.prank(taker);
            market.redeem(ids[i]);
            // what is left is rounding dust, never a shortfall (that would have reverted above)
            assertLe(market.series(ids[i]).collateral, 2);
        }
        assertEq(
            usdc.balanceOf(address(market)),
            market.series(putId).collateral + market.series(cappedCallId).collateral
        );
        assertEq(weth.balanceOf(address(market)), market.series(callId).collateral);
    }

    function testFuzz_settle_rejectsStaleFeed(uint256 age, uint256 before) public {
        age = bound(age, MAX_FEED_AGE + 1, 30 days);
        before = bound(before, 1, 6 days);
        // a fresh price from before expiry is never a settlement price
        vm.warp(expiry - before);
        feed.pushAnswer(2000e8);
        vm.warp(expiry);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.StalePrice.selector, putId, expiry - before, expiry));
        market.settle(putId);
        // nor is one observed after expiry but older than the market's limit
        feed.pushAnswer(2100e8);
        vm.warp(expiry + age);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.StalePrice.selector, putId, expiry, expiry + age));
        market.settle(putId);
    }
}
