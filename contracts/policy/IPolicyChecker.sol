// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A stateless rule the PolicyModule staticcalls for an OP_CHECK condition.
interface IPolicyChecker {
    /// @notice Judge one call the Safe is about to make.
    /// @param safe The Safe that will make the call.
    /// @param to Call target.
    /// @param value Native value of the call.
    /// @param data Calldata of the call (selector included).
    /// @param param The condition's 96-bit parameter (checker-specific packing).
    /// @return status 0 = allow; otherwise a PolicyModule status code.
    /// @return word The offending word when denied.
    /// @return creditE18 USD*1e18 value the call acquires that the value guard cannot see.
    function check(address safe, address to, uint256 value, bytes calldata data, uint96 param)
        external
        view
        returns (uint8 status, bytes32 word, uint256 creditE18);
}

/// @notice What a checker may ask the module that calls it (msg.sender of `check`).
interface IPolicyModule {
    /// @notice Status-coded refusal, the module's only revert.
    error PolicyViolation(uint8 status, bytes32 word);

    /// @notice USD value * 1e18 of `amount` base units of `token` at the oracle price; reverts when denied.
    function valueE18(address token, uint256 amount) external view returns (uint256);

    /// @notice Whether `value` is in set `id`.
    function isMember(uint32 id, bytes32 value) external view returns (bool);

    /// @notice The oracle configured for `token` (feed 0 when none).
    function oracle(address token)
        external
        view
        returns (address feed, uint8 feedDecimals, uint8 tokenDecimals, uint32 maxAge);
}
