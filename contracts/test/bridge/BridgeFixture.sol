// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {BridgeEscrow} from "../../bridge/BridgeEscrow.sol";
import {BridgeL2} from "../../bridge/BridgeL2.sol";
import {BridgedToken} from "../../bridge/BridgedToken.sol";
import {BridgeMessages} from "../../bridge/BridgeMessages.sol";

/// @dev A plain mintable ERC-20 standing in for USDC (6 decimals) in unit tests.
contract TestToken is ERC20 {
    constructor() ERC20("Test USD", "TUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @dev Both bridge ends on one forge chain (L1 chain id == L2 chain id here); 2-of-3 relayers.
abstract contract BridgeFixture is Test {
    uint256 internal constant FEE_BPS_L1 = 10; // 0.1 %
    uint256 internal constant FEE_BPS_L2 = 5;
    uint64 internal constant CHALLENGE = 1 hours;

    BridgeEscrow internal escrow;
    BridgeL2 internal l2;
    TestToken internal token;
    BridgedToken internal bridged;
    uint256[] internal relayerKeys;
    address internal owner = makeAddr("owner");
    address internal feeSink = makeAddr("feeSink");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public virtual {
        relayerKeys.push(0xA11CE);
        relayerKeys.push(0xB0B);
        relayerKeys.push(0xCAFE);
        address[] memory relayers = new address[](3);
        for (uint256 i; i < 3; ++i) {
            relayers[i] = vm.addr(relayerKeys[i]);
        }
        escrow = new BridgeEscrow(owner, relayers, 2, block.chainid, FEE_BPS_L1, feeSink, CHALLENGE);
        l2 = new BridgeL2(owner, relayers, 2, block.chainid, address(escrow), FEE_BPS_L2, feeSink);
        vm.prank(owner);
        escrow.setCounterpart(address(l2));
        token = new TestToken();
        vm.prank(owner);
        bridged = BridgedToken(l2.registerToken(address(token), "Bridged TUSD", "TUSD.b", 6));
    }

    /// @dev Signatures by `keys` over `digest`, concatenated in ascending signer order.
    function _sign(bytes32 digest, uint256[] memory keys) internal pure returns (bytes memory sigs) {
        // insertion sort by address: n is tiny
        for (uint256 i = 1; i < keys.length; ++i) {
            uint256 k = keys[i];
            uint256 j = i;
            while (j > 0 && vm.addr(keys[j - 1]) > vm.addr(k)) {
                keys[j] = keys[j - 1];
                --j;
            }
            keys[j] = k;
        }
        for (uint256 i; i < keys.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], digest);
            sigs = bytes.concat(sigs, r, s, bytes1(v));
        }
    }

    function _keys(uint256 n) internal view returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            keys[i] = relayerKeys[i];
        }
    }

    function _deposit(address from, address to, uint256 amount) internal returns (BridgeMessages.Deposit memory d) {
        token.mint(from, amount);
        vm.startPrank(from);
        token.approve(address(escrow), amount);
        uint256 nonce = escrow.depositNonce();
        escrow.deposit(address(token), to, amount);
        vm.stopPrank();
        d = BridgeMessages.Deposit({
            sourceChainId: block.chainid,
            escrow: address(escrow),
            token: address(token),
            sender: from,
            recipient: to,
            amount: amount - escrow.feeFor(amount),
            nonce: nonce
        });
    }

    function _depositSigs(BridgeMessages.Deposit memory d, uint256 n) internal view returns (bytes memory) {
        return _sign(l2.digest(BridgeMessages.hash(d)), _keys(n));
    }

    function _withdraw(address from, address to, uint256 amount) internal returns (BridgeMessages.Withdrawal memory w) {
        uint256 nonce = l2.withdrawalNonce();
        vm.prank(from);
        l2.withdraw(address(bridged), to, amount);
        w = BridgeMessages.Withdrawal({
            sourceChainId: block.chainid,
            source: address(l2),
            token: address(token),
            sender: from,
            recipient: to,
            amount: amount - l2.feeFor(amount),
            nonce: nonce
        });
    }

    function _withdrawalSigs(BridgeMessages.Withdrawal memory w, uint256 n) internal view returns (bytes memory) {
        return _sign(escrow.digest(BridgeMessages.hash(w)), _keys(n));
    }
}
