// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyChecker, IPolicyModule} from "../IPolicyChecker.sol";

/// @title CheckerBase
/// @notice Shared decoding for the module's checkers: strict, canonical ABI reads of the calldata a Safe is
///         about to send, and oracle values from the calling module.
/// @dev A checker refuses by reverting with the module's own `PolicyViolation(status, word)`; the module keeps
///      that status (a feed refusal bubbled from `valueE18` stays FEED_STALE, not CHECK_FAILED). Calldata that
///      a lenient decoder might read differently from the target's (dirty address bits, offsets that are not
///      where a canonical encoder puts them, trailing bytes, non-zero padding) is MALFORMED, so the checker
///      and the target always see the same values.
abstract contract CheckerBase is IPolicyChecker {
    error PolicyViolation(uint8 status, bytes32 word);

    uint8 internal constant MALFORMED = 15;
    uint8 internal constant PRICE_OUT_OF_BOUNDS = 18;
    uint8 internal constant COUNTERPARTY_NOT_ALLOWED = 22;
    uint8 internal constant SERIES_NOT_ALLOWED = 23;
    uint8 internal constant PREMIUM_OUT_OF_BOUNDS = 24;
    uint8 internal constant TAKER_NOT_SAFE = 25;
    uint8 internal constant CHECK_FAILED = 28;
    uint256 internal constant BPS = 1e4;

    function _deny(uint8 status, bytes32 word) internal pure {
        revert PolicyViolation(status, word);
    }

    function _selector(bytes calldata data) internal pure returns (bytes4 sel) {
        if (data.length < 4) _deny(CHECK_FAILED, bytes32(data.length));
        sel = bytes4(data[:4]);
    }

    /// @dev ABI word `i` after the selector (the caller has checked the length).
    function _word(bytes calldata data, uint256 i) internal pure returns (uint256) {
        return uint256(bytes32(data[4 + 32 * i:36 + 32 * i]));
    }

    /// @dev ABI word `i` as an address; dirty high bits are MALFORMED.
    function _addr(bytes calldata data, uint256 i) internal pure returns (address) {
        uint256 w = _word(data, i);
        if (w >> 160 != 0) _deny(MALFORMED, bytes32(w));
        return address(uint160(w));
    }

    /// @dev ABI word `i` must equal `want` (a canonical offset or a length the layout implies).
    function _expect(bytes calldata data, uint256 i, uint256 want) internal pure {
        uint256 w = _word(data, i);
        if (w != want) _deny(MALFORMED, bytes32(w));
    }

    /// @dev The calldata must end exactly where the canonical encoding ends.
    function _expectLength(bytes calldata data, uint256 want) internal pure {
        if (data.length != want) _deny(MALFORMED, bytes32(data.length));
    }

    /// @dev The padding after `len` bytes that start at `start` (up to the next word boundary) must be zero.
    function _expectZeroPadding(bytes calldata data, uint256 start, uint256 len) internal pure {
        uint256 end = start + ((len + 31) & ~uint256(31));
        for (uint256 p = start + len; p < end; ++p) {
            if (data[p] != 0) _deny(MALFORMED, bytes32(p));
        }
    }

    /// @dev Oracle value from the calling module; its refusals bubble as they are.
    function _value(address token, uint256 amount) internal view returns (uint256) {
        return IPolicyModule(msg.sender).valueE18(token, amount);
    }
}
