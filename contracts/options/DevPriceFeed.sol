// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";

/// @title DevPriceFeed
/// @notice A Chainlink AggregatorV3-compatible feed for devnets and tests: the owner pushes
///         answers, each in a new round. Never deploy it where a real oracle is expected.
contract DevPriceFeed is AggregatorV3Interface, Ownable {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    /// @notice The requested round does not exist.
    error NoRoundData(uint80 roundId);
    /// @notice A pushed answer must be positive and not dated in the future.
    error InvalidAnswer(int256 answer, uint256 updatedAt);

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    uint8 public immutable override decimals;
    string public override description;
    uint80 public latestRound;
    mapping(uint80 roundId => Round) internal _rounds;

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer, address owner_) Ownable(owner_) {
        decimals = decimals_;
        description = description_;
        if (initialAnswer != 0) _push(initialAnswer, block.timestamp);
    }

    /// @notice Feed implementation version (Chainlink reports 4 for OCR aggregators; we are not one).
    function version() external pure override returns (uint256) {
        return 1;
    }

    /// @notice Push a new answer observed now.
    /// @param answer The price, scaled by `decimals`.
    function pushAnswer(int256 answer) external onlyOwner {
        _push(answer, block.timestamp);
    }

    /// @notice Push a new answer with an explicit observation time (to replay history or make a stale feed).
    /// @param answer The price, scaled by `decimals`.
    /// @param updatedAt Observation time; must not be in the future.
    function pushAnswerAt(int256 answer, uint256 updatedAt) external onlyOwner {
        _push(answer, updatedAt);
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) external view override returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = _rounds[roundId];
        if (r.updatedAt == 0) revert NoRoundData(roundId);
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        uint80 id = latestRound;
        Round memory r = _rounds[id];
        if (r.updatedAt == 0) revert NoRoundData(id);
        return (id, r.answer, r.startedAt, r.updatedAt, id);
    }

    function _push(int256 answer, uint256 updatedAt) internal {
        if (answer <= 0 || updatedAt == 0 || updatedAt > block.timestamp) revert InvalidAnswer(answer, updatedAt);
        uint80 id = latestRound + 1;
        latestRound = id;
        _rounds[id] = Round(answer, uint64(updatedAt), uint64(updatedAt));
        emit AnswerUpdated(answer, id, updatedAt);
    }
}
