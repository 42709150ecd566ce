// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {GuardBase} from "./GuardBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {OptionsFillChecker} from "../../policy/checkers/OptionsFillChecker.sol";
import {OptionsMarket} from "../../options/OptionsMarket.sol";
import {Series} from "../../options/OptionMath.sol";
import {DevPriceFeed} from "../../options/DevPriceFeed.sol";
import {MockERC20} from "../options/mocks/MockERC20.sol";
import {MockDex} from "./mocks/MockDex.sol";

/// @dev Plays the attacker holding only the operator key (and its own funds): random allowed calls at random
///      limits, its own skewed pools, moves of the honest pools, its own option series and quotes, time jumps.
contract StolenOperator is Test {
    PolicyModule internal module;
    MockDex internal dex;
    OptionsMarket internal market;
    address internal safe;
    address internal operator;
    address internal attacker;
    uint256 internal attackerKey;
    address[] internal tokens;
    DevPriceFeed[] internal feeds;
    int256[] internal prices;
    uint256 internal nonce;

    uint256 public executed;
    uint256 public refused;
    uint256 public fills;
    // Ghost window, measured here independently of the module.
    uint64 public seenStart;
    uint256 public base;
    uint256 public worstDrop; // largest (base - value) seen, per window

    constructor(
        PolicyModule m,
        MockDex d,
        OptionsMarket mk,
        address safe_,
        address op,
        address[] memory toks,
        DevPriceFeed[] memory fs
    ) {
        (module, dex, market, safe, operator) = (m, d, mk, safe_, op);
        (attacker, attackerKey) = makeAddrAndKey("attacker");
        tokens = toks;
        feeds = fs;
        for (uint256 i; i < fs.length; ++i) {
            (, int256 a,,,) = fs[i].latestRoundData();
            prices.push(a);
        }
        for (uint256 i; i < toks.length; ++i) {
            vm.prank(attacker);
            MockERC20(toks[i]).approve(address(d), type(uint256).max);
            vm.prank(attacker);
            MockERC20(toks[i]).approve(address(mk), type(uint256).max);
        }
    }

    function value() public view returns (uint256 v) {
        for (uint256 i; i < tokens.length; ++i) {
            v += module.valueE18(tokens[i], MockERC20(tokens[i]).balanceOf(safe));
        }
    }

    function _exec(bytes memory data, address to) internal {
        uint256 before = value();
        vm.prank(operator);
        try module.execute(to, 0, data, 0) {
            ++executed;
        } catch {
            ++refused;
            return;
        }
        (,,,, uint64 ws,,) = module.valueGuard();
        if (ws != seenStart) (seenStart, base) = (ws, before);
        uint256 now_ = value();
        if (now_ < base && base - now_ > worstDrop) worstDrop = base - now_;
    }

    function _pick(uint256 seed) internal view returns (address a, address b) {
        if (seed % 3 != 0) {
            // One of the honest pairs (tokens: USDC, DAI, WETH, WBTC), either way.
            uint256 k = (seed / 3) % 3;
            (a, b) = k == 0 ? (tokens[0], tokens[2]) : k == 1 ? (tokens[0], tokens[3]) : (tokens[1], tokens[2]);
            if ((seed / 9) % 2 == 1) (a, b) = (b, a);
            return (a, b);
        }
        a = tokens[seed % tokens.length];
        b = tokens[(seed / 7 + 1 + seed % tokens.length) % tokens.length];
        if (a == b) b = tokens[(seed % tokens.length + 1) % tokens.length];
    }

    /// @dev Oracle-fair amount of `b` for `amount` of `a`, times `bps` / 1e4.
    function _fair(address a, address b, uint256 amount, uint256 bps) internal view returns (uint256) {
        uint256 va = module.valueE18(a, amount);
        uint256 unitB = module.valueE18(b, 10 ** MockERC20(b).decimals());
        return va * bps / 1e4 * 10 ** MockERC20(b).decimals() / unitB;
    }

    function swap(uint256 seed, uint256 amount, uint256 limitBps, uint8 entry) external {
        (address a, address b) = _pick(seed);
        uint256 bal = MockERC20(a).balanceOf(safe);
        if (bal == 0) return;
        // Mostly trades a desk would make (so a good share executes), sometimes anything at all.
        bool wild = seed % 4 == 0;
        amount = bound(amount, 1, wild ? bal / 2 + 1 : bal / 200 + 1);
        limitBps = wild ? bound(limitBps, 0, 20_000) : 9_800 + bound(limitBps, 0, 190);
        address mid = tokens[(seed >> 8) % tokens.length];
        bool hop = mid != a && mid != b && seed % 7 == 0;
        bytes memory data;
        entry %= 6;
        uint256 fair = _fair(a, b, amount, limitBps);
        uint256 outAmt = _fair(a, b, amount, 10_000) / 2 + 1; // for exact-out: half the fair amount
        uint256 maxIn = (amount / 2) * (20_000 - limitBps) / 10_000 + 1; // ~1.00-1.02 of fair when not wild
        if (entry == 0) data = abi.encodeCall(MockDex.swapExactTokensForTokens, (amount, fair, _path(a, mid, b, hop), safe, block.timestamp));
        else if (entry == 1) data = abi.encodeCall(MockDex.swapTokensForExactTokens, (outAmt, maxIn, _path(a, mid, b, hop), safe, block.timestamp));
        else if (entry == 2) data = abi.encodeCall(MockDex.exactInputSingle, (MockDex.ExactInputSingleParams(a, b, 3000, safe, block.timestamp, amount, fair, 0)));
        else if (entry == 3) data = abi.encodeCall(MockDex.exactOutputSingle, (MockDex.ExactOutputSingleParams(a, b, 3000, safe, block.timestamp, outAmt, maxIn, 0)));
        else if (entry == 4) data = abi.encodeCall(MockDex.exactInput, (MockDex.ExactInputParams(_v3(a, mid, b, hop), safe, block.timestamp, amount, fair)));
        else data = abi.encodeCall(MockDex.exactOutput, (MockDex.ExactOutputParams(_v3(b, mid, a, hop), safe, block.timestamp, outAmt, maxIn)));
        _exec(data, address(dex));
    }

    function _path(address a, address mid, address b, bool hop) internal pure returns (address[] memory p) {
        p = new address[](hop ? 3 : 2);
        p[0] = a;
        if (hop) p[1] = mid;
        p[p.length - 1] = b;
    }

    function _v3(address a, address mid, address b, bool hop) internal pure returns (bytes memory) {
        return hop ? abi.encodePacked(a, uint24(3000), mid, uint24(3000), b) : abi.encodePacked(a, uint24(3000), b);
    }

    /// @dev The attacker (re)opens its own pool for a pair at a price `skewBps` off the oracle (either way).
    function attackerPool(uint256 seed, uint256 skewBps, uint256 depthUsd) external {
        (address a, address b) = _pick(seed);
        (,, address owner) = dex.pools(a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a)));
        if (owner != address(0) && owner != attacker) return; // an honest pool: the attacker can only trade it
        vm.startPrank(attacker);
        if (owner == attacker) dex.removeLiquidity(a, b);
        depthUsd = bound(depthUsd, 1, 50_000_000);
        skewBps = bound(skewBps, 1, 19_999);
        uint256 amtA = _fair(tokens[0], a, depthUsd * 1e6, 10_000) + 1; // tokens[0] is USDC
        uint256 amtB = _fair(a, b, amtA, skewBps) + 1;
        MockERC20(a).mint(attacker, amtA);
        MockERC20(b).mint(attacker, amtB);
        dex.addLiquidity(a, b, amtA, amtB);
        vm.stopPrank();
    }

    /// @dev The attacker trades a pool itself, moving its price before the operator's next swap.
    function attackerMoves(uint256 seed, uint256 usd) external {
        (address a, address b) = _pick(seed);
        uint256 amount = _fair(tokens[0], a, bound(usd, 1, 20_000_000) * 1e6, 10_000) + 1;
        MockERC20(a).mint(attacker, amount);
        address[] memory p = new address[](2);
        (p[0], p[1]) = (a, b);
        vm.prank(attacker);
        try dex.swapExactTokensForTokens(amount, 0, p, attacker, block.timestamp) {} catch {}
    }

    /// @dev A quote the attacker signs: its own series or the fund's, any price, either side.
    function optionsFill(uint256 seriesId, uint256 price, uint256 amount, bool makerSells, bool ownSeries) external {
        if (ownSeries) {
            DevPriceFeed own = new DevPriceFeed(8, "mine", 3000e8, attacker);
            seriesId = market.createSeries(
                Series(tokens[2], tokens[0], tokens[0], address(own), 3000e6, 0, uint64(block.timestamp + 7 days), false)
            );
        }
        OptionsMarket.Quote memory q = OptionsMarket.Quote({
            maker: attacker,
            taker: seriesId % 2 == 0 ? safe : address(0),
            seriesId: seriesId,
            side: makerSells ? OptionsMarket.Side.MakerSells : OptionsMarket.Side.MakerBuys,
            price: bound(price, 0, 1e30),
            size: bound(amount, 1, 100e18),
            expiry: uint64(block.timestamp + 60),
            nonce: ++nonce
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(attackerKey, market.quoteDigest(q));
        OptionsMarket.Order[] memory orders = new OptionsMarket.Order[](1);
        orders[0] = OptionsMarket.Order(q, abi.encodePacked(r, s, v), q.size);
        uint256 before = executed;
        _exec(abi.encodeCall(OptionsMarket.fillQuotes, (orders)), address(market));
        if (executed != before) ++fills;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 2 days));
        // The oracles keep reporting (same prices): staleness is tested elsewhere; here it would only refuse.
        for (uint256 i; i < feeds.length; ++i) {
            feeds[i].pushAnswer(prices[i]);
        }
    }
}

contract PolicyModuleValueGuardInvariantTest is GuardBase {
    StolenOperator internal handler;
    OptionsMarket internal market;

    function setUp() public override {
        super.setUp();
        _scopeSwaps(true);
        _guardOn();
        market = new OptionsMarket(1 hours);
        OptionsFillChecker optChecker = new OptionsFillChecker();
        vm.startPrank(address(safe));
        gUsdc.approve(address(market), type(uint256).max);
        gWeth.approve(address(market), type(uint256).max);
        bytes32[] memory makers = new bytes32[](1);
        makers[0] = _w(makeAddr("market maker"));
        module.setSet(13, makers);
        module.setSet(14, new bytes32[](0));
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](1);
        c[0] = _checkCond(address(optChecker), uint96(13) | (uint96(14) << 32) | (uint96(2000) << 64) | (uint96(1) << 80));
        module.setScope(ROLE, address(market), OptionsMarket.fillQuotes.selector, 0, c);
        vm.stopPrank();
        DevPriceFeed[] memory fs = new DevPriceFeed[](4);
        (fs[0], fs[1], fs[2], fs[3]) = (fUsdc, fDai, fWeth, fWbtc);
        for (uint256 i; i < 4; ++i) {
            fs[i].transferOwnership(address(0xfeed));
        }
        handler = new StolenOperator(module, dex, market, address(safe), operator, _tracked(), fs);
        for (uint256 i; i < 4; ++i) {
            vm.prank(address(0xfeed));
            fs[i].transferOwnership(address(handler));
        }
        targetContract(address(handler));
    }

    /// @dev The handler's swaps really execute (an honest limit through an honest pool), or the invariant
    ///      would hold vacuously.
    function testHandlerReachesHappyPath() public {
        handler.swap(0x02_00, 3_000e6, 9_800, 2); // USDC -> WETH exactInputSingle at 98% of fair
        assertEq(handler.executed(), 1);
        assertGt(handler.base(), 0);
    }

    /// @dev A good share of the stolen key's random swaps is on the allowed side (else the invariant is weak).
    function testRandomSwapsOftenAllowed() public {
        for (uint256 i; i < 60; ++i) {
            uint256 r = uint256(keccak256(abi.encode(i)));
            handler.swap(r, r >> 64, r >> 128, uint8(r >> 200));
        }
        emit log_named_uint("executed", handler.executed());
        emit log_named_uint("refused", handler.refused());
        assertGe(handler.executed() * 100, 30 * (handler.executed() + handler.refused()));
    }

    /// @dev Whatever the stolen key does, the Safe's oracle value within a window never falls by more than the
    ///      budget (50 bps of the value at the window's start), plus rounding.
    function invariant_lossWithinWindowBudget() public view {
        assertLe(handler.worstDrop(), handler.base() * BUDGET_BPS / 1e4 + 1e6);
        (,,,,, uint256 base, uint256 loss) = module.valueGuard();
        assertLe(loss, base * BUDGET_BPS / 1e4);
    }

    /// @dev The attacker's own quotes never fill.
    function invariant_noAttackerFill() public view {
        assertEq(handler.fills(), 0);
    }

    /// @dev How much of each run was on the allowed side (forge test -vv prints it).
    function afterInvariant() external {
        emit log_named_uint("executed", handler.executed());
        emit log_named_uint("refused", handler.refused());
    }
}
