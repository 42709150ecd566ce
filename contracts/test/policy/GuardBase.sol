// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PolicyBase} from "./PolicyBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {SwapPriceChecker} from "../../policy/checkers/SwapPriceChecker.sol";
import {DevPriceFeed} from "../../options/DevPriceFeed.sol";
import {MockERC20} from "../options/mocks/MockERC20.sol";
import {MockDex} from "./mocks/MockDex.sol";

/// @dev The dev world in miniature, for the price and value guards: four tokens with their real decimals and
///      USD feeds (USDC 1, DAI 1, WETH 3000, WBTC 60000; 8 decimals, 1 h max age), a Safe holding 14.6M USD of
///      them, honest deep pools on a Uniswap-signature dex, and operator scopes for every swap entry point with
///      the conditions the compiler emits (tokens in set, recipient the Safe), optionally with the price checker.
abstract contract GuardBase is PolicyBase {
    uint32 internal constant G_TOKENS = 11;
    uint32 internal constant G_SPENDERS = 12;
    uint16 internal constant SLIPPAGE_BPS = 200;
    uint16 internal constant MAX_LOSS_BPS = 300;
    uint16 internal constant BUDGET_BPS = 50;
    uint32 internal constant PERIOD = 1 days;
    uint32 internal constant MAX_AGE = 1 hours;
    uint256 internal constant SAFE_VALUE_E18 = 14_600_000e18;

    MockERC20 internal gUsdc;
    MockERC20 internal gDai;
    MockERC20 internal gWeth;
    MockERC20 internal gWbtc;
    DevPriceFeed internal fUsdc;
    DevPriceFeed internal fDai;
    DevPriceFeed internal fWeth;
    DevPriceFeed internal fWbtc;
    MockDex internal dex;
    SwapPriceChecker internal swapChecker;
    address internal lp = makeAddr("lp");
    address internal attacker = makeAddr("attacker");

    function setUp() public virtual override {
        vm.warp(1_800_000_000);
        super.setUp();
        gUsdc = new MockERC20("USDC", 6);
        gDai = new MockERC20("DAI", 18);
        gWeth = new MockERC20("WETH", 18);
        gWbtc = new MockERC20("WBTC", 8);
        fUsdc = new DevPriceFeed(8, "USDC / USD", 1e8, address(this));
        fDai = new DevPriceFeed(8, "DAI / USD", 1e8, address(this));
        fWeth = new DevPriceFeed(8, "ETH / USD", 3000e8, address(this));
        fWbtc = new DevPriceFeed(8, "BTC / USD", 60_000e8, address(this));
        dex = new MockDex();
        swapChecker = new SwapPriceChecker();

        gUsdc.mint(address(safe), 10_000_000e6);
        gDai.mint(address(safe), 1_000_000e18);
        gWeth.mint(address(safe), 1000e18);
        gWbtc.mint(address(safe), 10e8);

        // Honest liquidity at the oracle prices; no USDC/DAI pair (as on the dev world of the issue).
        _pool(lp, address(gWeth), address(gUsdc), 10_000e18, 30_000_000e6);
        _pool(lp, address(gWbtc), address(gUsdc), 1000e8, 60_000_000e6);
        _pool(lp, address(gWeth), address(gDai), 10_000e18, 30_000_000e18);

        vm.startPrank(address(safe));
        module.setOracle(address(gUsdc), address(fUsdc), 8, MAX_AGE);
        module.setOracle(address(gDai), address(fDai), 8, MAX_AGE);
        module.setOracle(address(gWeth), address(fWeth), 8, MAX_AGE);
        module.setOracle(address(gWbtc), address(fWbtc), 8, MAX_AGE);
        bytes32[] memory toks = new bytes32[](4);
        for (uint256 i; i < 4; ++i) {
            toks[i] = _w(_tracked()[i]);
            // The owners approved the dex once; the operator cannot approve anything else.
            MockERC20(_tracked()[i]).approve(address(dex), type(uint256).max);
        }
        module.setSet(G_TOKENS, toks);
        vm.stopPrank();
    }

    function _tracked() internal view returns (address[] memory t) {
        t = new address[](4);
        (t[0], t[1], t[2], t[3]) = (address(gUsdc), address(gDai), address(gWeth), address(gWbtc));
    }

    function _pool(address who, address a, address b, uint256 amtA, uint256 amtB) internal {
        MockERC20(a).mint(who, amtA);
        MockERC20(b).mint(who, amtB);
        vm.startPrank(who);
        MockERC20(a).approve(address(dex), amtA);
        MockERC20(b).approve(address(dex), amtB);
        dex.addLiquidity(a, b, amtA, amtB);
        vm.stopPrank();
    }

    function _guardOn() internal {
        vm.prank(address(safe));
        module.setValueGuard(_tracked(), MAX_LOSS_BPS, BUDGET_BPS, PERIOD);
    }

    function _checkCond(address checker, uint96 param) internal pure returns (PolicyModule.Condition memory) {
        return _cond(9, 0, 0, uint256(uint160(checker)) | (uint256(param) << 160));
    }

    /// @dev Scopes for the six swap entry points: tokens in set, recipient the Safe, and (if `priced`) the
    ///      price checker at SLIPPAGE_BPS. Without `priced` this is the pre-issue policy: target + selector + sets.
    function _scopeSwaps(bool priced) internal {
        uint256 extra = priced ? 1 : 0;
        PolicyModule.Condition[] memory v2 = new PolicyModule.Condition[](2 + extra);
        v2[0] = _cond(4, 3, 0, 0); // to is the Safe
        v2[1] = _cond(7, 5, G_TOKENS, 0); // path in set
        PolicyModule.Condition[] memory single = new PolicyModule.Condition[](3 + extra);
        single[0] = _cond(5, 0, G_TOKENS, 0);
        single[1] = _cond(5, 1, G_TOKENS, 0);
        single[2] = _cond(4, 3, 0, 0);
        PolicyModule.Condition[] memory multi = new PolicyModule.Condition[](2 + extra);
        multi[0] = _cond(4, 2, 0, 0);
        multi[1] = _cond(8, 6, G_TOKENS, 0);
        if (priced) {
            v2[2] = _checkCond(address(swapChecker), SLIPPAGE_BPS);
            single[3] = v2[2];
            multi[2] = v2[2];
        }
        vm.startPrank(address(safe));
        module.setScope(ROLE, address(dex), MockDex.swapExactTokensForTokens.selector, 0, v2);
        module.setScope(ROLE, address(dex), MockDex.swapTokensForExactTokens.selector, 0, v2);
        module.setScope(ROLE, address(dex), MockDex.exactInputSingle.selector, 0, single);
        module.setScope(ROLE, address(dex), MockDex.exactOutputSingle.selector, 0, single);
        module.setScope(ROLE, address(dex), MockDex.exactInput.selector, 0, multi);
        module.setScope(ROLE, address(dex), MockDex.exactOutput.selector, 0, multi);
        vm.stopPrank();
    }

    /// @dev exactInputSingle as the compiler emits it for a Uniswap router: tokens in set, recipient the Safe,
    ///      the price checker, and OP_TOUCHES on tokenIn / tokenOut (the value guard reads only those two).
    function _declareSingleSwap() internal {
        PolicyModule.Condition[] memory single = new PolicyModule.Condition[](6);
        single[0] = _cond(5, 0, G_TOKENS, 0);
        single[1] = _cond(5, 1, G_TOKENS, 0);
        single[2] = _cond(4, 3, 0, 0);
        single[3] = _checkCond(address(swapChecker), SLIPPAGE_BPS);
        single[4] = _cond(10, 0, 0, 0);
        single[5] = _cond(10, 1, 0, 0);
        vm.prank(address(safe));
        module.setScope(ROLE, address(dex), MockDex.exactInputSingle.selector, 0, single);
    }

    function _safeValue() internal view returns (uint256 v) {
        address[] memory t = _tracked();
        for (uint256 i; i < t.length; ++i) {
            v += module.valueE18(t[i], MockERC20(t[i]).balanceOf(address(safe)));
        }
    }

    function _refreshFeeds() internal {
        fUsdc.pushAnswer(1e8);
        fDai.pushAnswer(1e8);
        fWeth.pushAnswer(3000e8);
        fWbtc.pushAnswer(60_000e8);
    }

    // ------------------------------------------------------------------ calldata builders
    function _v2In(address[] memory path, uint256 amountIn, uint256 minOut) internal view returns (bytes memory) {
        return abi.encodeCall(MockDex.swapExactTokensForTokens, (amountIn, minOut, path, address(safe), block.timestamp));
    }

    function _v2Out(address[] memory path, uint256 amountOut, uint256 maxIn) internal view returns (bytes memory) {
        return abi.encodeCall(MockDex.swapTokensForExactTokens, (amountOut, maxIn, path, address(safe), block.timestamp));
    }

    function _v3InSingle(address tin, address tout, uint256 amountIn, uint256 minOut) internal view returns (bytes memory) {
        return abi.encodeCall(
            MockDex.exactInputSingle,
            (MockDex.ExactInputSingleParams(tin, tout, 3000, address(safe), block.timestamp, amountIn, minOut, 0))
        );
    }

    function _v3OutSingle(address tin, address tout, uint256 amountOut, uint256 maxIn) internal view returns (bytes memory) {
        return abi.encodeCall(
            MockDex.exactOutputSingle,
            (MockDex.ExactOutputSingleParams(tin, tout, 3000, address(safe), block.timestamp, amountOut, maxIn, 0))
        );
    }

    function _v3In(bytes memory path, uint256 amountIn, uint256 minOut) internal view returns (bytes memory) {
        return abi.encodeCall(
            MockDex.exactInput, (MockDex.ExactInputParams(path, address(safe), block.timestamp, amountIn, minOut))
        );
    }

    function _v3Out(bytes memory path, uint256 amountOut, uint256 maxIn) internal view returns (bytes memory) {
        return abi.encodeCall(
            MockDex.exactOutput, (MockDex.ExactOutputParams(path, address(safe), block.timestamp, amountOut, maxIn))
        );
    }

    function _path2(address a, address b) internal pure returns (address[] memory p) {
        p = new address[](2);
        (p[0], p[1]) = (a, b);
    }

    function _path3(address a, address b, address c) internal pure returns (address[] memory p) {
        p = new address[](3);
        (p[0], p[1], p[2]) = (a, b, c);
    }

    function _v3Path(address a, address b, address c) internal pure returns (bytes memory) {
        return abi.encodePacked(a, uint24(3000), b, uint24(3000), c);
    }

    /// @dev Execute as the operator and return the refusal (status 0 when it executed).
    function _opStatus(address to, bytes memory data) internal returns (uint8 st, bytes32 word) {
        vm.prank(operator);
        (bool ok, bytes memory err) = address(module).call(abi.encodeCall(PolicyModule.execute, (to, 0, data, 0)));
        if (ok) return (0, bytes32(0));
        require(err.length == 68 && bytes4(err) == PolicyModule.PolicyViolation.selector, "not a PolicyViolation");
        assembly {
            st := mload(add(err, 36))
            word := mload(add(err, 68))
        }
    }

    function _op(address to, bytes memory data) internal returns (bool) {
        vm.prank(operator);
        return module.execute(to, 0, data, 0);
    }
}
