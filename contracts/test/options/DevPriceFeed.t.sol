// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {DevPriceFeed} from "../../options/DevPriceFeed.sol";

contract DevPriceFeedTest is Test {
    DevPriceFeed internal feed;

    function setUp() public {
        vm.warp(1_800_000_000);
        feed = new DevPriceFeed(8, "ETH / USD", 3000e8, address(this));
    }

    function test_latestRoundData_tracksPushes() public {
        (uint80 id, int256 answer,, uint256 updatedAt, uint80 answeredIn) = feed.latestRoundData();
        assertEq(id, 1);
        assertEq(answer, 3000e8);
        assertEq(updatedAt, block.timestamp);
        assertEq(answeredIn, 1);
        vm.warp(block.timestamp + 100);
        feed.pushAnswer(3100e8);
        (id, answer,,,) = feed.latestRoundData();
        assertEq(id, 2);
        assertEq(answer, 3100e8);
        (, answer,,,) = feed.getRoundData(1);
        assertEq(answer, 3000e8);
    }

    function test_pushAnswer_rejectsBadInput() public {
        vm.expectRevert(abi.encodeWithSelector(DevPriceFeed.InvalidAnswer.selector, int256(0), block.timestamp));
        feed.pushAnswer(0);
        vm.expectRevert(abi.encodeWithSelector(DevPriceFeed.InvalidAnswer.selector, int256(1), block.timestamp + 1));
        feed.pushAnswerAt(1, block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(DevPriceFeed.NoRoundData.selector, uint80(9)));
        feed.getRoundData(9);
    }

    function test_pushAnswer_onlyOwner() public {
        vm.prank(makeAddr("stranger"));
        vm.expectRevert();
        feed.pushAnswer(1);
    }
}
