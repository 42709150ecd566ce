// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {OptionsBase} from "./OptionsBase.sol";
import {OptionsMarket} from "../../options/OptionsMarket.sol";
import {MockERC20} from "./mocks/MockERC20.sol";

/// @notice Drives the market with random writes, RFQ fills, closes, cancels and replay attempts.
contract OptionsHandler is Test {
    OptionsMarket internal immutable market;
    MockERC20 internal immutable usdc;
    MockERC20 internal immutable weth;
    uint256[] internal ids;
    address[] public actors;
    uint256[] internal keys;

    OptionsMarket.Order[] internal filled; // every order that went through, for replay attempts
    uint256 public replaysAccepted;
    uint256 public fills;
    uint256 internal nextNonce;

    constructor(OptionsMarket m, MockERC20 u, MockERC20 w, uint256[] memory ids_) {
        market = m;
        usdc = u;
        weth = w;
        ids = ids_;
        for (uint256 i; i < 3; ++i) {
            (address a, uint256 k) = makeAddrAndKey(string(abi.encodePacked("actor", i)));
            actors.push(a);
            keys.push(k);
            u.mint(a, 1e30);
            w.mint(a, 1e30);
            vm.startPrank(a);
            u.approve(address(m), type(uint256).max);
            w.approve(address(m), type(uint256).max);
            vm.stopPrank();
        }
    }

    function write(uint256 who, uint256 idx, uint256 amount) external {
        amount = bound(amount, 1, 1000e18);
        address a = actors[who % actors.length];
        vm.prank(a);
        market.write(ids[idx % ids.length], amount, actors[(who + 1) % actors.length]);
    }

    function fill(uint256 m, uint256 t, uint256 idx, uint256 price, uint256 size, uint256 amount, bool sells) external {
        uint256 mi = m % actors.length;
        address taker = actors[t % actors.length];
        size = bound(size, 1, 1000e18);
        amount = bound(amount, 1, size);
        OptionsMarket.Quote memory q = OptionsMarket.Quote({
            maker: actors[mi],
            taker: address(0),
            seriesId: ids[idx % ids.length],
            side: sells ? OptionsMarket.Side.MakerSells : OptionsMarket.Side.MakerBuys,
            price: bound(price, 0, 10_000e6),
            size: size,
            expiry: uint64(block.timestamp + 60),
            nonce: nextNonce++
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[mi], market.quoteDigest(q));
        OptionsMarket.Order memory o = OptionsMarket.Order({quote: q, signature: abi.encodePacked(r, s, v), amount: amount});
        OptionsMarket.Order[] memory one = new OptionsMarket.Order[](1);
        one[0] = o;
        vm.prank(taker);
        market.fillQuotes(one);
        filled.push(o);
        fills++;
    }

    function replay(uint256 which, uint256 t) external {
        if (filled.length == 0) return;
        OptionsMarket.Order[] memory one = new OptionsMarket.Order[](1);
        one[0] = filled[which % filled.length];
        vm.prank(actors[t % actors.length]);
        try market.fillQuotes(one) {
            replaysAccepted++;
        } catch {}
    }

    function close(uint256 who, uint256 idx, uint256 amount) external {
        address a = actors[who % actors.length];
        uint256 id = ids[idx % ids.length];
        uint256 max = market.shortOf(id, a);
        uint256 longs = market.balanceOf(a, id);
        if (longs < max) max = longs;
        if (max == 0) return;
        vm.prank(a);
        market.close(id, bound(amount, 1, max));
    }

    function cancel(uint256 who, uint256 nonce) external {
        uint256[] memory n = new uint256[](1);
        n[0] = bound(nonce, 1e9, 2e9); // a range fills never use, so cancels never collide with them
        vm.prank(actors[who % actors.length]);
        try market.cancelNonces(n) {} catch {}
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }
}

/// forge-config: ci.invariant.runs = 128
contract OptionsMarketInvariantTest is OptionsBase {
    OptionsHandler internal handler;
    uint256[] internal allIds;

    function setUp() public override {
        super.setUp();
        allIds = [putId, callId, cappedCallId];
        handler = new OptionsHandler(market, usdc, weth, allIds);
        targetContract(address(handler));
    }

    /// Collateral held for every series covers the maximum payoff of its open interest.
    function invariant_collateralCoversMaxPayoff() public view {
        for (uint256 i; i < allIds.length; ++i) {
            uint256 id = allIds[i];
            assertGe(market.series(id).collateral, market.collateralFor(id, market.totalSupply(id)));
        }
    }

    /// The market's token balances are exactly the collateral it books.
    function invariant_balancesMatchBookedCollateral() public view {
        assertEq(
            usdc.balanceOf(address(market)),
            market.series(putId).collateral + market.series(cappedCallId).collateral
        );
        assertEq(weth.balanceOf(address(market)), market.series(callId).collateral);
    }

    /// Longs outstanding equal shorts outstanding, per series.
    function invariant_longsEqualShorts() public view {
        for (uint256 i; i < allIds.length; ++i) {
            uint256 shorts;
            for (uint256 j; j < handler.actorCount(); ++j) {
                shorts += market.shortOf(allIds[i], handler.actors(j));
            }
            assertEq(shorts, market.totalSupply(allIds[i]));
        }
    }

    /// No filled quote was ever accepted a second time.
    function invariant_noReplay() public view {
        assertEq(handler.replaysAccepted(), 0);
    }
}
