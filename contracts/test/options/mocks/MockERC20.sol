// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Freely mintable ERC-20 with configurable decimals, for the options tests only.
contract MockERC20 is ERC20 {
    uint8 internal immutable _dec;

    constructor(string memory name_, uint8 decimals_) ERC20(name_, name_) {
        _dec = decimals_;
    }

    /// @notice Mint `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Token decimals.
    function decimals() public view override returns (uint8) {
        return _dec;
    }
}
