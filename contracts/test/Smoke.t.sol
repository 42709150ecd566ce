// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {Test} from "forge-std/Test.sol";
contract SmokeTest is Test { function testFuzzAdd(uint64 a) public pure { assertEq(uint256(a) + 1 - 1, a); } }
