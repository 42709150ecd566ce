// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice The terms of one option series. Its id is `uint256(keccak256(abi.encode(series)))`.
/// @dev `strike` and `cap` are quote-asset base units per one whole unit of the underlying
///      (e.g. 3000e6 for a 3000 USDC strike on WETH). Option amounts are underlying base units.
struct Series {
    address underlying;
    address quoteAsset;
    address collateral; // quoteAsset (puts, capped calls) or underlying (calls)
    address feed; // AggregatorV3: underlying priced in the quote asset's unit
    uint128 strike;
    uint128 cap; // quote-collateralized calls pay at most cap - strike; zero otherwise
    uint64 expiry;
    bool isCall;
}

/// @title OptionMath
/// @notice Payoff and collateral arithmetic. Rounding always favours the pool: what a writer
///         owes or posts rounds up, what a holder receives rounds down, so the collateral held
///         for a series always covers what its holders can claim.
library OptionMath {
    /// @notice Collateral that fully covers `amount` options of `s` (the maximum payoff), rounded up.
    function maxPayoff(Series memory s, uint256 unit, uint256 amount) internal pure returns (uint256) {
        if (s.collateral == s.underlying) return amount; // a call pays at most the underlying itself
        uint256 perUnit = s.isCall ? uint256(s.cap) - s.strike : s.strike;
        return Math.mulDiv(perUnit, amount, unit, Math.Rounding.Ceil);
    }

    /// @notice Payoff of `amount` options at settlement price `price`, in the collateral asset.
    /// @param roundUp True for what a writer owes, false for what a holder receives.
    function payoff(Series memory s, uint256 unit, uint256 price, uint256 amount, bool roundUp)
        internal
        pure
        returns (uint256)
    {
        Math.Rounding r = roundUp ? Math.Rounding.Ceil : Math.Rounding.Floor;
        if (s.isCall) {
            if (price <= s.strike) return 0;
            if (s.collateral == s.underlying) return Math.mulDiv(price - s.strike, amount, price, r);
            uint256 top = price < s.cap ? price : s.cap;
            return Math.mulDiv(top - s.strike, amount, unit, r);
        }
        if (price >= s.strike) return 0;
        return Math.mulDiv(s.strike - price, amount, unit, r);
    }
}
