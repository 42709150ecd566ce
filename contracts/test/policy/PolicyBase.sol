// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";

interface ISafe {
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;
    function execTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address payable refundReceiver,
        bytes memory signatures
    ) external payable returns (bool);
    function getTransactionHash(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        uint256 nonce
    ) external view returns (bytes32);
    function nonce() external view returns (uint256);
    function enableModule(address module) external;
    function isModuleEnabled(address module) external view returns (bool);
    function addOwnerWithThreshold(address owner, uint256 threshold) external;
}

interface IProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

contract TestToken is ERC20 {
    constructor(string memory n) ERC20(n, n) {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @dev Stands in for a router in unit tests: accepts the real Uniswap signatures and records the call.
contract RecordingRouter {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    struct ExactInputParams {
        bytes path;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
    }

    uint256 public calls;

    function exactInputSingle(ExactInputSingleParams calldata) external payable returns (uint256) {
        return ++calls;
    }

    function exactInput(ExactInputParams calldata) external payable returns (uint256) {
        return ++calls;
    }

    function swapExactTokensForTokens(uint256, uint256, address[] calldata, address, uint256)
        external
        returns (uint256[] memory out)
    {
        ++calls;
        out = new uint256[](0);
    }

    receive() external payable {}
}

/// @dev Written into the Safe's storage if ever delegatecalled: the invariant checks the slot stays empty.
contract DelegateProbe {
    function poke() external {
        assembly {
            sstore(0xdead, 1)
        }
    }
}

abstract contract PolicyBase is Test {
    string internal constant ART = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";

    uint16 internal constant ROLE = 1;
    uint32 internal constant TOKENS = 1;
    uint32 internal constant SPENDERS = 2;
    uint32 internal constant USDC_ALLOWANCE = 7;

    ISafe internal safe;
    address internal multiSend;
    PolicyModule internal module;
    TestToken internal usdc;
    TestToken internal weth;
    TestToken internal wbtc;
    RecordingRouter internal router;
    uint256 internal ownerPk = 0xA11CE;
    address internal owner;
    address internal operator = makeAddr("operator");
    address internal guardian = makeAddr("guardian");

    function _deploy(string memory path) internal returns (address a) {
        bytes memory code = vm.getCode(string.concat(ART, path));
        assembly {
            a := create(0, add(code, 0x20), mload(code))
        }
        require(a != address(0), path);
    }

    function setUp() public virtual {
        owner = vm.addr(ownerPk);
        address singleton = _deploy("SafeL2.sol/SafeL2.json");
        address factory = _deploy("proxies/SafeProxyFactory.sol/SafeProxyFactory.json");
        multiSend = _deploy("libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json");
        address[] memory owners = new address[](1);
        owners[0] = owner;
        bytes memory init =
            abi.encodeCall(ISafe.setup, (owners, 1, address(0), "", address(0), address(0), 0, payable(address(0))));
        safe = ISafe(IProxyFactory(factory).createProxyWithNonce(singleton, init, 1));
        module = new PolicyModule(address(safe), multiSend);
        _execBySafe(address(safe), abi.encodeCall(ISafe.enableModule, (address(module))));
        assertTrue(safe.isModuleEnabled(address(module)));

        usdc = new TestToken("USDC");
        weth = new TestToken("WETH");
        wbtc = new TestToken("WBTC");
        router = new RecordingRouter();
        usdc.mint(address(safe), 1e30);
        weth.mint(address(safe), 1e30);
        vm.deal(address(safe), 100 ether);

        vm.startPrank(address(safe));
        module.setOperator(operator, ROLE);
        module.setGuardian(guardian);
        bytes32[] memory toks = new bytes32[](2);
        toks[0] = _w(address(usdc));
        toks[1] = _w(address(weth));
        module.setSet(TOKENS, toks);
        bytes32[] memory sp = new bytes32[](1);
        sp[0] = _w(address(router));
        module.setSet(SPENDERS, sp);
        module.setAllowance(USDC_ALLOWANCE, 1000e6, 1 days, 1000e6);
        vm.stopPrank();
    }

    /// @dev A real Safe transaction signed by the single owner.
    function _execBySafe(address to, bytes memory data) internal returns (bool) {
        bytes32 h = safe.getTransactionHash(to, 0, data, 0, 0, 0, 0, address(0), address(0), safe.nonce());
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerPk, h);
        return safe.execTransaction(to, 0, data, 0, 0, 0, 0, address(0), payable(address(0)), abi.encodePacked(r, s, v));
    }

    function _w(address a) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }

    function _cond(uint8 op, uint16 word, uint32 aux, uint256 value)
        internal
        pure
        returns (PolicyModule.Condition memory)
    {
        return PolicyModule.Condition(op, word, aux, value);
    }

    function _expectDeny(uint8 status, bytes32 word) internal {
        vm.expectRevert(abi.encodeWithSelector(PolicyModule.PolicyViolation.selector, status, word));
    }

    function _exec(address to, uint256 value, bytes memory data) internal returns (bool) {
        vm.prank(operator);
        return module.execute(to, value, data, 0);
    }

    function _batchItem(address to, uint256 value, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, value, data.length, data);
    }

    /// @dev exactInputSingle scoped: recipient is the Safe, tokens in set, amountIn from the USDC allowance
    ///      (tokenIn pinned to USDC), slippage floor amountOutMinimum >= 1.
    function _scopeExactInputSingle() internal {
        PolicyModule.Condition[] memory c = new PolicyModule.Condition[](5);
        c[0] = _cond(1, 0, 0, uint256(_w(address(usdc)))); // tokenIn == USDC
        c[1] = _cond(5, 1, TOKENS, 0); // tokenOut in set
        c[2] = _cond(4, 3, 0, 0); // recipient is the Safe
        c[3] = _cond(6, 5, USDC_ALLOWANCE, 0); // amountIn spends the allowance
        c[4] = _cond(3, 6, 0, 1); // amountOutMinimum >= 1
        vm.prank(address(safe));
        module.setScope(ROLE, address(router), RecordingRouter.exactInputSingle.selector, 0, c);
    }

    function _eis(address tokenIn, address tokenOut, address recipient, uint256 amountIn, uint256 minOut)
        internal
        view
        returns (bytes memory)
    {
        return abi.encodeCall(
            RecordingRouter.exactInputSingle,
            (RecordingRouter.ExactInputSingleParams(tokenIn, tokenOut, 500, recipient, block.timestamp, amountIn, minOut, 0))
        );
    }
}
