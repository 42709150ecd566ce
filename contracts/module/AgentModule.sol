// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The subset of Safe 1.4.1 this module calls.
interface ISafeModuleTarget {
    /// @dev operation: 0 = call, 1 = delegatecall.
    function execTransactionFromModule(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        returns (bool success);
}

/// @title AgentModule: the first, small agent module of a Safe.
/// @notice One operator key may make the Safe call allowlisted (target, selector) pairs, alone or
///         as a batch through MultiSendCallOnly (delegatecall to that one contract only, every inner
///         call checked against the same allowlist). The allowlist and the operator are set by the
///         Safe itself, i.e. only with the owners' k-of-n signatures.
/// @dev WHAT THIS MODULE DOES NOT CHECK YET (the policy module replaces it): call parameters
///      (a swap's recipient, amounts, approval spenders and sizes), native value caps, per-token
///      spending allowances, time windows, pausing by a guardian. An operator key can therefore
///      do anything an allowlisted function allows, e.g. swap the Safe's tokens to another
///      recipient. Allowlist only functions whose every parameter is safe for any value.
contract AgentModule {
    /// @notice The Safe this module acts for.
    address public immutable safe;
    /// @notice The only contract the module will delegatecall (Safe's MultiSendCallOnly).
    address public immutable multiSendCallOnly;
    /// @notice The key allowed to execute.
    address public operator;
    /// @notice allowed[target][selector]
    mapping(address => mapping(bytes4 => bool)) public allowed;

    /// @notice Why a call was refused. One error, so every refusal has the same shape.
    /// @param status 1 = caller is not the operator, 2 = target/selector not allowed,
    ///        3 = malformed batch, 4 = caller is not the Safe, 5 = the Safe's call failed,
    ///        6 = calldata shorter than a selector.
    /// @param offending The offending word (caller, target, or selector, left-aligned).
    error Refused(uint8 status, bytes32 offending);

    /// @notice Emitted for every execution through the module.
    event Executed(address indexed target, bytes4 indexed selector, uint256 value, bool batch);
    /// @notice Emitted when the Safe changes the allowlist.
    event AllowedSet(address indexed target, bytes4 indexed selector, bool allowed);
    /// @notice Emitted when the Safe changes the operator.
    event OperatorSet(address indexed operator);

    /// @param safe_ The Safe (its owners configure this module through Safe transactions).
    /// @param operator_ The agent's operator key.
    /// @param multiSendCallOnly_ The Safe MultiSendCallOnly deployment used for batches.
    constructor(address safe_, address operator_, address multiSendCallOnly_) {
        safe = safe_;
        operator = operator_;
        multiSendCallOnly = multiSendCallOnly_;
        emit OperatorSet(operator_);
    }

    /// @notice Allow or disallow `selector` on `target`. Callable only by the Safe.
    function setAllowed(address target, bytes4 selector, bool isAllowed) external {
        _require(msg.sender == safe, 4, bytes32(uint256(uint160(msg.sender))));
        allowed[target][selector] = isAllowed;
        emit AllowedSet(target, selector, isAllowed);
    }

    /// @notice Replace the operator key. Callable only by the Safe.
    function setOperator(address operator_) external {
        _require(msg.sender == safe, 4, bytes32(uint256(uint160(msg.sender))));
        operator = operator_;
        emit OperatorSet(operator_);
    }

    /// @notice Make the Safe call `target` with `data` and `value`. Operator only.
    /// @param target Contract to call (must be allowlisted with data's selector).
    /// @param value Native value sent by the Safe.
    /// @param data Calldata (the first 4 bytes are the selector checked against the allowlist).
    function exec(address target, uint256 value, bytes calldata data) external {
        _require(msg.sender == operator, 1, bytes32(uint256(uint160(msg.sender))));
        bytes4 sel = _checkCall(target, data);
        bool ok = ISafeModuleTarget(safe).execTransactionFromModule(target, value, data, 0);
        _require(ok, 5, bytes32(sel));
        emit Executed(target, sel, value, false);
    }

    /// @notice Execute a MultiSendCallOnly batch as the Safe (all or nothing). Operator only.
    /// @param transactions The packed batch: for each call uint8 operation (must be 0),
    ///        address to, uint256 value, uint256 dataLength, bytes data.
    function execBatch(bytes calldata transactions) external {
        _require(msg.sender == operator, 1, bytes32(uint256(uint160(msg.sender))));
        uint256 i = 0;
        uint256 n = transactions.length;
        while (i < n) {
            _require(i + 85 <= n, 3, bytes32(i));
            _require(uint8(transactions[i]) == 0, 3, bytes32(i));
            address to = address(bytes20(transactions[i + 1:i + 21]));
            uint256 len = uint256(bytes32(transactions[i + 53:i + 85]));
            _require(len <= n - i - 85, 3, bytes32(i));
            bytes4 sel = _checkCall(to, transactions[i + 85:i + 85 + len]);
            emit Executed(to, sel, uint256(bytes32(transactions[i + 21:i + 53])), true);
            i += 85 + len;
        }
        bytes memory payload = abi.encodeWithSignature("multiSend(bytes)", transactions);
        bool ok = ISafeModuleTarget(safe).execTransactionFromModule(multiSendCallOnly, 0, payload, 1);
        _require(ok, 5, bytes32(0));
    }

    function _checkCall(address target, bytes calldata data) private view returns (bytes4 sel) {
        _require(data.length >= 4, 6, bytes32(uint256(uint160(target))));
        sel = bytes4(data[:4]);
        _require(allowed[target][sel], 2, bytes32(uint256(uint160(target))) | bytes32(sel));
    }

    /// @dev The one revert site.
    function _require(bool cond, uint8 status, bytes32 offending) private pure {
        if (!cond) revert Refused(status, offending);
    }
}
