// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {AgentModule} from "../../module/AgentModule.sol";
import {DevToken} from "../../tokens/DevToken.sol";

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
    function enableModule(address module) external;
    function isModuleEnabled(address module) external view returns (bool);
    function getOwners() external view returns (address[] memory);
}

interface IProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

/// Tests run against the real Safe 1.4.1 bytecode from its npm package.
contract AgentModuleTest is Test {
    string constant ART = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";
    ISafe safe;
    AgentModule module;
    DevToken token;
    address operator = address(0xA11CE);
    address multiSend;

    function setUp() public {
        address singleton = deployCode(string.concat(ART, "Safe.sol/Safe.json"));
        address factory = deployCode(string.concat(ART, "proxies/SafeProxyFactory.sol/SafeProxyFactory.json"));
        multiSend = deployCode(string.concat(ART, "libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json"));
        address[] memory owners = new address[](1);
        owners[0] = address(this);
        bytes memory init = abi.encodeCall(
            ISafe.setup, (owners, 1, address(0), "", address(0), address(0), 0, payable(address(0)))
        );
        safe = ISafe(IProxyFactory(factory).createProxyWithNonce(singleton, init, 1));
        module = new AgentModule(address(safe), operator, multiSend);
        // enableModule is `authorized`: only the Safe may call it; impersonate the Safe.
        vm.prank(address(safe));
        safe.enableModule(address(module));
        token = new DevToken("USD Coin", "USDC", 6);
        token.mint(address(safe), 1_000e6);
        vm.prank(address(safe));
        module.setAllowed(address(token), token.transfer.selector, true);
    }

    function _refused(uint8 status, bytes32 word) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(AgentModule.Refused.selector, status, word);
    }

    function testOperatorExecutesAllowedCall() public {
        vm.prank(operator);
        module.exec(address(token), 0, abi.encodeCall(token.transfer, (address(0xB0B), 5e6)));
        assertEq(token.balanceOf(address(0xB0B)), 5e6);
        assertEq(token.balanceOf(address(safe)), 995e6);
    }

    function testNonOperatorRefused() public {
        vm.expectRevert(_refused(1, bytes32(uint256(uint160(address(this))))));
        module.exec(address(token), 0, abi.encodeCall(token.transfer, (address(0xB0B), 5e6)));
    }

    function testSelectorNotAllowedRefused() public {
        bytes memory data = abi.encodeCall(token.approve, (address(0xB0B), 5e6));
        vm.prank(operator);
        vm.expectRevert(
            _refused(2, bytes32(uint256(uint160(address(token)))) | bytes32(token.approve.selector))
        );
        module.exec(address(token), 0, data);
    }

    function testShortCalldataRefused() public {
        vm.prank(operator);
        vm.expectRevert(_refused(6, bytes32(uint256(uint160(address(token))))));
        module.exec(address(token), 0, hex"a9");
    }

    function testOnlySafeConfigures() public {
        vm.expectRevert(_refused(4, bytes32(uint256(uint160(address(this))))));
        module.setAllowed(address(token), token.approve.selector, true);
        vm.prank(operator);
        vm.expectRevert(_refused(4, bytes32(uint256(uint160(operator)))));
        module.setOperator(operator);
    }

    function testOperatorCannotEnableModulesOrChangeOwners() public {
        bytes memory data = abi.encodeCall(ISafe.enableModule, (address(0xBAD)));
        vm.prank(operator);
        vm.expectRevert();
        module.exec(address(safe), 0, data);
        assertFalse(safe.isModuleEnabled(address(0xBAD)));
    }

    function _pack(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }

    function testBatchAllOrNothing() public {
        bytes memory ok = _pack(address(token), abi.encodeCall(token.transfer, (address(0xB0B), 1e6)));
        bytes memory bad = _pack(address(token), abi.encodeCall(token.approve, (address(0xB0B), 1e6)));
        vm.prank(operator);
        vm.expectRevert();
        module.execBatch(bytes.concat(ok, bad));
        assertEq(token.balanceOf(address(0xB0B)), 0);
        vm.prank(operator);
        module.execBatch(bytes.concat(ok, ok));
        assertEq(token.balanceOf(address(0xB0B)), 2e6);
    }

    function testBatchDelegatecallInsideRefused() public {
        bytes memory data = abi.encodeCall(token.transfer, (address(0xB0B), 1e6));
        bytes memory inner = abi.encodePacked(uint8(1), address(token), uint256(0), data.length, data);
        vm.prank(operator);
        vm.expectRevert(_refused(3, bytes32(0)));
        module.execBatch(inner);
    }

    /// Any target/selector the Safe has not allowlisted is refused, whatever the operator sends.
    function testFuzzUnlistedAlwaysRefused(address target, bytes4 sel, bytes calldata rest) public {
        vm.assume(!(target == address(token) && sel == token.transfer.selector));
        vm.prank(operator);
        vm.expectRevert();
        module.exec(target, 0, bytes.concat(sel, rest));
    }

    /// Truncated or oversized length fields in a batch never execute anything.
    function testFuzzMalformedBatchRefused(bytes calldata junk) public {
        vm.assume(junk.length > 0 && junk.length < 85);
        vm.prank(operator);
        vm.expectRevert();
        module.execBatch(junk);
        assertEq(token.balanceOf(address(safe)), 1_000e6);
    }

    function testFuzzTransferAmount(uint256 amount) public {
        amount = bound(amount, 0, 1_000e6);
        vm.prank(operator);
        module.exec(address(token), 0, abi.encodeCall(token.transfer, (address(0xB0B), amount)));
        assertEq(token.balanceOf(address(0xB0B)) + token.balanceOf(address(safe)), 1_000e6);
    }
}
