// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The subset of Safe 1.4.1 the module calls.
interface ISafeMinimal {
    function execTransactionFromModule(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        returns (bool success);

    function isOwner(address owner) external view returns (bool);
}

/// @title PolicyModule
/// @notice A Safe module, in the spirit of Zodiac Roles v2, that lets operator keys execute only what the
///         Safe's owners allowed: target + selector scopes per role, parameter conditions on static ABI
///         words, native value caps, per-token allowances with a refill period, and delegatecall only to
///         MultiSendCallOnly (each call in the batch checked as if sent alone).
/// @dev The configuration is written by agent/policy's compiler from the same TOML document the off-chain
///      evaluator enforces. Every refusal goes through `_deny`, the one revert site, which carries a status
///      code and the offending word so the off-chain side can map it back to the rule that fired.
///      Hot path: one SLOAD for the operator's role, one for the scope, two per condition; no loops over rules.
contract PolicyModule {
    // ---------------------------------------------------------------- status codes (stable, mirrored in Python)
    uint8 internal constant NOT_OPERATOR = 1;
    uint8 internal constant PAUSED = 2;
    uint8 internal constant UNAUTHORIZED = 3;
    uint8 internal constant DELEGATECALL_NOT_ALLOWED = 4;
    uint8 internal constant FUNCTION_NOT_ALLOWED = 5;
    uint8 internal constant VALUE_TOO_HIGH = 6;
    uint8 internal constant CALLDATA_TOO_SHORT = 7;
    uint8 internal constant PARAM_NOT_EQUAL = 8;
    uint8 internal constant PARAM_TOO_HIGH = 9;
    uint8 internal constant PARAM_TOO_LOW = 10;
    uint8 internal constant PARAM_NOT_SAFE = 11;
    uint8 internal constant PARAM_NOT_IN_SET = 12;
    uint8 internal constant ALLOWANCE_EXCEEDED = 13;
    uint8 internal constant PATH_NOT_IN_SET = 14;
    uint8 internal constant MALFORMED = 15;
    uint8 internal constant EXECUTION_FAILED = 16;
    uint8 internal constant INVALID_CONFIG = 17;

    // ---------------------------------------------------------------- condition operators
    uint8 internal constant OP_EQ = 1; // word == value
    uint8 internal constant OP_LE = 2; // uint(word) <= value
    uint8 internal constant OP_GE = 3; // uint(word) >= value
    uint8 internal constant OP_IS_SAFE = 4; // word == the Safe's address
    uint8 internal constant OP_IN_SET = 5; // word is a member of set `aux`
    uint8 internal constant OP_ALLOWANCE = 6; // uint(word) is spent from allowance `aux`
    uint8 internal constant OP_ARRAY_IN_SET = 7; // word is the length of an address[]; every element in set `aux`
    uint8 internal constant OP_PATH_IN_SET = 8; // word is the length of a Uniswap V3 path; every token in set `aux`
    uint8 internal constant MAX_OP = 8;

    uint8 internal constant CALL = 0;
    uint8 internal constant DELEGATECALL = 1;
    uint256 internal constant MAX_CONDITIONS = 32;
    bytes4 internal constant MULTISEND_SELECTOR = 0x8d80ff0a; // multiSend(bytes)

    /// @notice One parameter condition. `word` indexes the 32-byte ABI word after the selector; nested static
    ///         tuples are inlined by the ABI so their fields are plain word indexes too.
    struct Condition {
        uint8 op;
        uint16 word;
        uint32 aux; // set id or allowance id
        uint256 value; // comparison operand (EQ/LE/GE)
    }

    /// @dev Slot 0 is all the hot path reads; slot 1 only serves read-back.
    struct Scope {
        bool allowed;
        uint8 nConds;
        uint96 maxValue;
        uint16 role;
        bytes4 selector;
        address target;
    }

    /// @dev Fixed windows: at each period boundary the balance is restored to the cap. One slot.
    struct Allowance {
        uint96 balance;
        uint96 cap;
        uint32 period;
        uint32 lastRefill;
    }

    /// @notice Every refusal, with a status code above and the word that caused it.
    error PolicyViolation(uint8 status, bytes32 word);

    event Executed(address indexed operator, uint16 indexed role, address indexed to, uint256 value, uint8 operation, bytes4 selector);
    event AllowanceSpent(uint32 indexed id, uint256 amount, uint256 balance);
    event OperatorSet(address indexed operator, uint16 role);
    event ScopeSet(bytes32 indexed key, uint16 indexed role, address indexed target, bytes4 selector, uint96 maxValue, uint8 nConds);
    event ScopeRemoved(bytes32 indexed key, uint16 indexed role, address indexed target, bytes4 selector);
    event SetUpdated(uint32 indexed id, uint256 size);
    event AllowanceSet(uint32 indexed id, uint96 cap, uint32 period, uint96 balance);
    event GuardianSet(address guardian);
    event MultiSendSet(address multiSend);
    event PausedSet(address indexed by, bool paused);

    /// @notice The Safe this module serves; the only address that may change the configuration.
    address public immutable safe;
    /// @notice The only delegatecall target (Safe's MultiSendCallOnly).
    address public multiSend;
    /// @notice May pause (not unpause) in addition to the Safe's owners.
    address public guardian;
    /// @notice Kill switch: while true nothing executes.
    bool public paused;

    /// @notice Role of each operator; 0 means "not an operator".
    mapping(address => uint16) public roleOf;
    mapping(bytes32 => Scope) internal _scopes;
    mapping(bytes32 => mapping(uint256 => Condition)) internal _conds;
    mapping(bytes32 => bool) internal _member; // keccak(setId, word)
    /// @notice Allowance state by id.
    mapping(uint32 => Allowance) public allowances;

    // Enumeration for read-back and diffs; never touched on the hot path.
    address[] internal _operators;
    bytes32[] internal _scopeKeys;
    uint32[] internal _setIds;
    mapping(uint32 => bytes32[]) internal _setValues;
    uint32[] internal _allowanceIds;
    mapping(bytes32 => uint256) internal _pos; // 1-based position in the list its key lives in

    /// @param safe_ The Safe (avatar) to serve.
    /// @param multiSend_ The MultiSendCallOnly deployment, the one permitted delegatecall target.
    constructor(address safe_, address multiSend_) {
        safe = safe_;
        multiSend = multiSend_;
    }

    modifier onlySafe() {
        if (msg.sender != safe) _deny(UNAUTHORIZED, bytes32(uint256(uint160(msg.sender))));
        _;
    }

    // ============================================================== execution

    /// @notice Execute a call (or a MultiSendCallOnly batch) from the Safe, if the caller's role allows it.
    /// @param to Target; for operation 1 it must be the configured MultiSendCallOnly.
    /// @param value Native value sent with the call.
    /// @param data Calldata; for a batch, `multiSend(bytes)` whose inner calls are each checked.
    /// @param operation 0 = call, 1 = delegatecall (MultiSendCallOnly only).
    /// @return success Always true; any failure reverts through `PolicyViolation`.
    function execute(address to, uint256 value, bytes calldata data, uint8 operation) external returns (bool success) {
        uint16 role = roleOf[msg.sender];
        if (role == 0) _deny(NOT_OPERATOR, bytes32(uint256(uint160(msg.sender))));
        if (paused) _deny(PAUSED, bytes32(0));
        if (operation == CALL) {
            _check(role, to, value, data);
        } else if (operation == DELEGATECALL && to == multiSend && to != address(0)) {
            if (value != 0) _deny(VALUE_TOO_HIGH, bytes32(value));
            _checkBatch(role, data);
        } else {
            _deny(DELEGATECALL_NOT_ALLOWED, bytes32(uint256(uint160(to))));
        }
        if (!ISafeMinimal(safe).execTransactionFromModule(to, value, data, operation)) {
            _deny(EXECUTION_FAILED, bytes32(uint256(uint160(to))));
        }
        emit Executed(msg.sender, role, to, value, operation, data.length >= 4 ? bytes4(data[:4]) : bytes4(0));
        return true;
    }

    /// @dev MultiSend packing: operation (1) | to (20) | value (32) | dataLength (32) | data, repeated.
    function _checkBatch(uint16 role, bytes calldata data) internal {
        if (data.length < 68 || bytes4(data[:4]) != MULTISEND_SELECTOR) _deny(MALFORMED, bytes32(0));
        uint256 off = uint256(bytes32(data[4:36]));
        // The encoded bytes must sit where a canonical encoder puts them, so every decoder sees the same batch.
        if (off != 32) _deny(MALFORMED, bytes32(off));
        uint256 len = uint256(bytes32(data[36:68]));
        if (len > data.length - 68) _deny(MALFORMED, bytes32(len));
        bytes calldata txs = data[68:68 + len];
        uint256 i;
        while (i < len) {
            if (len - i < 85) _deny(MALFORMED, bytes32(i));
            uint8 op = uint8(txs[i]);
            address to = address(bytes20(txs[i + 1:i + 21]));
            uint256 value = uint256(bytes32(txs[i + 21:i + 53]));
            uint256 dlen = uint256(bytes32(txs[i + 53:i + 85]));
            if (dlen > len - i - 85) _deny(MALFORMED, bytes32(dlen));
            if (op != CALL) _deny(DELEGATECALL_NOT_ALLOWED, bytes32(uint256(uint160(to))));
            _check(role, to, value, txs[i + 85:i + 85 + dlen]);
            i += 85 + dlen;
        }
    }

    function _check(uint16 role, address to, uint256 value, bytes calldata data) internal {
        // The module is never a target: through it the Safe could be made to reconfigure its own guard.
        if (to == address(this)) _deny(FUNCTION_NOT_ALLOWED, bytes32(bytes20(to)));
        bytes4 selector;
        if (data.length >= 4) selector = bytes4(data[:4]);
        else if (data.length != 0) _deny(CALLDATA_TOO_SHORT, bytes32(data.length));
        bytes32 key = scopeKey(role, to, selector);
        Scope storage s = _scopes[key];
        if (!s.allowed) _deny(FUNCTION_NOT_ALLOWED, bytes32(bytes20(to)) | (bytes32(selector) >> 160));
        if (value > s.maxValue) _deny(VALUE_TOO_HIGH, bytes32(value));
        uint256 n = s.nConds;
        for (uint256 i; i < n; ++i) {
            _checkCondition(_conds[key][i], data);
        }
    }

    function _checkCondition(Condition storage c, bytes calldata data) internal {
        uint8 op = c.op;
        uint256 w = c.word;
        uint256 end = 36 + 32 * w;
        if (data.length < end) _deny(CALLDATA_TOO_SHORT, bytes32(w));
        bytes32 word = bytes32(data[end - 32:end]);
        if (op == OP_EQ) {
            if (word != bytes32(c.value)) _deny(PARAM_NOT_EQUAL, word);
        } else if (op == OP_IS_SAFE) {
            if (word != bytes32(uint256(uint160(safe)))) _deny(PARAM_NOT_SAFE, word);
        } else if (op == OP_LE) {
            if (uint256(word) > c.value) _deny(PARAM_TOO_HIGH, word);
        } else if (op == OP_GE) {
            if (uint256(word) < c.value) _deny(PARAM_TOO_LOW, word);
        } else if (op == OP_IN_SET) {
            if (!_member[_memberKey(c.aux, word)]) _deny(PARAM_NOT_IN_SET, word);
        } else if (op == OP_ALLOWANCE) {
            _spend(c.aux, uint256(word));
        } else if (op == OP_ARRAY_IN_SET) {
            _checkArray(c.aux, data, end, uint256(word));
        } else {
            _checkPath(c.aux, data, end, uint256(word));
        }
    }

    /// @dev address[] whose length word ends at `end`; elements follow as words.
    function _checkArray(uint32 setId, bytes calldata data, uint256 end, uint256 n) internal view {
        if (n == 0 || n > (data.length - end) / 32) _deny(MALFORMED, bytes32(n));
        for (uint256 k; k < n; ++k) {
            bytes32 el = bytes32(data[end + 32 * k:end + 32 * k + 32]);
            if (!_member[_memberKey(setId, el)]) _deny(PATH_NOT_IN_SET, el);
        }
    }

    /// @dev Uniswap V3 path: token (20) | fee (3) | token (20) ... ; bytes start right after the length word.
    function _checkPath(uint32 setId, bytes calldata data, uint256 end, uint256 len) internal view {
        if (len < 43 || (len - 20) % 23 != 0 || len > data.length - end) _deny(MALFORMED, bytes32(len));
        for (uint256 p; p <= len - 20; p += 23) {
            bytes32 el = bytes32(uint256(uint160(bytes20(data[end + p:end + p + 20]))));
            if (!_member[_memberKey(setId, el)]) _deny(PATH_NOT_IN_SET, el);
        }
    }

    function _spend(uint32 id, uint256 amount) internal {
        Allowance memory a = _refilled(allowances[id]);
        if (amount > a.balance) _deny(ALLOWANCE_EXCEEDED, bytes32(amount));
        a.balance -= uint96(amount);
        allowances[id] = a;
        emit AllowanceSpent(id, amount, a.balance);
    }

    function _refilled(Allowance memory a) internal view returns (Allowance memory) {
        if (a.period != 0 && block.timestamp >= uint256(a.lastRefill) + a.period) {
            uint256 windows = (block.timestamp - a.lastRefill) / a.period;
            a.lastRefill = uint32(a.lastRefill + windows * a.period);
            a.balance = a.cap;
        }
        return a;
    }

    /// @dev The one revert site.
    function _deny(uint8 status, bytes32 word) internal pure {
        revert PolicyViolation(status, word);
    }

    // ============================================================== configuration (only the Safe)

    /// @notice Give `operator` a role, or remove it with role 0.
    /// @param operator The agent key (EOA or contract) that will call `execute`.
    /// @param role Role id, 0 to revoke.
    function setOperator(address operator, uint16 role) external onlySafe {
        bytes32 pk = keccak256(abi.encodePacked(uint8(1), operator));
        if (role == 0) {
            if (_pos[pk] != 0) _removeAddress(_operators, pk);
        } else if (_pos[pk] == 0) {
            _operators.push(operator);
            _pos[pk] = _operators.length;
        }
        roleOf[operator] = role;
        emit OperatorSet(operator, role);
    }

    /// @notice Allow `role` to call `selector` on `target`, replacing any previous scope and its conditions.
    /// @param role Role id (non-zero).
    /// @param target Contract (or EOA for selector 0, a plain value transfer) to allow.
    /// @param selector Function selector; 0 for calls with empty calldata.
    /// @param maxValue Native value cap per call.
    /// @param conditions Parameter conditions, all of which must hold.
    function setScope(uint16 role, address target, bytes4 selector, uint96 maxValue, Condition[] calldata conditions)
        external
        onlySafe
    {
        if (role == 0 || target == address(this) || conditions.length > MAX_CONDITIONS) {
            _deny(INVALID_CONFIG, bytes32(bytes20(target)));
        }
        bytes32 key = scopeKey(role, target, selector);
        for (uint256 i; i < conditions.length; ++i) {
            Condition calldata c = conditions[i];
            if (c.op == 0 || c.op > MAX_OP) _deny(INVALID_CONFIG, bytes32(uint256(c.op)));
            _conds[key][i] = c;
        }
        _scopes[key] = Scope(true, uint8(conditions.length), maxValue, role, selector, target);
        if (_pos[key] == 0) {
            _scopeKeys.push(key);
            _pos[key] = _scopeKeys.length;
        }
        emit ScopeSet(key, role, target, selector, maxValue, uint8(conditions.length));
    }

    /// @notice Revoke a scope.
    /// @param role Role id.
    /// @param target Target of the scope.
    /// @param selector Selector of the scope.
    function removeScope(uint16 role, address target, bytes4 selector) external onlySafe {
        bytes32 key = scopeKey(role, target, selector);
        if (_pos[key] == 0) _deny(INVALID_CONFIG, key);
        delete _scopes[key];
        uint256 last = _scopeKeys.length - 1;
        uint256 i = _pos[key] - 1;
        bytes32 moved = _scopeKeys[last];
        _scopeKeys[i] = moved;
        _pos[moved] = i + 1;
        _scopeKeys.pop();
        delete _pos[key];
        emit ScopeRemoved(key, role, target, selector);
    }

    /// @notice Replace the members of set `id` (addresses are left-padded words).
    /// @param id Set id referenced by IN_SET / ARRAY_IN_SET / PATH_IN_SET conditions.
    /// @param values The new members; an empty list empties the set.
    function setSet(uint32 id, bytes32[] calldata values) external onlySafe {
        bytes32[] storage old = _setValues[id];
        for (uint256 i; i < old.length; ++i) {
            delete _member[_memberKey(id, old[i])];
        }
        delete _setValues[id];
        for (uint256 i; i < values.length; ++i) {
            _member[_memberKey(id, values[i])] = true;
            _setValues[id].push(values[i]);
        }
        bytes32 pk = keccak256(abi.encodePacked(uint8(2), id));
        if (_pos[pk] == 0) {
            _setIds.push(id);
            _pos[pk] = _setIds.length;
        }
        emit SetUpdated(id, values.length);
    }

    /// @notice Create or reset an allowance; the refill window starts now.
    /// @param id Allowance id referenced by ALLOWANCE conditions.
    /// @param cap Balance restored at each period boundary (base units of the token).
    /// @param period Window length in seconds; 0 = never refills.
    /// @param balance Balance available right now (at most `cap`).
    function setAllowance(uint32 id, uint96 cap, uint32 period, uint96 balance) external onlySafe {
        if (balance > cap) _deny(INVALID_CONFIG, bytes32(uint256(balance)));
        allowances[id] = Allowance(balance, cap, period, uint32(block.timestamp));
        bytes32 pk = keccak256(abi.encodePacked(uint8(3), id));
        if (_pos[pk] == 0) {
            _allowanceIds.push(id);
            _pos[pk] = _allowanceIds.length;
        }
        emit AllowanceSet(id, cap, period, balance);
    }

    /// @notice Set the guardian, who may pause.
    /// @param guardian_ New guardian, or 0 for none.
    function setGuardian(address guardian_) external onlySafe {
        guardian = guardian_;
        emit GuardianSet(guardian_);
    }

    /// @notice Set the one permitted delegatecall target.
    /// @param multiSend_ MultiSendCallOnly deployment, or 0 to forbid batches.
    function setMultiSend(address multiSend_) external onlySafe {
        multiSend = multiSend_;
        emit MultiSendSet(multiSend_);
    }

    /// @notice Kill switch: the Safe, any of its owners or the guardian may pause.
    function pause() external {
        if (msg.sender != safe && msg.sender != guardian && !ISafeMinimal(safe).isOwner(msg.sender)) {
            _deny(UNAUTHORIZED, bytes32(uint256(uint160(msg.sender))));
        }
        paused = true;
        emit PausedSet(msg.sender, true);
    }

    /// @notice Resume execution; only the Safe (its owners' threshold) may.
    function unpause() external onlySafe {
        paused = false;
        emit PausedSet(msg.sender, false);
    }

    // ============================================================== read-back

    /// @notice Key under which a scope is stored.
    /// @param role Role id.
    /// @param target Target address.
    /// @param selector Function selector.
    /// @return The storage key.
    function scopeKey(uint16 role, address target, bytes4 selector) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(role, target, selector));
    }

    /// @notice All operators and their roles.
    /// @return ops Operator addresses.
    /// @return roles Role of each.
    function operators() external view returns (address[] memory ops, uint16[] memory roles) {
        ops = _operators;
        roles = new uint16[](ops.length);
        for (uint256 i; i < ops.length; ++i) {
            roles[i] = roleOf[ops[i]];
        }
    }

    /// @notice Keys of all scopes.
    /// @return The keys, in no particular order.
    function scopeKeys() external view returns (bytes32[] memory) {
        return _scopeKeys;
    }

    /// @notice One scope with its conditions.
    /// @param key Scope key.
    /// @return s The scope.
    /// @return conds Its conditions, in evaluation order.
    function getScope(bytes32 key) external view returns (Scope memory s, Condition[] memory conds) {
        s = _scopes[key];
        conds = new Condition[](s.nConds);
        for (uint256 i; i < conds.length; ++i) {
            conds[i] = _conds[key][i];
        }
    }

    /// @notice Ids of all sets ever written.
    /// @return The ids.
    function setIds() external view returns (uint32[] memory) {
        return _setIds;
    }

    /// @notice Members of set `id`.
    /// @param id Set id.
    /// @return The members.
    function setValues(uint32 id) external view returns (bytes32[] memory) {
        return _setValues[id];
    }

    /// @notice Whether `value` is in set `id`.
    /// @param id Set id.
    /// @param value Word to test.
    /// @return True when a member.
    function isMember(uint32 id, bytes32 value) external view returns (bool) {
        return _member[_memberKey(id, value)];
    }

    /// @notice Ids of all allowances.
    /// @return The ids.
    function allowanceIds() external view returns (uint32[] memory) {
        return _allowanceIds;
    }

    /// @notice Allowance state as it would be after a refill at the current block.
    /// @param id Allowance id.
    /// @return The refilled state.
    function currentAllowance(uint32 id) external view returns (Allowance memory) {
        return _refilled(allowances[id]);
    }

    function _memberKey(uint32 id, bytes32 value) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(id, value));
    }

    function _removeAddress(address[] storage list, bytes32 pk) internal {
        uint256 i = _pos[pk] - 1;
        address moved = list[list.length - 1];
        list[i] = moved;
        _pos[keccak256(abi.encodePacked(uint8(1), moved))] = i + 1;
        list.pop();
        delete _pos[pk];
    }
}
