// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CheckerBase} from "./CheckerBase.sol";
import {IPolicyChecker} from "../IPolicyChecker.sol";

/// @title SwapPriceChecker
/// @notice Bounds the price a swap accepts against the module's oracles: the limit the calldata sets
///         (amountOutMinimum for exact-in, amountInMaximum for exact-out) must be within `param`
///         (maxDeviationBps, low 16 bits) of the oracle price, priced end to end for multi-hop paths.
///         So a stolen operator key cannot swap into a pool it owns with amountOutMin = 1.
/// @dev Uniswap V2 Router02 swapExactTokensForTokens / swapTokensForExactTokens and V3 SwapRouter (deadline in
///      the struct) exactInputSingle / exactOutputSingle / exactInput / exactOutput. Stateless; credit 0.
contract SwapPriceChecker is CheckerBase {
    bytes4 internal constant V2_EXACT_IN = 0x38ed1739; // swapExactTokensForTokens(uint256,uint256,address[],address,uint256)
    bytes4 internal constant V2_EXACT_OUT = 0x8803dbee; // swapTokensForExactTokens(uint256,uint256,address[],address,uint256)
    bytes4 internal constant V3_IN_SINGLE = 0x414bf389; // exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))
    bytes4 internal constant V3_OUT_SINGLE = 0xdb3e2198; // exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))
    bytes4 internal constant V3_IN = 0xc04b8d59; // exactInput((bytes,address,uint256,uint256,uint256))
    bytes4 internal constant V3_OUT = 0xf28c0498; // exactOutput((bytes,address,uint256,uint256,uint256))

    /// @notice The swap a call describes, decoded canonically.
    struct Swap {
        address tokenIn;
        address tokenOut;
        uint256 amountIn; // exact (exact-in) or the maximum (exact-out)
        uint256 amountOut; // the minimum (exact-in) or exact (exact-out)
        bool exactIn;
    }

    /// @inheritdoc IPolicyChecker
    function check(address, address, uint256, bytes calldata data, uint96 param)
        external
        view
        override
        returns (uint8, bytes32, uint256)
    {
        uint256 dev = uint16(param);
        if (dev >= BPS) _deny(CHECK_FAILED, bytes32(dev));
        Swap memory s = decode(data);
        uint256 vin = _value(s.tokenIn, s.amountIn);
        uint256 vout = _value(s.tokenOut, s.amountOut);
        if (s.exactIn) {
            // The worst fill the call accepts is worth at least (1 - dev) of what it pays.
            if (vout * BPS < vin * (BPS - dev)) _deny(PRICE_OUT_OF_BOUNDS, bytes32(s.amountOut));
        } else {
            // The most it may pay is worth at most (1 + dev) of what it gets.
            if (vin * BPS > vout * (BPS + dev)) _deny(PRICE_OUT_OF_BOUNDS, bytes32(s.amountIn));
        }
        return (0, bytes32(0), 0);
    }

    /// @notice Decode a supported swap call; unknown selectors are CHECK_FAILED, non-canonical encodings MALFORMED.
    /// @param data Calldata, selector included.
    /// @return s The tokens and amounts that bound the swap.
    function decode(bytes calldata data) public pure returns (Swap memory s) {
        bytes4 sel = _selector(data);
        // Every word read below lies inside a length checked first, so reads use calldataload directly
        // (the checker runs on every swap: bounds-checked slices cost more than the swap's oracle reads).
        if (sel == V3_IN_SINGLE || sel == V3_OUT_SINGLE) {
            // (tokenIn, tokenOut, fee, recipient, deadline, amount, limit, sqrtPriceLimitX96), all inline
            _expectLength(data, 4 + 32 * 8);
            s.tokenIn = _addrAt(data, 0);
            s.tokenOut = _addrAt(data, 1);
            uint256 fee = _at(data, 2);
            if (fee >> 24 != 0) _deny(MALFORMED, bytes32(fee));
            _addrAt(data, 3);
            _addrAt(data, 7); // uint160 limit: same width check
            s.exactIn = sel == V3_IN_SINGLE;
            (s.amountIn, s.amountOut) = s.exactIn ? (_at(data, 5), _at(data, 6)) : (_at(data, 6), _at(data, 5));
        } else if (sel == V2_EXACT_IN || sel == V2_EXACT_OUT) {
            // (amount, amount, offset 0xa0, to, deadline) | length n | n addresses
            if (data.length < 4 + 32 * 6) _deny(MALFORMED, bytes32(data.length));
            if (_at(data, 2) != 0xa0) _deny(MALFORMED, bytes32(_at(data, 2)));
            _addrAt(data, 3);
            uint256 n = _at(data, 5);
            if (n < 2 || n > (data.length - 4) / 32) _deny(MALFORMED, bytes32(n));
            _expectLength(data, 4 + 32 * (6 + n));
            for (uint256 k; k < n; ++k) {
                _addrAt(data, 6 + k);
            }
            s.tokenIn = _addrAt(data, 6);
            s.tokenOut = _addrAt(data, 5 + n);
            s.exactIn = sel == V2_EXACT_IN;
            (s.amountIn, s.amountOut) = s.exactIn ? (_at(data, 0), _at(data, 1)) : (_at(data, 1), _at(data, 0));
        } else if (sel == V3_IN || sel == V3_OUT) {
            // offset 0x20 | (path offset 0xa0, recipient, deadline, amount, limit) | length L | path, zero-padded
            if (data.length < 4 + 32 * 7) _deny(MALFORMED, bytes32(data.length));
            if (_at(data, 0) != 0x20) _deny(MALFORMED, bytes32(_at(data, 0)));
            if (_at(data, 1) != 0xa0) _deny(MALFORMED, bytes32(_at(data, 1)));
            _addrAt(data, 2);
            uint256 len = _at(data, 6);
            if (len < 43 || (len - 20) % 23 != 0 || len > data.length) _deny(MALFORMED, bytes32(len));
            uint256 p0 = 4 + 32 * 7;
            _expectLength(data, p0 + ((len + 31) & ~uint256(31)));
            _expectZeroPadding(data, p0, len);
            address first = address(bytes20(data[p0:p0 + 20]));
            address last = address(bytes20(data[p0 + len - 20:p0 + len]));
            s.exactIn = sel == V3_IN;
            // exactOutput's path is reversed: it starts at the token bought.
            (s.tokenIn, s.tokenOut) = s.exactIn ? (first, last) : (last, first);
            (s.amountIn, s.amountOut) = s.exactIn ? (_at(data, 4), _at(data, 5)) : (_at(data, 5), _at(data, 4));
        } else {
            _deny(CHECK_FAILED, bytes32(sel));
        }
    }

    /// @dev ABI word `i` after the selector; the caller has checked that it lies inside `data`.
    function _at(bytes calldata data, uint256 i) internal pure returns (uint256 w) {
        assembly {
            w := calldataload(add(data.offset, add(4, shl(5, i))))
        }
    }

    /// @dev `_at` as an address; dirty high bits are MALFORMED.
    function _addrAt(bytes calldata data, uint256 i) internal pure returns (address) {
        uint256 w = _at(data, i);
        if (w >> 160 != 0) _deny(MALFORMED, bytes32(w));
        return address(uint160(w));
    }
}
