// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {DevToken} from "../../tokens/DevToken.sol";

contract DevTokenTest is Test {
    function testDecimalsAndMinterOnly(uint8 dec, address other, uint128 amount) public {
        vm.assume(other != address(this) && other != address(0));
        DevToken t = new DevToken("T", "T", dec);
        assertEq(t.decimals(), dec);
        t.mint(other, amount);
        assertEq(t.balanceOf(other), amount);
        vm.prank(other);
        vm.expectRevert(abi.encodeWithSelector(DevToken.NotMinter.selector, other));
        t.mint(other, 1);
    }
}
