// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Constant-product pools (0.3% fee) behind the Uniswap V2 Router02 and V3 SwapRouter signatures, so forge
///      tests can swap for real balances through the exact calldata the checkers decode. Anyone may open a pool
///      (the attacker's dust pool included) and its owner may take the liquidity back. The real Uniswap bytecode
///      is exercised by the Python integration tests on anvil.
contract MockDex {
    struct Pool {
        uint256 r0; // reserve of the lower address
        uint256 r1;
        address owner;
    }

    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    struct ExactOutputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountOut;
        uint256 amountInMaximum;
        uint160 sqrtPriceLimitX96;
    }

    struct ExactInputParams {
        bytes path;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
    }

    struct ExactOutputParams {
        bytes path;
        address recipient;
        uint256 deadline;
        uint256 amountOut;
        uint256 amountInMaximum;
    }

    mapping(bytes32 => Pool) public pools;

    error Slippage(uint256 got, uint256 limit);
    error NoPool(address a, address b);
    error NotOwner(address who);

    function _key(address a, address b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function reserves(address a, address b) public view returns (uint256 ra, uint256 rb) {
        Pool storage p = pools[_key(a, b)];
        (ra, rb) = a < b ? (p.r0, p.r1) : (p.r1, p.r0);
    }

    function _set(address a, address b, uint256 ra, uint256 rb) internal {
        Pool storage p = pools[_key(a, b)];
        (p.r0, p.r1) = a < b ? (ra, rb) : (rb, ra);
    }

    function addLiquidity(address a, address b, uint256 amtA, uint256 amtB) external {
        Pool storage p = pools[_key(a, b)];
        if (p.owner == address(0)) p.owner = msg.sender;
        if (p.owner != msg.sender) revert NotOwner(msg.sender);
        IERC20(a).transferFrom(msg.sender, address(this), amtA);
        IERC20(b).transferFrom(msg.sender, address(this), amtB);
        (uint256 ra, uint256 rb) = reserves(a, b);
        _set(a, b, ra + amtA, rb + amtB);
    }

    function removeLiquidity(address a, address b) external {
        Pool storage p = pools[_key(a, b)];
        if (p.owner != msg.sender) revert NotOwner(msg.sender);
        (uint256 ra, uint256 rb) = reserves(a, b);
        _set(a, b, 0, 0);
        p.owner = address(0);
        IERC20(a).transfer(msg.sender, ra);
        IERC20(b).transfer(msg.sender, rb);
    }

    function getAmountOut(address a, address b, uint256 amountIn) public view returns (uint256) {
        (uint256 ra, uint256 rb) = reserves(a, b);
        if (ra == 0 || rb == 0) revert NoPool(a, b);
        uint256 inFee = amountIn * 997;
        return inFee * rb / (ra * 1000 + inFee);
    }

    function getAmountIn(address a, address b, uint256 amountOut) public view returns (uint256) {
        (uint256 ra, uint256 rb) = reserves(a, b);
        if (ra == 0 || rb <= amountOut) revert NoPool(a, b);
        return ra * amountOut * 1000 / ((rb - amountOut) * 997) + 1;
    }

    function _hop(address a, address b, uint256 amountIn, uint256 amountOut) internal {
        (uint256 ra, uint256 rb) = reserves(a, b);
        _set(a, b, ra + amountIn, rb - amountOut);
    }

    /// @dev Swap along `tokens` with exact input; pulls from msg.sender, pays `to`.
    function _exactIn(address[] memory tokens, uint256 amountIn, uint256 minOut, address to)
        internal
        returns (uint256 amount)
    {
        IERC20(tokens[0]).transferFrom(msg.sender, address(this), amountIn);
        amount = amountIn;
        for (uint256 i; i + 1 < tokens.length; ++i) {
            uint256 out = getAmountOut(tokens[i], tokens[i + 1], amount);
            _hop(tokens[i], tokens[i + 1], amount, out);
            amount = out;
        }
        if (amount < minOut) revert Slippage(amount, minOut);
        IERC20(tokens[tokens.length - 1]).transfer(to, amount);
    }

    /// @dev Swap along `tokens` for an exact output; pulls at most `maxIn`.
    function _exactOut(address[] memory tokens, uint256 amountOut, uint256 maxIn, address to)
        internal
        returns (uint256 amountIn)
    {
        uint256 n = tokens.length;
        uint256[] memory amounts = new uint256[](n);
        amounts[n - 1] = amountOut;
        for (uint256 i = n - 1; i > 0; --i) {
            amounts[i - 1] = getAmountIn(tokens[i - 1], tokens[i], amounts[i]);
        }
        amountIn = amounts[0];
        if (amountIn > maxIn) revert Slippage(amountIn, maxIn);
        IERC20(tokens[0]).transferFrom(msg.sender, address(this), amountIn);
        for (uint256 i; i + 1 < n; ++i) {
            _hop(tokens[i], tokens[i + 1], amounts[i], amounts[i + 1]);
        }
        IERC20(tokens[n - 1]).transfer(to, amountOut);
    }

    function _pathTokens(bytes memory path, bool reverse) internal pure returns (address[] memory t) {
        uint256 n = (path.length - 20) / 23 + 1;
        t = new address[](n);
        for (uint256 i; i < n; ++i) {
            address a;
            uint256 off = 32 + 23 * i;
            assembly {
                a := shr(96, mload(add(path, off)))
            }
            t[reverse ? n - 1 - i : i] = a;
        }
    }

    function _pair(address a, address b) internal pure returns (address[] memory t) {
        t = new address[](2);
        (t[0], t[1]) = (a, b);
    }

    // ---------------------------------------------------------------- V2 Router02
    function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] calldata path, address to, uint256)
        external
        returns (uint256[] memory amounts)
    {
        amounts = new uint256[](1);
        amounts[0] = _exactIn(path, amountIn, amountOutMin, to);
    }

    function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] calldata path, address to, uint256)
        external
        returns (uint256[] memory amounts)
    {
        amounts = new uint256[](1);
        amounts[0] = _exactOut(path, amountOut, amountInMax, to);
    }

    // ---------------------------------------------------------------- V3 SwapRouter
    function exactInputSingle(ExactInputSingleParams calldata p) external payable returns (uint256) {
        return _exactIn(_pair(p.tokenIn, p.tokenOut), p.amountIn, p.amountOutMinimum, p.recipient);
    }

    function exactOutputSingle(ExactOutputSingleParams calldata p) external payable returns (uint256) {
        return _exactOut(_pair(p.tokenIn, p.tokenOut), p.amountOut, p.amountInMaximum, p.recipient);
    }

    function exactInput(ExactInputParams calldata p) external payable returns (uint256) {
        return _exactIn(_pathTokens(p.path, false), p.amountIn, p.amountOutMinimum, p.recipient);
    }

    function exactOutput(ExactOutputParams calldata p) external payable returns (uint256) {
        return _exactOut(_pathTokens(p.path, true), p.amountOut, p.amountInMaximum, p.recipient);
    }
}
