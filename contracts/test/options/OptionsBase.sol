// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {OptionsMarket} from "../../options/OptionsMarket.sol";
import {Series} from "../../options/OptionMath.sol";
import {DevPriceFeed} from "../../options/DevPriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";

/// @notice Shared fixture: USDC (6), WETH (18), an ETH/USD feed (8 decimals) at 3000, a market
///         accepting feed answers up to one hour old, and three series expiring in 7 days.
abstract contract OptionsBase is Test {
    OptionsMarket internal market;
    MockERC20 internal usdc;
    MockERC20 internal weth;
    DevPriceFeed internal feed;

    address internal maker;
    uint256 internal makerKey;
    address internal taker = makeAddr("taker");

    uint64 internal expiry;
    uint256 internal putId; // 3000 put, USDC collateral
    uint256 internal callId; // 3000 call, WETH collateral
    uint256 internal cappedCallId; // 3000 call capped at 4000, USDC collateral

    uint256 internal constant MAX_FEED_AGE = 1 hours;

    function setUp() public virtual {
        vm.warp(1_800_000_000);
        (maker, makerKey) = makeAddrAndKey("maker");
        usdc = new MockERC20("USDC", 6);
        weth = new MockERC20("WETH", 18);
        feed = new DevPriceFeed(8, "ETH / USD", 3000e8, address(this));
        market = new OptionsMarket(MAX_FEED_AGE);
        expiry = uint64(block.timestamp + 7 days);
        putId = market.createSeries(_series(false, address(usdc), 3000e6, 0));
        callId = market.createSeries(_series(true, address(weth), 3000e6, 0));
        cappedCallId = market.createSeries(_series(true, address(usdc), 3000e6, 4000e6));
        for (uint256 i; i < 2; ++i) {
            address who = i == 0 ? maker : taker;
            usdc.mint(who, 10_000_000e6);
            weth.mint(who, 10_000e18);
            vm.startPrank(who);
            usdc.approve(address(market), type(uint256).max);
            weth.approve(address(market), type(uint256).max);
            vm.stopPrank();
        }
    }

    function _series(bool isCall, address collateral, uint128 strike, uint128 cap) internal view returns (Series memory) {
        return Series({
            underlying: address(weth),
            quoteAsset: address(usdc),
            collateral: collateral,
            feed: address(feed),
            strike: strike,
            cap: cap,
            expiry: expiry,
            isCall: isCall
        });
    }

    function _quote(uint256 id, OptionsMarket.Side side, uint256 price, uint256 size, uint256 nonce)
        internal
        view
        returns (OptionsMarket.Quote memory)
    {
        return OptionsMarket.Quote({
            maker: maker,
            taker: address(0),
            seriesId: id,
            side: side,
            price: price,
            size: size,
            expiry: uint64(block.timestamp + 60),
            nonce: nonce
        });
    }

    function _sign(OptionsMarket.Quote memory q, uint256 key) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.quoteDigest(q));
        return abi.encodePacked(r, s, v);
    }

    function _order(OptionsMarket.Quote memory q, uint256 amount) internal view returns (OptionsMarket.Order memory) {
        return OptionsMarket.Order({quote: q, signature: _sign(q, makerKey), amount: amount});
    }

    function _one(OptionsMarket.Order memory o) internal pure returns (OptionsMarket.Order[] memory orders) {
        orders = new OptionsMarket.Order[](1);
        orders[0] = o;
    }

    function _expireAndPrice(int256 answer) internal {
        vm.warp(expiry + 10);
        feed.pushAnswer(answer);
    }
}
