// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DevToken
/// @notice An ERC-20 for devnets with configurable decimals (USDC-like 6, WBTC-like 8, 18).
///         Only the deployer (the devnet's minter) can mint; nobody can mint on a real chain
///         unless they deployed the token themselves.
contract DevToken is ERC20 {
    /// @notice The only account allowed to mint.
    address public immutable minter;
    uint8 private immutable _decimals;

    /// @notice Thrown when anyone but the minter calls mint.
    /// @param caller The account that tried to mint.
    error NotMinter(address caller);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the base unit.
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        minter = msg.sender;
        _decimals = decimals_;
    }

    /// @notice Decimals of the base unit.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` base units to `to`. Minter only.
    /// @param to Recipient.
    /// @param amount Base units.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
