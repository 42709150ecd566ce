// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GuardBase} from "./GuardBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";
import {MockERC20} from "../options/mocks/MockERC20.sol";
import {MockDex} from "./mocks/MockDex.sol";

/// @dev A target that lies about what it moves: it names one token in its calldata (where an OP_TOUCHES
///      declaration points) and pulls another from the Safe. Only a declaration the owners trust for a venue's
///      code narrows what the guard measures; these tests pin every case where it must not.
contract Leaky {
    address internal immutable _to;

    constructor(address to_) {
        _to = to_;
    }

    /// @dev The named word is a uint256, as a target that does not validate addresses would read it.
    function leak(uint256, /* named */ address moved, uint256 amount) external payable {
        MockERC20(moved).transferFrom(msg.sender, _to, amount);
    }

    function leakPath(address[] calldata, /* named */ address moved, uint256 amount) external {
        MockERC20(moved).transferFrom(msg.sender, _to, amount);
    }

    function leakV3Path(bytes calldata, /* named */ address moved, uint256 amount) external {
        MockERC20(moved).transferFrom(msg.sender, _to, amount);
    }

    function noop() external {}
}

/// @dev OP_TOUCHES: the value guard reads only the tracked assets every call of an execution declared, except
///      at a window's first execution, for a call with native value, for a call (or batch entry) without a
///      declaration, and for a declaration it cannot read cleanly: then it measures every tracked asset.
contract PolicyModuleTouchesTest is GuardBase {
    Leaky internal leaky;
    uint256 internal constant AMOUNT = 100_000e18; // 100k DAI, far above the 3% per-execution bound

    function setUp() public override {
        super.setUp();
        leaky = new Leaky(attacker);
        vm.startPrank(address(safe));
        gDai.approve(address(leaky), type(uint256).max);
        PolicyModule.Condition[] memory one = new PolicyModule.Condition[](1);
        one[0] = _cond(10, 0, 0, 0); // touches the address at word 0
        module.setScope(ROLE, address(leaky), Leaky.leak.selector, 1 ether, one);
        one[0] = _cond(10, 3, 1, 0); // first/last of the address[] whose length is word 3
        module.setScope(ROLE, address(leaky), Leaky.leakPath.selector, 0, one);
        one[0] = _cond(10, 3, 2, 0); // first/last token of the V3 path whose length is word 3
        module.setScope(ROLE, address(leaky), Leaky.leakV3Path.selector, 0, one);
        module.setScope(ROLE, address(leaky), Leaky.noop.selector, 0, new PolicyModule.Condition[](0));
        vm.stopPrank();
        _scopeSwaps(true);
        _guardOn();
        _openWindow();
    }

    /// @dev The window's first execution (it values everything); later ones rely on declarations.
    function _openWindow() internal {
        (uint8 st,) = _opStatus(address(dex), _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.98e18));
        assertEq(st, 0);
    }

    function _leak(address named) internal view returns (bytes memory) {
        return abi.encodeCall(Leaky.leak, (uint256(uint160(named)), address(gDai), AMOUNT));
    }

    function _daiLost() internal view returns (uint256) {
        return 1_000_000e18 - gDai.balanceOf(address(safe));
    }

    function testDeclarationIsTrustedWithinAnOpenWindow() public {
        // The boundary the compiler respects by declaring only for the Uniswap routers: a target that moves
        // a token it does not name is not measured.
        (uint8 st,) = _opStatus(address(leaky), _leak(address(gWeth)));
        assertEq(st, 0);
        assertEq(_daiLost(), AMOUNT);
    }

    function testDeclaredTokenIsMeasured() public {
        (uint8 st,) = _opStatus(address(leaky), _leak(address(gDai)));
        assertEq(st, 26);
        assertEq(_daiLost(), 0);
    }

    function testFirstExecutionOfAWindowMeasuresAll() public {
        vm.warp(block.timestamp + PERIOD);
        _refreshFeeds();
        (uint8 st,) = _opStatus(address(leaky), _leak(address(gWeth)));
        assertEq(st, 26);
    }

    function testDirtyAddressMeasuresAll() public {
        bytes memory d = _leak(address(gWeth));
        d[4] = 0x01; // high bits of word 0: the declaration is not an address
        (uint8 st,) = _opStatus(address(leaky), d);
        assertEq(st, 26);
    }

    function testNativeValueMeasuresAll() public {
        vm.deal(address(safe), 1 ether);
        vm.prank(operator);
        (bool ok, bytes memory err) =
            address(module).call(abi.encodeCall(PolicyModule.execute, (address(leaky), 1, _leak(address(gWeth)), 0)));
        assertFalse(ok);
        assertEq(uint8(uint256(bytes32(_slice(err, 4)))), 26);
    }

    function testUndeclaredBatchEntryMeasuresAll() public {
        bytes memory txs = abi.encodePacked(
            _batchItem(address(leaky), 0, _leak(address(gWeth))),
            _batchItem(address(leaky), 0, abi.encodeCall(Leaky.noop, ()))
        );
        vm.prank(operator);
        (bool ok, bytes memory err) = address(module).call(
            abi.encodeCall(PolicyModule.execute, (multiSend, 0, abi.encodeWithSignature("multiSend(bytes)", txs), 1))
        );
        assertFalse(ok);
        assertEq(uint8(uint256(bytes32(_slice(err, 4)))), 26);
    }

    function testDeclaredBatchMeasuresTheUnion() public {
        bytes memory txs = abi.encodePacked(
            _batchItem(address(leaky), 0, _leak(address(gWeth))), _batchItem(address(leaky), 0, _leak(address(gDai)))
        );
        vm.prank(operator);
        (bool ok, bytes memory err) = address(module).call(
            abi.encodeCall(PolicyModule.execute, (multiSend, 0, abi.encodeWithSignature("multiSend(bytes)", txs), 1))
        );
        assertFalse(ok);
        assertEq(uint8(uint256(bytes32(_slice(err, 4)))), 26);
    }

    function testArrayDeclarationNamesFirstAndLast() public {
        bytes memory named = abi.encodeCall(Leaky.leakPath, (_path3(address(gWeth), address(gUsdc), address(gDai)), address(gDai), AMOUNT));
        (uint8 st,) = _opStatus(address(leaky), named);
        assertEq(st, 26);
        // DAI in the middle of the path is not declared (a router's middle hops never touch the Safe)
        bytes memory middle = abi.encodeCall(Leaky.leakPath, (_path3(address(gWeth), address(gDai), address(gUsdc)), address(gDai), AMOUNT));
        (st,) = _opStatus(address(leaky), middle);
        assertEq(st, 0);
    }

    function testPathDeclarationNamesFirstAndLast() public {
        bytes memory last = abi.encodeCall(Leaky.leakV3Path, (_v3Path(address(gWeth), address(gUsdc), address(gDai)), address(gDai), AMOUNT));
        (uint8 st,) = _opStatus(address(leaky), last);
        assertEq(st, 26);
        bytes memory first = abi.encodeCall(Leaky.leakV3Path, (_v3Path(address(gDai), address(gUsdc), address(gWeth)), address(gDai), AMOUNT));
        (st,) = _opStatus(address(leaky), first);
        assertEq(st, 26);
    }

    function testMalformedPathMeasuresAll() public {
        // 44 bytes is no path a router would end where the declaration reads: measure everything
        bytes memory odd = abi.encodePacked(address(gWeth), uint24(3000), address(gUsdc), uint8(0));
        (uint8 st,) = _opStatus(address(leaky), abi.encodeCall(Leaky.leakV3Path, (odd, address(gDai), AMOUNT)));
        assertEq(st, 26);
    }

    /// @dev Whatever the calldata of a declared call, the declaration either names the moved token, or
    ///      falls back to measuring everything: a leak of a named token is always refused.
    function testFuzzNamedLeakAlwaysRefused(uint8 kind, uint256 junk, uint8 len) public {
        bytes memory d;
        kind %= 3;
        if (kind == 0) {
            d = _leak(address(gDai));
        } else if (kind == 1) {
            address[] memory p = new address[](1 + (len % 4));
            for (uint256 i; i < p.length; ++i) {
                p[i] = address(uint160(uint256(keccak256(abi.encode(junk, i)))));
            }
            p[junk % p.length] = address(gDai);
            if (junk % 2 == 0) p[0] = address(gDai);
            else p[p.length - 1] = address(gDai);
            d = abi.encodeCall(Leaky.leakPath, (p, address(gDai), AMOUNT));
        } else {
            bytes memory path = new bytes(20 + 23 * (1 + (len % 3)) + (junk % 2 == 0 ? 0 : junk % 23));
            for (uint256 i; i < path.length; ++i) {
                path[i] = bytes1(uint8(uint256(keccak256(abi.encode(junk, i)))));
            }
            bytes20 dai = bytes20(address(gDai));
            for (uint256 i; i < 20; ++i) {
                path[i] = dai[i];
            }
            d = abi.encodeCall(Leaky.leakV3Path, (path, address(gDai), AMOUNT));
        }
        (uint8 st,) = _opStatus(address(leaky), d);
        assertEq(st, 26);
        assertEq(_daiLost(), 0);
    }

    function testHonestDeclaredSwapPassesAndBooks() public {
        _declareSingleSwap();
        (,,,,, uint256 base, uint256 lossBefore) = module.valueGuard();
        (uint8 st,) = _opStatus(address(dex), _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.98e18));
        assertEq(st, 0);
        (,,,,, uint256 base2, uint256 lossAfter) = module.valueGuard();
        assertEq(base2, base);
        assertGt(lossAfter, lossBefore); // the dex fee is booked from the two declared tokens
    }

    function testReadBackKeepsDeclarations() public view {
        (, PolicyModule.Condition[] memory c) =
            module.getScope(module.scopeKey(ROLE, address(leaky), Leaky.leakPath.selector));
        assertEq(c.length, 1);
        assertEq(c[0].op, 10);
        assertEq(c[0].word, 3);
        assertEq(c[0].aux, 1);
    }


    function _slice(bytes memory b, uint256 from) internal pure returns (bytes memory out) {
        out = new bytes(b.length - from);
        for (uint256 i; i < out.length; ++i) {
            out[i] = b[from + i];
        }
    }
}
