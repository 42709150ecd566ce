// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BridgedToken
/// @notice The L2 representation of one L1 ERC-20: minted and burned only by the L2 bridge.
contract BridgedToken is ERC20 {
    /// @notice A caller other than the bridge tried to mint or burn.
    error OnlyBridge(address caller, address bridge);

    /// @notice The L2 bridge, the only minter and burner.
    address public immutable bridge;
    /// @notice The L1 token this one represents.
    address public immutable l1Token;
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address l1Token_)
        ERC20(name_, symbol_)
    {
        bridge = msg.sender;
        l1Token = l1Token_;
        _decimals = decimals_;
    }

    modifier onlyBridge() {
        if (msg.sender != bridge) revert OnlyBridge(msg.sender, bridge);
        _;
    }

    /// @notice Same decimals as the L1 token, so base units are equal on both chains.
    /// @return The token's decimals.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint bridged tokens for a proven deposit.
    /// @param to Recipient.
    /// @param amount Base units.
    function mint(address to, uint256 amount) external onlyBridge {
        _mint(to, amount);
    }

    /// @notice Burn bridged tokens for a withdrawal; the bridge acts for the holder.
    /// @param from Holder.
    /// @param amount Base units.
    function burn(address from, uint256 amount) external onlyBridge {
        _burn(from, amount);
    }
}
