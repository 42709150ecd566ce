// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PolicyBase, RecordingRouter} from "./PolicyBase.sol";
import {PolicyModule} from "../../policy/PolicyModule.sol";

/// @dev The co-signature requirement: a role marked by the Safe executes only through executeCosigned with
///      the co-signer's EIP-712 signature over the exact call; every other check still applies.
contract PolicyModuleCosignTest is PolicyBase {
    uint8 internal constant COSIGNATURE_REQUIRED = 29;
    uint8 internal constant COSIGNATURE_INVALID = 30;
    uint8 internal constant COSIGNATURE_EXPIRED = 31;
    uint8 internal constant COSIGNATURE_REPLAYED = 32;
    uint8 internal constant NOT_OPERATOR = 1;
    uint8 internal constant PARAM_NOT_SAFE = 11;

    uint256 internal cosignerPk = 0xC0516;
    address internal cosigner;

    function setUp() public override {
        super.setUp();
        cosigner = vm.addr(cosignerPk);
        _scopeExactInputSingle();
        vm.prank(address(safe));
        module.setCosigner(ROLE, cosigner);
    }

    /// @dev The digest computed here from first principles, independent of the module's view.
    function _digest(
        address mod,
        uint256 chainId,
        address to,
        uint256 value,
        bytes memory data,
        uint8 op,
        uint256 nonce,
        uint256 deadline
    ) internal pure returns (bytes32) {
        bytes32 dom = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("PolicyModule"),
                keccak256("1"),
                chainId,
                mod
            )
        );
        bytes32 st = keccak256(
            abi.encode(
                keccak256(
                    "CoSign(address to,uint256 value,bytes32 dataHash,uint8 operation,uint256 nonce,uint256 deadline)"
                ),
                to,
                value,
                keccak256(data),
                op,
                nonce,
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", dom, st));
    }

    function _sig(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    function _swap() internal view returns (bytes memory) {
        return _eis(address(usdc), address(weth), address(safe), 100e6, 1);
    }

    function _cosign(bytes memory data, uint256 nonce, uint256 deadline) internal view returns (bytes memory) {
        return _sig(
            cosignerPk, _digest(address(module), block.chainid, address(router), 0, data, 0, nonce, deadline)
        );
    }

    function test_readBack() public view {
        assertEq(module.cosignerOf(ROLE), cosigner);
        (uint16[] memory roles, address[] memory who) = module.cosigners();
        assertEq(roles.length, 1);
        assertEq(roles[0], ROLE);
        assertEq(who[0], cosigner);
    }

    function test_unsetRemovesRequirement() public {
        vm.prank(address(safe));
        module.setCosigner(ROLE, address(0));
        (uint16[] memory roles,) = module.cosigners();
        assertEq(roles.length, 0);
        assertTrue(_exec(address(router), 0, _swap()));
    }

    /// @dev The requirement follows the role whatever the order of configuration: an operator added to a
    ///      co-signed role later, moved into one, or out of one, and a second co-signed role.
    function test_requirementFollowsTheRoleInAnyOrder() public {
        address op2 = makeAddr("op2");
        vm.startPrank(address(safe));
        module.setOperator(op2, ROLE); // added after the role got its co-signer
        vm.stopPrank();
        _expectDeny(COSIGNATURE_REQUIRED, bytes32(uint256(ROLE)));
        vm.prank(op2);
        module.execute(address(router), 0, _swap(), 0);

        vm.startPrank(address(safe));
        module.setOperator(op2, 2); // moved to a role without a co-signer: its own scopes decide
        vm.stopPrank();
        assertEq(module.roleOf(op2), 2);
        _expectDeny(5, bytes32(bytes20(address(router))) | (bytes32(RecordingRouter.exactInputSingle.selector) >> 160));
        vm.prank(op2);
        module.execute(address(router), 0, _swap(), 0);

        vm.startPrank(address(safe));
        module.setCosigner(2, cosigner); // the second role gets one too
        module.setCosigner(ROLE, address(0)); // and the first loses its own
        vm.stopPrank();
        _expectDeny(COSIGNATURE_REQUIRED, bytes32(uint256(2)));
        vm.prank(op2);
        module.execute(address(router), 0, _swap(), 0);
        assertTrue(_exec(address(router), 0, _swap()));
        assertEq(module.roleOf(operator), ROLE);

        vm.prank(address(safe));
        module.setOperator(op2, 0);
        assertEq(module.roleOf(op2), 0);
        _expectDeny(NOT_OPERATOR, bytes32(uint256(uint160(op2))));
        vm.prank(op2);
        module.execute(address(router), 0, _swap(), 0);
    }

    function test_onlySafeConfigures() public {
        _expectDeny(3, bytes32(uint256(uint160(operator))));
        vm.prank(operator);
        module.setCosigner(ROLE, operator);
        vm.prank(address(safe));
        _expectDeny(17, bytes32(uint256(0)));
        module.setCosigner(0, cosigner);
    }

    function test_viewMatchesIndependentDigest() public view {
        bytes memory d = _swap();
        assertEq(
            module.cosignDigest(address(router), 0, d, 0, 7, 100),
            _digest(address(module), block.chainid, address(router), 0, d, 0, 7, 100)
        );
    }

    function test_cosignedCallExecutes() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        vm.prank(operator);
        assertTrue(module.executeCosigned(address(router), 0, d, 0, 1, dl, sig));
        assertTrue(module.cosignNonceUsed(1));
        assertEq(module.currentAllowance(USDC_ALLOWANCE).balance, 900e6);
    }

    /// @dev The attacker holds the operator key only: plain execute is refused.
    function test_stolenOperatorKeyAlone() public {
        _expectDeny(COSIGNATURE_REQUIRED, bytes32(uint256(ROLE)));
        _exec(address(router), 0, _swap());
        // ... and a co-signature it forges with its own (operator) key is not the co-signer's
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes32 dg = module.cosignDigest(address(router), 0, d, 0, 1, dl);
        bytes memory forged = _sig(uint256(keccak256("operator")), dg);
        _expectDeny(COSIGNATURE_INVALID, dg);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, forged);
    }

    /// @dev The attacker holds the co-signer key only: it is no operator.
    function test_stolenCosignerKeyAlone() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        _expectDeny(NOT_OPERATOR, bytes32(uint256(uint160(cosigner))));
        vm.prank(cosigner);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
        _expectDeny(NOT_OPERATOR, bytes32(uint256(uint160(cosigner))));
        vm.prank(cosigner);
        module.execute(address(router), 0, d, 0);
    }

    function test_otherChainRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig =
            _sig(cosignerPk, _digest(address(module), block.chainid + 1, address(router), 0, d, 0, 1, dl));
        vm.expectPartialRevert(PolicyModule.PolicyViolation.selector);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
    }

    function test_otherModuleRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _sig(cosignerPk, _digest(address(0xBEEF), block.chainid, address(router), 0, d, 0, 1, dl));
        bytes32 dg = module.cosignDigest(address(router), 0, d, 0, 1, dl);
        _expectDeny(COSIGNATURE_INVALID, dg);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
    }

    function test_otherNonceRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        bytes32 dg = module.cosignDigest(address(router), 0, d, 0, 2, dl);
        _expectDeny(COSIGNATURE_INVALID, dg);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 2, dl, sig);
    }

    function test_expiredRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        vm.warp(dl + 1);
        _expectDeny(COSIGNATURE_EXPIRED, bytes32(dl));
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
    }

    function test_tamperedBodyRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        bytes memory bigger = _eis(address(usdc), address(weth), address(safe), 900e6, 1);
        bytes32 dg = module.cosignDigest(address(router), 0, bigger, 0, 1, dl);
        _expectDeny(COSIGNATURE_INVALID, dg);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, bigger, 0, 1, dl, sig);
    }

    function test_replayRefused() public {
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
        _expectDeny(COSIGNATURE_REPLAYED, bytes32(uint256(1)));
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
    }

    /// @dev A valid co-signature does not lift the scope's conditions.
    function test_conditionsStillApply() public {
        bytes memory d = _eis(address(usdc), address(weth), operator, 100e6, 1); // recipient not the Safe
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        _expectDeny(PARAM_NOT_SAFE, bytes32(uint256(uint160(operator))));
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
        assertFalse(module.cosignNonceUsed(1)); // the revert rolled the consumption back
    }

    function test_roleWithoutCosignerRefusesCosignedEntry() public {
        vm.prank(address(safe));
        module.setCosigner(ROLE, address(0));
        bytes memory d = _swap();
        uint256 dl = block.timestamp + 60;
        bytes memory sig = _cosign(d, 1, dl);
        _expectDeny(COSIGNATURE_INVALID, bytes32(uint256(ROLE)));
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, 1, dl, sig);
    }

    /// @dev Change any one digest field after signing: the module refuses.
    function testFuzz_anyFieldChangedRefused(uint8 field, uint256 delta, uint256 nonce, uint32 ttl) public {
        field = uint8(bound(field, 0, 5));
        delta = bound(delta, 1, type(uint128).max);
        ttl = uint32(bound(ttl, 1, 365 days));
        bytes memory d = _swap();
        uint256 dl = block.timestamp + ttl;
        bytes memory sig = _cosign(d, nonce, dl);
        address to = address(router);
        uint256 value;
        uint8 op;
        uint256 n = nonce;
        uint256 dl2 = dl;
        if (field == 0) to = address(uint160(to) ^ uint160(delta));
        else if (field == 1) value = delta;
        else if (field == 2) d = abi.encodePacked(d, bytes1(uint8(delta)));
        else if (field == 3) op = 1;
        else if (field == 4) n = nonce ^ delta;
        else dl2 = dl + delta;
        vm.expectPartialRevert(PolicyModule.PolicyViolation.selector);
        vm.prank(operator);
        module.executeCosigned(to, value, d, op, n, dl2, sig);
        assertFalse(module.cosignNonceUsed(nonce));
    }

    /// @dev The untouched call with the same random fields executes once, then never again.
    function testFuzz_validOnceOnly(uint256 nonce, uint32 ttl) public {
        ttl = uint32(bound(ttl, 0, 365 days));
        bytes memory d = _swap();
        uint256 dl = block.timestamp + ttl;
        bytes memory sig = _cosign(d, nonce, dl);
        vm.prank(operator);
        assertTrue(module.executeCosigned(address(router), 0, d, 0, nonce, dl, sig));
        _expectDeny(COSIGNATURE_REPLAYED, bytes32(nonce));
        vm.prank(operator);
        module.executeCosigned(address(router), 0, d, 0, nonce, dl, sig);
    }
}
