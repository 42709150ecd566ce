// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GuardBase} from "./GuardBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";

/// @dev Gas (cold accounts and slots, as in a fresh transaction; excluding the 21k base and calldata) of one
///      guarded V3-style swap (exactInputSingle USDC -> WETH, real token transfers) through
///      module.execute: scopes only, + price checker, + value guard over 4 tracked tokens, + OP_TOUCHES (the guard
///      reads the 2 declared tokens). `forge test
///      --match-path '*valueGuard.gas*' -vv` prints the figures; the first swap of a window also values the whole
///      tracked set. (The Python bench measures the same against execTransaction on anvil with real Uniswap.)
contract PolicyModuleGasTest is GuardBase {
    function _measure() internal returns (uint256 first, uint256 steady) {
        bytes memory d = _v3InSingle(address(gUsdc), address(gWeth), 3_000e6, 0.98e18);
        vm.prank(operator);
        uint256 g = gasleft();
        module.execute(address(dex), 0, d, 0);
        first = g - gasleft();
        // As a later transaction would see it: every account and slot cold again, the window already open.
        address[11] memory touched = [
            address(module), address(safe), address(dex), address(gUsdc), address(gWeth), address(gDai),
            address(gWbtc), address(fUsdc), address(fWeth), address(fDai), address(fWbtc)
        ];
        for (uint256 i; i < touched.length; ++i) {
            vm.cool(touched[i]);
        }
        vm.cool(address(swapChecker));
        vm.cool(operator);
        vm.prank(operator);
        g = gasleft();
        module.execute(address(dex), 0, d, 0);
        steady = g - gasleft();
    }


    function testGasGuardedSwap() public {
        uint256 snap = vm.snapshotState();
        _scopeSwaps(false);
        (, uint256 bare) = _measure();
        vm.revertToState(snap);
        _scopeSwaps(true);
        (, uint256 priced) = _measure();
        vm.revertToState(snap);
        _scopeSwaps(true);
        _guardOn();
        (uint256 firstInWindow, uint256 guarded) = _measure();
        vm.revertToState(snap);
        _scopeSwaps(true);
        _declareSingleSwap();
        _guardOn();
        (, uint256 declared) = _measure();
        emit log_named_uint("execute, scopes only", bare);
        emit log_named_uint("execute, + price checker", priced);
        emit log_named_uint("execute, + price checker + value guard (4 tokens)", guarded);
        emit log_named_uint("execute, same, first swap of a window", firstInWindow);
        emit log_named_uint("execute, + value guard reading the 2 declared tokens (OP_TOUCHES)", declared);
        emit log_named_uint("value guard share (bps of guarded)", (guarded - priced) * 1e4 / guarded);
        // Sanity: each layer costs something, and the guard stays well under one more swap.
        assertGt(priced, bare);
        assertGt(guarded, priced);
        assertLt(guarded - priced, bare);
        // The two tokens the swap cannot move are not read.
        assertLt(declared, guarded);
    }
}
