// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {CheckerBase} from "./CheckerBase.sol";
import {IPolicyChecker, IPolicyModule} from "../IPolicyChecker.sol";

import {OptionsMarket} from "../../options/OptionsMarket.sol";
import {Series} from "../../options/OptionMath.sol";

/// @title OptionsFillChecker
/// @notice Judges OptionsMarket.fillQuotes: every quote's maker is one of the fund's market makers, its taker
///         is the Safe, its series uses approved assets, the module's oracle feed and an expiry in range, and
///         its premium is bounded by the oracle: a buy pays at most intrinsic + maxTimeValueBps of spot (and
///         never more than the option can pay out), a sell receives at least intrinsic.
/// @dev param: bits 0-31 counterparty set id, 32-63 option asset set id, 64-79 maxTimeValueBps,
///      80-87 min days to expiry, 88-95 max days to expiry (0 = no max).
///      Credit (USD * 1e18, for the value guard, which cannot see option positions): a buy credits the
///      premium paid, a sell the collateral posted minus the premium received.
contract OptionsFillChecker is CheckerBase {
    bytes4 internal constant FILL_QUOTES = OptionsMarket.fillQuotes.selector;
    uint256 internal constant ORDER_HEAD = 10 * 32; // Quote (8 words) | signature offset | amount
    uint256 internal constant SIDE_MAKER_SELLS = 1;

    /// @notice The policy's terms, unpacked from the condition parameter.
    struct Terms {
        uint32 counterparties;
        uint32 assets;
        uint16 maxTimeValueBps;
        uint8 minDays;
        uint8 maxDays;
    }

    /// @notice One order, decoded canonically (the signature is left to the market).
    struct Fill {
        address maker;
        address taker;
        uint256 seriesId;
        uint256 side;
        uint256 price;
        uint256 amount;
    }

    /// @inheritdoc IPolicyChecker
    function check(address safe, address to, uint256, bytes calldata data, uint96 param)
        external
        view
        override
        returns (uint8, bytes32, uint256 credit)
    {
        Terms memory t = Terms(
            uint32(param), uint32(param >> 32), uint16(param >> 64), uint8(param >> 80), uint8(param >> 88)
        );
        Fill[] memory fills = decode(data);
        for (uint256 i; i < fills.length; ++i) {
            credit += _checkFill(safe, OptionsMarket(to), t, fills[i]);
        }
        return (0, bytes32(0), credit);
    }

    /// @notice Decode `fillQuotes(Order[])` calldata, refusing any encoding but the canonical one.
    /// @dev Layout: offset 0x20 | n | n order offsets (relative to the first offset word) | orders, each
    ///      Quote (8 words) | 0x140 | amount | signature length | signature, zero-padded. Every offset must be
    ///      where a canonical encoder puts it and the data must end where the last signature ends, so the
    ///      market's decoder cannot see an order this one did not.
    /// @param data Calldata, selector included.
    /// @return fills The orders.
    function decode(bytes calldata data) public pure returns (Fill[] memory fills) {
        if (_selector(data) != FILL_QUOTES) _deny(CHECK_FAILED, bytes32(bytes4(data[:4])));
        if (data.length < 4 + 64) _deny(MALFORMED, bytes32(data.length));
        _expect(data, 0, 0x20);
        uint256 n = _word(data, 1);
        uint256 base = 4 + 64; // where the order offsets start, and what they are relative to
        if (n == 0 || n > (data.length - base) / (32 + ORDER_HEAD + 32)) _deny(MALFORMED, bytes32(n));
        fills = new Fill[](n);
        uint256 next = 32 * n; // canonical offset of the first order
        for (uint256 k; k < n; ++k) {
            _expect(data, 2 + k, next);
            uint256 p = base + next; // byte position of order k
            if (p + ORDER_HEAD + 32 > data.length) _deny(MALFORMED, bytes32(p));
            uint256 w = (p - 4) / 32; // its first word index (p - 4 is a multiple of 32)
            Fill memory f = fills[k];
            f.maker = _addr(data, w);
            f.taker = _addr(data, w + 1);
            f.seriesId = _word(data, w + 2);
            f.side = _word(data, w + 3);
            if (f.side > SIDE_MAKER_SELLS) _deny(MALFORMED, bytes32(f.side));
            f.price = _word(data, w + 4);
            if (_word(data, w + 6) >> 64 != 0) _deny(MALFORMED, bytes32(_word(data, w + 6))); // uint64 expiry
            _expect(data, w + 8, ORDER_HEAD);
            f.amount = _word(data, w + 9);
            uint256 sigLen = _word(data, w + 10);
            uint256 sig = p + ORDER_HEAD + 32;
            if (sigLen > data.length - sig) _deny(MALFORMED, bytes32(sigLen));
            _expectZeroPadding(data, sig, sigLen);
            next += ORDER_HEAD + 32 + ((sigLen + 31) & ~uint256(31));
        }
        _expectLength(data, base + next);
    }

    function _checkFill(address safe, OptionsMarket market, Terms memory t, Fill memory f)
        internal
        view
        returns (uint256 credit)
    {
        IPolicyModule m = IPolicyModule(msg.sender);
        if (!m.isMember(t.counterparties, bytes32(uint256(uint160(f.maker))))) {
            _deny(COUNTERPARTY_NOT_ALLOWED, bytes32(uint256(uint160(f.maker))));
        }
        if (f.taker != safe) _deny(TAKER_NOT_SAFE, bytes32(uint256(uint160(f.taker))));
        OptionsMarket.SeriesState memory st = market.series(f.seriesId);
        _checkSeries(m, t, st, f.seriesId);
        Series memory s = st.terms;
        uint256 spot = _spot(m, s, st.unit);
        (uint256 intrinsic, uint256 maxPerUnit) = _bounds(s, spot);
        uint256 received = _value(s.quoteAsset, Math.mulDiv(f.price, f.amount, st.unit, Math.Rounding.Ceil));
        if (f.side == SIDE_MAKER_SELLS) {
            // The Safe buys: at most intrinsic plus the allowed time value, never more than the payoff can be.
            if (f.price > Math.min(intrinsic + spot * t.maxTimeValueBps / BPS, maxPerUnit)) {
                _deny(PREMIUM_OUT_OF_BOUNDS, bytes32(f.price));
            }
            return received; // the premium paid, here
        }
        // The Safe writes: it receives at least what the option is worth if exercised now.
        if (f.price < intrinsic) _deny(PREMIUM_OUT_OF_BOUNDS, bytes32(f.price));
        uint256 posted = _value(s.collateral, market.collateralFor(f.seriesId, f.amount));
        credit = posted > received ? posted - received : 0;
    }

    /// @dev Spot in quote base units per whole underlying, from the module's oracles.
    function _spot(IPolicyModule m, Series memory s, uint256 unit) internal view returns (uint256) {
        (,, uint8 qDec,) = m.oracle(s.quoteAsset);
        uint256 qUnit = 10 ** qDec;
        return Math.mulDiv(_value(s.underlying, unit), qUnit, _value(s.quoteAsset, qUnit));
    }

    function _checkSeries(IPolicyModule m, Terms memory t, OptionsMarket.SeriesState memory st, uint256 id)
        internal
        view
    {
        Series memory s = st.terms;
        bool ok = st.unit != 0 && !st.settled && m.isMember(t.assets, bytes32(uint256(uint160(s.underlying))))
            && m.isMember(t.assets, bytes32(uint256(uint160(s.quoteAsset))));
        if (ok) {
            (address feed,,,) = m.oracle(s.underlying);
            ok = feed != address(0) && feed == s.feed && s.expiry >= block.timestamp + uint256(t.minDays) * 1 days
                && (t.maxDays == 0 || s.expiry <= block.timestamp + uint256(t.maxDays) * 1 days);
        }
        if (!ok) _deny(SERIES_NOT_ALLOWED, bytes32(id));
    }

    /// @dev Intrinsic value and largest payoff per whole underlying, in quote base units, at `spot`.
    function _bounds(Series memory s, uint256 spot) internal pure returns (uint256 intrinsic, uint256 maxPerUnit) {
        if (s.isCall) {
            bool physical = s.collateral == s.underlying;
            uint256 top = physical ? spot : Math.min(spot, s.cap);
            intrinsic = top > s.strike ? top - s.strike : 0;
            // A call settled in the underlying pays at most one underlying: worth spot today.
            maxPerUnit = physical ? spot : uint256(s.cap) - s.strike;
        } else {
            intrinsic = spot < s.strike ? s.strike - spot : 0;
            maxPerUnit = s.strike;
        }
    }
}
