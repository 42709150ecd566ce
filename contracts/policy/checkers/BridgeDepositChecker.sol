// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CheckerBase} from "./CheckerBase.sol";
import {IPolicyChecker} from "../IPolicyChecker.sol";

interface IBridgeEscrowFee {
    function feeFor(uint256 amount) external view returns (uint256);
}

/// @title BridgeDepositChecker
/// @notice Credits a BridgeEscrow.deposit(token, recipient, amount) to the value guard: what leaves the Safe
///         arrives at the fund's own L2 Safe (the recipient is bound by an in_set condition of the same scope),
///         so only the bridge fee counts as a loss.
/// @dev Credit = value(token, amount - feeFor(amount)), the net amount the L2 side mints.
contract BridgeDepositChecker is CheckerBase {
    bytes4 internal constant DEPOSIT = 0x8340f549; // deposit(address,address,uint256)

    /// @inheritdoc IPolicyChecker
    function check(address, address to, uint256, bytes calldata data, uint96)
        external
        view
        override
        returns (uint8, bytes32, uint256)
    {
        if (_selector(data) != DEPOSIT) _deny(CHECK_FAILED, bytes32(bytes4(data[:4])));
        _expectLength(data, 4 + 32 * 3);
        address token = _addr(data, 0);
        _addr(data, 1);
        uint256 amount = _word(data, 2);
        uint256 fee = IBridgeEscrowFee(to).feeFor(amount);
        uint256 net = fee < amount ? amount - fee : 0;
        return (0, bytes32(0), _value(token, net));
    }
}
