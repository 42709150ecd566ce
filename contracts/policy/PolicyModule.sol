// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPolicyChecker} from "./IPolicyChecker.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

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
///      Two guards bound what a stolen operator key can lose whatever the calldata: OP_CHECK conditions hand a
///      call to a stateless checker contract (price bounds, counterparties) and the value guard measures the
///      Safe's tracked balances around each execution, values the change at oracle prices, and refuses a loss
///      above a per-execution bound or a per-window budget.
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
    uint8 internal constant PRICE_OUT_OF_BOUNDS = 18;
    uint8 internal constant FEED_MISSING = 19;
    uint8 internal constant FEED_STALE = 20;
    uint8 internal constant FEED_INVALID = 21;
    uint8 internal constant COUNTERPARTY_NOT_ALLOWED = 22;
    uint8 internal constant SERIES_NOT_ALLOWED = 23;
    uint8 internal constant PREMIUM_OUT_OF_BOUNDS = 24;
    uint8 internal constant TAKER_NOT_SAFE = 25;
    uint8 internal constant VALUE_LOSS_EXCEEDED = 26;
    uint8 internal constant LOSS_BUDGET_EXCEEDED = 27;
    uint8 internal constant CHECK_FAILED = 28;
    uint8 internal constant COSIGNATURE_REQUIRED = 29;
    uint8 internal constant COSIGNATURE_INVALID = 30;
    uint8 internal constant COSIGNATURE_EXPIRED = 31;
    uint8 internal constant COSIGNATURE_REPLAYED = 32;

    // ---------------------------------------------------------------- condition operators
    uint8 internal constant OP_EQ = 1; // word == value
    uint8 internal constant OP_LE = 2; // uint(word) <= value
    uint8 internal constant OP_GE = 3; // uint(word) >= value
    uint8 internal constant OP_IS_SAFE = 4; // word == the Safe's address
    uint8 internal constant OP_IN_SET = 5; // word is a member of set `aux`
    uint8 internal constant OP_ALLOWANCE = 6; // uint(word) is spent from allowance `aux`
    uint8 internal constant OP_ARRAY_IN_SET = 7; // word is the length of an address[]; every element in set `aux`
    uint8 internal constant OP_PATH_IN_SET = 8; // word is the length of a Uniswap V3 path; every token in set `aux`
    uint8 internal constant OP_CHECK = 9; // value = checker | param << 160; the checker judges the whole call
    /// @dev Never denies: declares which tracked assets the call can move (see `_touch`), so the value guard
    ///      reads only those. aux: TOUCH_WORD = the address at `word`; TOUCH_ARRAY = first and last element
    ///      of the address[] whose length is `word`; TOUCH_PATH = first and last token of the V3 path whose
    ///      length is `word`. A scope without one makes the guard measure every tracked asset.
    uint8 internal constant OP_TOUCHES = 10;
    uint8 internal constant MAX_OP = 10;
    uint32 internal constant TOUCH_WORD = 0;
    uint32 internal constant TOUCH_ARRAY = 1;
    uint32 internal constant TOUCH_PATH = 2;
    /// @dev Most assets one execution may declare; more, or any undeclared call, means "measure all".
    uint256 internal constant MAX_TOUCHED = 8;
    uint256 internal constant TOUCH_ALL = type(uint256).max;

    uint8 internal constant CALL = 0;
    uint8 internal constant DELEGATECALL = 1;
    uint256 internal constant MAX_CONDITIONS = 32;
    bytes4 internal constant MULTISEND_SELECTOR = 0x8d80ff0a; // multiSend(bytes)
    uint256 internal constant MAX_TRACKED = 16;
    uint256 internal constant MAX_DECIMALS = 36; // keeps 10**(feed + token decimals) inside uint256
    uint256 internal constant BPS = 1e4;
    /// @dev EIP-712: the co-signer signs the exact call; module and chain id are bound by the domain.
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant COSIGN_TYPEHASH = keccak256(
        "CoSign(address to,uint256 value,bytes32 dataHash,uint8 operation,uint256 nonce,uint256 deadline)"
    );
    bytes32 internal constant NAME_HASH = keccak256("PolicyModule");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    /// @dev Transient slot of the execution lock (keccak256("PolicyModule.lock")).
    uint256 internal constant LOCK_SLOT = 0x153cc7f1a6b4039833a9ad12c42c30fc24bf14623d375a259d6fd8a6a322fcc2;
    /// @dev `ScopeData.conds` of an allowed scope without conditions (no data contract to read).
    address internal constant NO_CONDS = address(1);
    /// @dev Flag in `_operatorOf`: the operator's role requires a co-signature.
    uint256 internal constant COSIGNED = 1 << 16;

    /// @notice One parameter condition. `word` indexes the 32-byte ABI word after the selector; nested static
    ///         tuples are inlined by the ABI so their fields are plain word indexes too.
    struct Condition {
        uint8 op;
        uint16 word;
        uint32 aux; // set id or allowance id
        uint256 value; // comparison operand (EQ/LE/GE)
    }

    /// @notice A scope as `getScope` reports it.
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

    /// @dev An oracle (Chainlink AggregatorV3) for one token; token decimals are read once, at configuration.
    struct Oracle {
        address feed;
        uint8 feedDecimals;
        uint8 tokenDecimals;
        uint32 maxAge;
    }

    /// @dev The one slot the hot path reads per scope: the conditions' data contract (see `_writeBlob`; NO_CONDS
    ///      for none, 0 = not allowed) and the value cap. Role, selector and target live in `_scopeInfo` for
    ///      read-back only.
    struct ScopeData {
        address conds;
        uint96 maxValue;
    }

    struct ScopeInfo {
        uint16 role;
        bytes4 selector;
        address target;
        uint8 nConds;
    }

    /// @dev The value guard's slot, read once per execution (and the kill switch, read by every execution):
    ///      the data contract holding (maxLossBps, budgetBps, period, tracked assets), 0 = guard off, and the
    ///      current window's start.
    struct GuardSlot {
        address config;
        uint64 windowStart;
        bool paused;
    }

    /// @dev The value guard's configuration, decoded from its data contract.
    struct Guard {
        uint16 maxLossBps;
        uint16 budgetBps;
        uint32 period;
        uint64 windowStart;
        address[] tracked;
    }

    /// @dev What the value guard measured before an execution.
    struct Snapshot {
        Guard g;
        address[] toks;
        uint256[] before;
    }

    /// @dev The current loss window, in USD * 1e18; one slot, written only when the window rolls or loses.
    struct Window {
        uint128 base;
        uint128 loss;
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
    event OracleSet(address indexed token, address feed, uint8 feedDecimals, uint8 tokenDecimals, uint32 maxAge);
    event ValueGuardSet(address[] tracked, uint16 maxLossBps, uint16 budgetBps, uint32 period);
    event WindowStarted(uint64 start, uint256 baseE18);
    event CosignerSet(uint16 indexed role, address cosigner);
    event Cosigned(address indexed cosigner, uint256 indexed nonce);

    /// @notice The Safe this module serves; the only address that may change the configuration.
    address public immutable safe;
    /// @notice The only delegatecall target (Safe's MultiSendCallOnly).
    address public multiSend;
    /// @notice May pause (not unpause) in addition to the Safe's owners.
    address public guardian;

    /// @dev Role of each operator (0 = not an operator), read through `roleOf`.
    ///         Stored with a flag (bit 16) set while the role requires a co-signature, so `execute` refuses a
    ///         co-signed role from the same slot (kept in step by setOperator and setCosigner).
    mapping(address => uint256) internal _operatorOf;
    mapping(bytes32 => ScopeData) internal _scopes;
    mapping(bytes32 => ScopeInfo) internal _scopeInfo;
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

    mapping(address => Oracle) internal _oracles;
    address[] internal _oracleTokens;
    GuardSlot internal _guard;
    Window internal _window;

    /// @notice Co-signer whose EIP-712 signature every call of a role needs; 0 = none.
    mapping(uint16 => address) public cosignerOf;
    /// @notice Co-signature nonces already consumed (unordered, so concurrent requests never collide).
    mapping(uint256 => bool) public cosignNonceUsed;
    uint16[] internal _cosignedRoles;

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
        uint256 op = _operatorOf[msg.sender];
        uint16 role = uint16(op);
        if (role == 0) _deny(NOT_OPERATOR, bytes32(uint256(uint160(msg.sender))));
        // A stolen operator key alone must not act in a co-signed role: only executeCosigned may.
        if (op & COSIGNED != 0) _deny(COSIGNATURE_REQUIRED, bytes32(uint256(role)));
        return _execute(role, to, value, data, operation);
    }

    /// @notice `execute` for a role that requires a co-signature: the co-signer's EIP-712 signature over
    ///         (module, chain id, to, value, keccak(data), operation, nonce, deadline). The nonce is consumed.
    ///         Every check of `execute` (scopes, conditions, checkers, value guard) still applies.
    /// @param nonce Any unused nonce chosen by the co-signer; consumed here.
    /// @param deadline Last timestamp at which the co-signature is valid.
    /// @param signature 65-byte r||s||v (or an EIP-1271 signature for a contract co-signer).
    /// @return success Always true; any failure reverts through `PolicyViolation`.
    function executeCosigned(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bool success) {
        uint16 role = uint16(_operatorOf[msg.sender]);
        if (role == 0) _deny(NOT_OPERATOR, bytes32(uint256(uint160(msg.sender))));
        address cosigner = cosignerOf[role];
        if (cosigner == address(0)) _deny(COSIGNATURE_INVALID, bytes32(uint256(role)));
        if (block.timestamp > deadline) _deny(COSIGNATURE_EXPIRED, bytes32(deadline));
        if (cosignNonceUsed[nonce]) _deny(COSIGNATURE_REPLAYED, bytes32(nonce));
        bytes32 digest = cosignDigest(to, value, data, operation, nonce, deadline);
        if (!SignatureChecker.isValidSignatureNow(cosigner, digest, signature)) {
            _deny(COSIGNATURE_INVALID, digest);
        }
        cosignNonceUsed[nonce] = true;
        emit Cosigned(cosigner, nonce);
        return _execute(role, to, value, data, operation);
    }

    function _execute(uint16 role, address to, uint256 value, bytes calldata data, uint8 operation)
        internal
        returns (bool)
    {
        GuardSlot memory gs = _guard;
        if (gs.paused) _deny(PAUSED, bytes32(0));
        _lock();
        uint256 credit;
        // touched[0] = number of declared assets (or TOUCH_ALL), then the assets
        uint256[] memory touched = new uint256[](MAX_TOUCHED + 1);
        if (operation == CALL) {
            credit = _check(role, to, value, data, touched);
        } else if (operation == DELEGATECALL && to == multiSend && to != address(0)) {
            if (value != 0) _deny(VALUE_TOO_HIGH, bytes32(value));
            credit = _checkBatch(role, data, touched);
        } else {
            _deny(DELEGATECALL_NOT_ALLOWED, bytes32(uint256(uint160(to))));
        }
        Snapshot memory snap;
        if (gs.config != address(0)) snap = _snapshot(gs, touched);
        if (!ISafeMinimal(safe).execTransactionFromModule(to, value, data, operation)) {
            _deny(EXECUTION_FAILED, bytes32(uint256(uint160(to))));
        }
        if (gs.config != address(0)) _settle(snap, gs, credit);
        _unlock();
        _emitExecuted(role, to, value, data, operation);
        return true;
    }

    function _emitExecuted(uint16 role, address to, uint256 value, bytes calldata data, uint8 operation) internal {
        emit Executed(msg.sender, role, to, value, operation, data.length >= 4 ? bytes4(data[:4]) : bytes4(0));
    }

    /// @dev MultiSend packing: operation (1) | to (20) | value (32) | dataLength (32) | data, repeated.
    function _checkBatch(uint16 role, bytes calldata data, uint256[] memory touched)
        internal
        returns (uint256 credit)
    {
        if (data.length < 68 || bytes4(data[:4]) != MULTISEND_SELECTOR) _deny(MALFORMED, bytes32(0));
        uint256 off = uint256(bytes32(data[4:36]));
        // The encoded bytes must sit where a canonical encoder puts them, so every decoder sees the same batch.
        if (off != 32) _deny(MALFORMED, bytes32(off));
        uint256 len = uint256(bytes32(data[36:68]));
        if (len > data.length - 68) _deny(MALFORMED, bytes32(len));
        bytes calldata txs = data[68:68 + len];
        uint256 i;
        while (i < len) {
            (uint256 c, uint256 next) = _checkEntry(role, txs, i, touched);
            credit += c;
            i = next;
        }
    }

    /// @dev The batch entry at offset `i` of `txs`; returns its credit and the next entry's offset.
    function _checkEntry(uint16 role, bytes calldata txs, uint256 i, uint256[] memory touched)
        internal
        returns (uint256 credit, uint256 next)
    {
        uint256 len = txs.length;
        if (len - i < 85) _deny(MALFORMED, bytes32(i));
        address to = address(bytes20(txs[i + 1:i + 21]));
        uint256 dlen = uint256(bytes32(txs[i + 53:i + 85]));
        if (dlen > len - i - 85) _deny(MALFORMED, bytes32(dlen));
        if (uint8(txs[i]) != CALL) _deny(DELEGATECALL_NOT_ALLOWED, bytes32(uint256(uint160(to))));
        next = i + 85 + dlen;
        credit = _check(role, to, uint256(bytes32(txs[i + 21:i + 53])), txs[i + 85:next], touched);
    }

    function _check(uint16 role, address to, uint256 value, bytes calldata data, uint256[] memory touched)
        internal
        returns (uint256 credit)
    {
        // The module is never a target: through it the Safe could be made to reconfigure its own guard.
        if (to == address(this)) _deny(FUNCTION_NOT_ALLOWED, bytes32(bytes20(to)));
        bytes4 selector;
        if (data.length >= 4) selector = bytes4(data[:4]);
        else if (data.length != 0) _deny(CALLDATA_TOO_SHORT, bytes32(data.length));
        bytes32 key = scopeKey(role, to, selector);
        ScopeData memory s = _scopes[key];
        if (s.conds == address(0)) _deny(FUNCTION_NOT_ALLOWED, bytes32(bytes20(to)) | (bytes32(selector) >> 160));
        if (value > s.maxValue) _deny(VALUE_TOO_HIGH, bytes32(value));
        bool declared;
        if (s.conds != NO_CONDS) (credit, declared) = _checkConds(s.conds, to, value, data, touched);
        // Native value moves ETH; a scope that declares nothing may move anything.
        if (!declared || value != 0) touched[0] = TOUCH_ALL;
    }

    /// @dev All conditions in one code read (one cold account) instead of two cold slots each.
    function _checkConds(address ptr, address to, uint256 value, bytes calldata data, uint256[] memory touched)
        internal
        returns (uint256 credit, bool declared)
    {
        bytes memory conds = _readBlob(ptr);
        uint256 n = conds.length / 64;
        for (uint256 i; i < n; ++i) {
            (uint256 head, uint256 cval) = _condAt(conds, i);
            if (uint8(head) == OP_TOUCHES) {
                declared = true;
                _touch(head, data, touched);
            } else {
                credit += _checkCondition(head, cval, to, value, data);
            }
        }
    }

    /// @dev Condition `i` of a scope's data contract: (op | word << 8 | aux << 24, value).
    function _condAt(bytes memory conds, uint256 i) internal pure returns (uint256 head, uint256 cval) {
        assembly {
            let p := add(add(conds, 32), shl(6, i))
            head := mload(p)
            cval := mload(add(p, 32))
        }
    }

    /// @dev Record the assets an OP_TOUCHES condition names. Anything it cannot read cleanly (out of bounds,
    ///      dirty address bits, too many assets) falls back to measuring every tracked asset: a declaration can
    ///      only narrow what is measured when it names exactly what the target will read.
    function _touch(uint256 head, bytes calldata data, uint256[] memory touched) internal pure {
        uint256 end = 36 + 32 * uint256(uint16(head >> 8));
        uint256 kind = uint32(head >> 24);
        uint256 len = data.length;
        if (len < end) return _touchAll(touched);
        bool ok;
        uint256 a;
        uint256 b;
        assembly {
            // Reads past the end of calldata yield zeros; `ok` only holds when every read was in bounds.
            let w := calldataload(add(data.offset, sub(end, 32)))
            switch kind
            case 0 {
                ok := 1
                a := w
                b := w
            }
            case 1 {
                ok := and(gt(w, 0), iszero(gt(w, div(sub(len, end), 32))))
                a := calldataload(add(data.offset, end))
                b := calldataload(add(data.offset, add(end, mul(32, sub(w, 1)))))
            }
            case 2 {
                // the router's hops only end at `w - 20` for a well-formed path: token (20) | fee (3) | token ...
                ok := and(and(iszero(lt(w, 43)), iszero(mod(sub(w, 20), 23))), iszero(gt(w, sub(len, end))))
                a := shr(96, calldataload(add(data.offset, end)))
                b := shr(96, calldataload(add(data.offset, sub(add(end, w), 20))))
            }
        }
        if (!ok) return _touchAll(touched);
        _touchAdd(touched, a);
        if (b != a) _touchAdd(touched, b);
    }

    function _touchAdd(uint256[] memory touched, uint256 token) internal pure {
        uint256 n = touched[0];
        if (n == TOUCH_ALL) return;
        if (token >> 160 != 0 || n == MAX_TOUCHED) return _touchAll(touched);
        touched[n + 1] = token;
        touched[0] = n + 1;
    }

    function _touchAll(uint256[] memory touched) internal pure {
        touched[0] = TOUCH_ALL;
    }

    /// @dev The tracked assets the execution declared it can move (all of them unless every call declared).
    function _measured(address[] memory tracked, uint256[] memory touched) internal pure returns (address[] memory) {
        uint256 m = touched[0];
        if (m == TOUCH_ALL) return tracked;
        address[] memory out = new address[](tracked.length);
        uint256 k;
        for (uint256 i; i < tracked.length; ++i) {
            uint256 t = uint160(tracked[i]);
            for (uint256 j = 1; j <= m; ++j) {
                if (touched[j] == t) {
                    out[k++] = tracked[i];
                    break;
                }
            }
        }
        assembly {
            mstore(out, k)
        }
        return out;
    }

    /// @dev `head` = op | word << 8 | aux << 24 (see `_packCondition`), `cval` the condition's value.
    function _checkCondition(uint256 head, uint256 cval, address to, uint256 value, bytes calldata data)
        internal
        returns (uint256 credit)
    {
        uint8 op = uint8(head);
        if (op == OP_CHECK) return _runChecker(cval, to, value, data);
        uint256 w = uint16(head >> 8);
        uint32 aux = uint32(head >> 24);
        uint256 end = 36 + 32 * w;
        if (data.length < end) _deny(CALLDATA_TOO_SHORT, bytes32(w));
        bytes32 word = bytes32(data[end - 32:end]);
        if (op == OP_EQ) {
            if (word != bytes32(cval)) _deny(PARAM_NOT_EQUAL, word);
        } else if (op == OP_IS_SAFE) {
            if (word != bytes32(uint256(uint160(safe)))) _deny(PARAM_NOT_SAFE, word);
        } else if (op == OP_LE) {
            if (uint256(word) > cval) _deny(PARAM_TOO_HIGH, word);
        } else if (op == OP_GE) {
            if (uint256(word) < cval) _deny(PARAM_TOO_LOW, word);
        } else if (op == OP_IN_SET) {
            if (!_member[_memberKey(aux, word)]) _deny(PARAM_NOT_IN_SET, word);
        } else if (op == OP_ALLOWANCE) {
            _spend(aux, uint256(word));
        } else if (op == OP_ARRAY_IN_SET) {
            _checkArray(aux, data, end, uint256(word));
        } else {
            _checkPath(aux, data, end, uint256(word));
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

    /// @dev Staticcall the checker; a PolicyViolation it reverts with (e.g. bubbled from valueE18) keeps its
    ///      status, any other revert or a return that is not exactly three words is CHECK_FAILED.
    function _runChecker(uint256 packed, address to, uint256 value, bytes calldata data)
        internal
        view
        returns (uint256 credit)
    {
        address checker = address(uint160(packed));
        (bool ok, bytes memory r) = checker.staticcall(
            abi.encodeCall(IPolicyChecker.check, (safe, to, value, data, uint96(packed >> 160)))
        );
        uint256 st;
        bytes32 w;
        if (ok && r.length == 96) {
            assembly {
                st := mload(add(r, 32))
                w := mload(add(r, 64))
                credit := mload(add(r, 96))
            }
            if (st == 0) return credit;
        } else if (!ok && r.length == 68 && bytes4(r) == PolicyViolation.selector) {
            assembly {
                st := mload(add(r, 36))
                w := mload(add(r, 68))
            }
            if (st == 0) st = 256; // a "violation" without a status is garbage
        }
        if (st == 0 || st > type(uint8).max) _deny(CHECK_FAILED, bytes32(uint256(uint160(checker))));
        _deny(uint8(st), w);
    }

    // ============================================================== value guard

    /// @dev Balances before the execution of the tracked assets it can move (every one when a call did not
    ///      declare, and at a window's first execution, which values them all for the window's base).
    function _snapshot(GuardSlot memory gs, uint256[] memory touched) internal view returns (Snapshot memory snap) {
        Guard memory g = _decodeGuard(gs);
        bool roll = block.timestamp >= uint256(g.windowStart) + g.period;
        address[] memory toks = roll ? g.tracked : _measured(g.tracked, touched);
        uint256 n = toks.length;
        uint256[] memory bal = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            bal[i] = _balance(toks[i]);
        }
        (snap.g, snap.toks, snap.before) = (g, toks, bal);
    }

    /// @dev The guard's configuration from its data contract: maxLossBps (2 bytes) | budgetBps (2) |
    ///      period (4) | tracked assets (one word each, as abi.encodePacked pads array elements).
    function _decodeGuard(GuardSlot memory gs) internal view returns (Guard memory g) {
        bytes memory b = _readBlob(gs.config);
        uint256 head;
        assembly {
            head := mload(add(b, 32))
        }
        g.maxLossBps = uint16(head >> 240);
        g.budgetBps = uint16(head >> 224);
        g.period = uint32(head >> 192);
        g.windowStart = gs.windowStart;
        uint256 n = (b.length - 8) / 32;
        address[] memory t = new address[](n);
        for (uint256 i; i < n; ++i) {
            address a;
            assembly {
                a := mload(add(add(b, 40), shl(5, i)))
            }
            t[i] = a;
        }
        g.tracked = t;
    }

    /// @dev Values the change of the tracked balances (each changed asset's feed read once) and enforces the
    ///      per-execution bound and the window budget. Gains never replenish the budget.
    function _settle(Snapshot memory snap, GuardSlot memory gs, uint256 credit) internal {
        Guard memory g = snap.g;
        address[] memory toks = snap.toks;
        uint256[] memory before = snap.before;
        uint256 n = toks.length;
        uint256[] memory num = new uint256[](n);
        uint256[] memory den = new uint256[](n);
        uint256 out;
        uint256 gain;
        for (uint256 i; i < n; ++i) {
            uint256 a = _balance(toks[i]);
            uint256 b = before[i];
            if (a == b) continue;
            (num[i], den[i]) = _quote(toks[i]);
            // Outflows round up, inflows down: rounding never hides a loss.
            if (a < b) out += _val(toks[i], b - a, num[i], den[i], Math.Rounding.Ceil);
            else gain += _val(toks[i], a - b, num[i], den[i], Math.Rounding.Floor);
        }
        uint256 loss;
        if (out > gain && out - gain > credit) loss = out - gain - credit;
        if (loss * BPS > uint256(g.maxLossBps) * out) _deny(VALUE_LOSS_EXCEEDED, bytes32(loss));
        bool roll = block.timestamp >= uint256(g.windowStart) + g.period;
        if (!roll && loss == 0) return;
        Window memory win;
        if (roll) {
            uint256 base;
            for (uint256 i; i < n; ++i) {
                if (before[i] == 0) continue;
                if (num[i] == 0) (num[i], den[i]) = _quote(toks[i]);
                base += _val(toks[i], before[i], num[i], den[i], Math.Rounding.Floor);
            }
            win.base = uint128(Math.min(base, type(uint128).max));
            gs.windowStart = uint64(block.timestamp);
            _guard = gs;
            emit WindowStarted(gs.windowStart, win.base);
        } else {
            win = _window;
        }
        uint256 total = uint256(win.loss) + loss;
        if (total > uint256(g.budgetBps) * win.base / BPS) _deny(LOSS_BUDGET_EXCEEDED, bytes32(total));
        win.loss = uint128(total); // total <= base <= uint128 max
        _window = win;
    }

    /// @dev The Safe's balance of `token` (address(0) = native ETH).
    function _balance(address token) internal view returns (uint256 bal) {
        address s = safe;
        if (token == address(0)) return s.balance;
        bool ok;
        assembly {
            // balanceOf(safe) from scratch space: no memory allocated per call
            mstore(0, 0x70a08231)
            mstore(0x20, s)
            ok := staticcall(gas(), token, 28, 36, 0, 32)
            ok := and(ok, eq(returndatasize(), 32)) // (Yul evaluates arguments right to left)
            bal := mload(0)
        }
        if (!ok) _deny(CHECK_FAILED, bytes32(uint256(uint160(token))));
    }

    /// @dev The oracle price of `token` as a fraction: value(amount) = amount * num / den in USD * 1e18.
    ///      Denies a missing feed, a stale, future or incomplete round, a non-positive or absurd answer, and a
    ///      feed whose decimals are not the configured ones. Never falls back to a default.
    function _quote(address token) internal view returns (uint256 num, uint256 den) {
        Oracle memory o = _oracles[token];
        bytes32 w = bytes32(uint256(uint160(token)));
        if (o.feed == address(0)) _deny(FEED_MISSING, w);
        address feed = o.feed;
        bool ok;
        uint256 roundId;
        int256 answer;
        uint256 updatedAt;
        uint256 answeredInRound;
        uint256 dec;
        assembly {
            // latestRoundData() and decimals() into free memory, left unallocated (nothing else lives there)
            let p := mload(0x40)
            mstore(p, shl(224, 0xfeaf968c))
            ok := staticcall(gas(), feed, p, 4, p, 160)
            ok := and(ok, eq(returndatasize(), 160)) // (Yul evaluates arguments right to left)
            roundId := mload(p)
            answer := mload(add(p, 32))
            updatedAt := mload(add(p, 96))
            answeredInRound := mload(add(p, 128))
            dec := 256 // a failed or garbled decimals() never equals a configured uint8
            if ok {
                mstore(p, shl(224, 0x313ce567))
                let okd := staticcall(gas(), feed, p, 4, p, 32)
                if and(okd, eq(returndatasize(), 32)) { dec := mload(p) }
            }
        }
        if (!ok) _deny(FEED_INVALID, w);
        if (answer <= 0 || uint256(answer) > type(uint128).max) _deny(FEED_INVALID, w);
        if (
            updatedAt == 0 || updatedAt > block.timestamp || block.timestamp - updatedAt > o.maxAge
                || answeredInRound < roundId
        ) _deny(FEED_STALE, w);
        if (dec != o.feedDecimals) _deny(FEED_INVALID, w);
        unchecked {
            // answer <= 2**128 and both decimals <= MAX_DECIMALS (36): neither overflows, and the plain EXP
            // avoids the checked-power loop on every valuation
            num = uint256(answer) * 1e18;
            den = 10 ** (uint256(o.feedDecimals) + o.tokenDecimals);
        }
    }

    /// @dev amount * num / den, denied (FEED_INVALID) at or above 2**200 (1e42 USD): then no sum, bps product or
    ///      comparison the guard and the checkers make can overflow, and no absurd answer ever panics.
    function _val(address token, uint256 amount, uint256 num, uint256 den, Math.Rounding r)
        internal
        pure
        returns (uint256 v)
    {
        uint256 hi;
        uint256 lo;
        assembly {
            let mm := mulmod(amount, num, not(0))
            lo := mul(amount, num)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
        if (hi == 0) {
            // The product fits one word (every realistic amount): a plain division, rounded as asked.
            unchecked {
                v = lo / den + (Math.unsignedRoundsUp(r) && lo % den != 0 ? 1 : 0);
            }
        } else if (hi < den) {
            v = Math.mulDiv(amount, num, den, r);
        }
        if (hi >= den || v >> 200 != 0) _deny(FEED_INVALID, bytes32(uint256(uint160(token))));
    }

    /// @dev Nested executions are refused: a call that re-entered `execute` would be measured twice, its
    ///      credits once, and the outer snapshot would no longer describe one execution.
    function _lock() internal {
        uint256 locked;
        assembly {
            locked := tload(LOCK_SLOT)
        }
        if (locked != 0) _deny(UNAUTHORIZED, bytes32(uint256(uint160(msg.sender))));
        assembly {
            tstore(LOCK_SLOT, 1)
        }
    }

    function _unlock() internal {
        assembly {
            tstore(LOCK_SLOT, 0)
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
            if (_pos[pk] != 0) _removeAddress(_operators, pk, 1);
        } else if (_pos[pk] == 0) {
            _operators.push(operator);
            _pos[pk] = _operators.length;
        }
        _operatorOf[operator] = role == 0 ? 0 : _withFlag(role, cosignerOf[role]);
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
        uint256 n = conditions.length;
        bytes memory blob = new bytes(64 * n);
        for (uint256 i; i < n; ++i) {
            Condition calldata c = conditions[i];
            if (c.op == 0 || c.op > MAX_OP) _deny(INVALID_CONFIG, bytes32(uint256(c.op)));
            if (c.op == OP_CHECK && (c.word != 0 || c.aux != 0 || address(uint160(c.value)).code.length == 0)) {
                _deny(INVALID_CONFIG, bytes32(c.value));
            }
            if (c.op == OP_TOUCHES && (c.aux > TOUCH_PATH || c.value != 0)) _deny(INVALID_CONFIG, bytes32(uint256(c.aux)));
            uint256 head = uint256(c.op) | (uint256(c.word) << 8) | (uint256(c.aux) << 24);
            uint256 cval = c.value;
            assembly {
                let p := add(add(blob, 32), shl(6, i))
                mstore(p, head)
                mstore(add(p, 32), cval)
            }
        }
        _scopes[key] = ScopeData(n == 0 ? NO_CONDS : _writeBlob(blob), maxValue);
        _scopeInfo[key] = ScopeInfo(role, selector, target, uint8(n));
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
        delete _scopeInfo[key];
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

    /// @notice Configure the oracle of `token`, read by checkers and the value guard.
    /// @param token ERC-20, or address(0) for native ETH (18 decimals).
    /// @param feed Chainlink AggregatorV3 feed of the token's USD price; 0 removes the oracle.
    /// @param feedDecimals The decimals the feed must report (checked at every read).
    /// @param maxAge Oldest answer accepted, in seconds.
    function setOracle(address token, address feed, uint8 feedDecimals, uint32 maxAge) external onlySafe {
        bytes32 pk = keccak256(abi.encodePacked(uint8(4), token));
        uint8 tokenDecimals;
        if (feed == address(0)) {
            delete _oracles[token];
            if (_pos[pk] != 0) _removeAddress(_oracleTokens, pk, 4);
        } else {
            if (maxAge == 0 || feedDecimals > MAX_DECIMALS || feed.code.length == 0) {
                _deny(INVALID_CONFIG, bytes32(uint256(uint160(feed))));
            }
            tokenDecimals = 18;
            if (token != address(0)) {
                (bool ok, bytes memory r) = token.staticcall(abi.encodeWithSelector(0x313ce567)); // decimals()
                if (!ok || r.length != 32 || abi.decode(r, (uint256)) > MAX_DECIMALS) {
                    _deny(INVALID_CONFIG, bytes32(uint256(uint160(token))));
                }
                tokenDecimals = uint8(abi.decode(r, (uint256)));
            }
            _oracles[token] = Oracle(feed, feedDecimals, tokenDecimals, maxAge);
            if (_pos[pk] == 0) {
                _oracleTokens.push(token);
                _pos[pk] = _oracleTokens.length;
            }
        }
        emit OracleSet(token, feed, feedDecimals, tokenDecimals, maxAge);
    }

    /// @notice Configure the value guard; the loss window restarts at the next execution.
    /// @param tracked Assets whose Safe balances are measured (address(0) = ETH); empty turns the guard off.
    /// @param maxLossBps Largest loss of one execution, in bps of the value that left the Safe.
    /// @param budgetBps Largest cumulative loss per window, in bps of the tracked value at the window's start.
    /// @param period Window length in seconds.
    function setValueGuard(address[] calldata tracked, uint16 maxLossBps, uint16 budgetBps, uint32 period)
        external
        onlySafe
    {
        uint256 n = tracked.length;
        if (n > MAX_TRACKED || maxLossBps > BPS || budgetBps > BPS || (n != 0 && period == 0)) {
            _deny(INVALID_CONFIG, bytes32(n));
        }
        for (uint256 i; i < n; ++i) {
            for (uint256 j; j < i; ++j) {
                if (tracked[i] == tracked[j]) _deny(INVALID_CONFIG, bytes32(uint256(uint160(tracked[i]))));
            }
        }
        address config;
        if (n != 0) config = _writeBlob(abi.encodePacked(maxLossBps, budgetBps, period, tracked));
        _guard = GuardSlot(config, 0, _guard.paused);
        delete _window;
        emit ValueGuardSet(tracked, maxLossBps, budgetBps, period);
    }

    /// @notice Require (or, with 0, stop requiring) `cosigner`'s co-signature on every call of `role`.
    /// @param role Role id (non-zero).
    /// @param cosigner The co-signer's address (EOA or EIP-1271 contract), 0 = none.
    function setCosigner(uint16 role, address cosigner) external onlySafe {
        if (role == 0 || cosigner == address(this) || cosigner == safe) _deny(INVALID_CONFIG, bytes32(uint256(role)));
        bytes32 pk = keccak256(abi.encodePacked(uint8(5), role));
        if (cosigner == address(0)) {
            if (_pos[pk] != 0) {
                uint256 i = _pos[pk] - 1;
                uint16 moved = _cosignedRoles[_cosignedRoles.length - 1];
                _cosignedRoles[i] = moved;
                _pos[keccak256(abi.encodePacked(uint8(5), moved))] = i + 1;
                _cosignedRoles.pop();
                delete _pos[pk];
            }
        } else if (_pos[pk] == 0) {
            _cosignedRoles.push(role);
            _pos[pk] = _cosignedRoles.length;
        }
        cosignerOf[role] = cosigner;
        address[] storage ops = _operators;
        for (uint256 i; i < ops.length; ++i) {
            if (uint16(_operatorOf[ops[i]]) == role) _operatorOf[ops[i]] = _withFlag(role, cosigner);
        }
        emit CosignerSet(role, cosigner);
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
        _guard.paused = true;
        emit PausedSet(msg.sender, true);
    }

    /// @notice Resume execution; only the Safe (its owners' threshold) may.
    function unpause() external onlySafe {
        _guard.paused = false;
        emit PausedSet(msg.sender, false);
    }

    // ============================================================== read-back

    /// @notice Role of each operator; 0 means "not an operator".
    function roleOf(address operator) external view returns (uint16) {
        return uint16(_operatorOf[operator]);
    }

    /// @notice Kill switch: while true nothing executes.
    function paused() external view returns (bool) {
        return _guard.paused;
    }

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
            roles[i] = uint16(_operatorOf[ops[i]]);
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
        ScopeData memory d = _scopes[key];
        ScopeInfo memory info = _scopeInfo[key];
        s = Scope(d.conds != address(0), info.nConds, d.maxValue, info.role, info.selector, info.target);
        conds = new Condition[](s.nConds);
        if (conds.length == 0) return (s, conds);
        bytes memory b = _readBlob(d.conds);
        for (uint256 i; i < conds.length; ++i) {
            (uint256 head, uint256 cval) = _condAt(b, i);
            conds[i] = Condition(uint8(head), uint16(head >> 8), uint32(head >> 24), cval);
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

    /// @notice USD value * 1e18 of `amount` base units of `token` at its oracle price (rounded down).
    /// @dev amount * answer * 1e18 / (10**feedDecimals * 10**tokenDecimals). Denies (PolicyViolation)
    ///      FEED_MISSING / FEED_STALE / FEED_INVALID (also for a value of 2**200 or more); never returns a default.
    /// @param token ERC-20 or address(0) for ETH.
    /// @param amount Base units.
    /// @return The value.
    function valueE18(address token, uint256 amount) external view returns (uint256) {
        (uint256 num, uint256 den) = _quote(token);
        return _val(token, amount, num, den, Math.Rounding.Floor);
    }

    /// @notice The oracle of `token` (feed 0 when none).
    function oracle(address token)
        external
        view
        returns (address feed, uint8 feedDecimals, uint8 tokenDecimals, uint32 maxAge)
    {
        Oracle memory o = _oracles[token];
        return (o.feed, o.feedDecimals, o.tokenDecimals, o.maxAge);
    }

    /// @notice All configured oracles.
    function oracles()
        external
        view
        returns (address[] memory tokens, address[] memory feeds, uint8[] memory feedDecimals, uint32[] memory maxAges)
    {
        tokens = _oracleTokens;
        uint256 n = tokens.length;
        feeds = new address[](n);
        feedDecimals = new uint8[](n);
        maxAges = new uint32[](n);
        for (uint256 i; i < n; ++i) {
            Oracle memory o = _oracles[tokens[i]];
            (feeds[i], feedDecimals[i], maxAges[i]) = (o.feed, o.feedDecimals, o.maxAge);
        }
    }

    /// @notice The value guard's configuration and current window (values in USD * 1e18).
    function valueGuard()
        external
        view
        returns (
            address[] memory tracked,
            uint16 maxLossBps,
            uint16 budgetBps,
            uint32 period,
            uint64 windowStart,
            uint256 windowBase,
            uint256 windowLoss
        )
    {
        GuardSlot memory gs = _guard;
        Window memory w = _window;
        if (gs.config == address(0)) return (tracked, 0, 0, 0, gs.windowStart, w.base, w.loss);
        Guard memory g = _decodeGuard(gs);
        return (g.tracked, g.maxLossBps, g.budgetBps, g.period, g.windowStart, w.base, w.loss);
    }

    /// @notice Roles that require a co-signature, and their co-signers.
    function cosigners() external view returns (uint16[] memory roles, address[] memory signers) {
        roles = _cosignedRoles;
        signers = new address[](roles.length);
        for (uint256 i; i < roles.length; ++i) {
            signers[i] = cosignerOf[roles[i]];
        }
    }

    /// @notice The EIP-712 domain separator of this module on this chain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The digest a co-signer signs for one call (see executeCosigned).
    function cosignDigest(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        bytes32 h = keccak256(abi.encode(COSIGN_TYPEHASH, to, value, keccak256(data), operation, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), h));
    }

    /// @dev Store `data` as the code of a new contract (SSTORE2): one cold account access reads it all back,
    ///      where storage would cost a cold slot per word. The code starts with STOP, so it never executes.
    ///      Written by the Safe only (configuration); never changed in place, a new write deploys a new one.
    function _writeBlob(bytes memory data) internal returns (address ptr) {
        // PUSH4 len; DUP1; PUSH1 14; PUSH1 0; CODECOPY; PUSH1 0; RETURN  (14 bytes), then STOP, then data
        bytes memory init = abi.encodePacked(hex"63", uint32(data.length + 1), hex"80600e6000396000f300", data);
        assembly {
            ptr := create(0, add(init, 32), mload(init))
        }
        if (ptr == address(0)) _deny(INVALID_CONFIG, bytes32(data.length));
    }

    /// @dev The data `_writeBlob` stored at `ptr`.
    function _readBlob(address ptr) internal view returns (bytes memory data) {
        assembly {
            let n := sub(extcodesize(ptr), 1)
            data := mload(0x40)
            mstore(data, n)
            extcodecopy(ptr, add(data, 32), 1, n)
            mstore(0x40, add(add(data, 32), and(add(n, 31), not(31))))
        }
    }

    /// @dev An operator's stored word: the role, and COSIGNED when the role has a co-signer.
    function _withFlag(uint16 role, address cosigner) internal pure returns (uint256) {
        return cosigner == address(0) ? role : role | COSIGNED;
    }

    function _memberKey(uint32 id, bytes32 value) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(id, value));
    }

    function _removeAddress(address[] storage list, bytes32 pk, uint8 prefix) internal {
        uint256 i = _pos[pk] - 1;
        address moved = list[list.length - 1];
        list[i] = moved;
        _pos[keccak256(abi.encodePacked(prefix, moved))] = i + 1;
        list.pop();
        delete _pos[pk];
    }
}
