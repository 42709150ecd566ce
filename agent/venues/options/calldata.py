"""Calldata for the options market, ERC-20 approvals and the Uniswap V3 hedge swap.

Encoded with eth_abi from the function signatures (which the ABI check in the tests ties to
the compiled contract), so building a batch needs no web3 contract object on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from agent.venues.options.eip712 import QUOTE_ABI, SignedQuote
from agent.venues.options.series import SERIES_ABI, SeriesTerms

ORDER_ABI = f"({QUOTE_ABI},bytes,uint256)"
FILL_QUOTES_SIG = f"fillQuotes({ORDER_ABI}[])"
CREATE_SERIES_SIG = f"createSeries({SERIES_ABI})"
FILL_QUOTES = selector(FILL_QUOTES_SIG)
CREATE_SERIES = selector(CREATE_SERIES_SIG)
APPROVE_SIG = "approve(address,uint256)"
APPROVE = selector(APPROVE_SIG)
EXACT_INPUT_SINGLE_SIG = (
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
EXACT_OUTPUT_SINGLE_SIG = (
    "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
# What an agent module must allow on the market for the venue to trade and settle.
MARKET_FUNCTIONS = (
    FILL_QUOTES_SIG,
    "close(uint256,uint256)",
    "exercise(uint256,uint256)",
    "redeem(uint256)",
    "settle(uint256)",
)


def fill_quotes(orders: Sequence[tuple[SignedQuote, int]]) -> bytes:
    payload = [(sq.quote.as_tuple(), sq.signature, amount) for sq, amount in orders]
    return FILL_QUOTES + encode([f"{ORDER_ABI}[]"], [payload])


def create_series(terms: SeriesTerms) -> bytes:
    return CREATE_SERIES + encode([SERIES_ABI], [terms.as_tuple()])


def approve(spender: str, amount: int) -> bytes:
    return APPROVE + encode(["address", "uint256"], [to_checksum_address(spender), amount])


def cancel_nonces(nonces: Sequence[int]) -> bytes:
    return selector("cancelNonces(uint256[])") + encode(["uint256[]"], [list(nonces)])


def settle(series_id: int) -> bytes:
    return selector("settle(uint256)") + encode(["uint256"], [series_id])


def exercise(series_id: int, amount: int) -> bytes:
    return selector("exercise(uint256,uint256)") + encode(
        ["uint256", "uint256"], [series_id, amount]
    )


def redeem(series_id: int) -> bytes:
    return selector("redeem(uint256)") + encode(["uint256"], [series_id])


def nonce_used(maker: str, nonce: int) -> bytes:
    return selector("nonceUsed(address,uint256)") + encode(
        ["address", "uint256"], [to_checksum_address(maker), nonce]
    )


def balance_of_1155(owner: str, series_id: int) -> bytes:
    return selector("balanceOf(address,uint256)") + encode(
        ["address", "uint256"], [to_checksum_address(owner), series_id]
    )


def erc20_balance_of(owner: str) -> bytes:
    return selector("balanceOf(address)") + encode(["address"], [to_checksum_address(owner)])


def _swap_params(
    token_in: str, token_out: str, fee: int, recipient: str, deadline: int, a: int, b: int
) -> tuple:
    return (
        to_checksum_address(token_in), to_checksum_address(token_out), fee,
        to_checksum_address(recipient), deadline, a, b, 0,
    )  # fmt: skip


def exact_input_single(
    token_in: str, token_out: str, fee: int, recipient: str, deadline: int,
    amount_in: int, min_out: int,
) -> bytes:  # fmt: skip
    p = _swap_params(token_in, token_out, fee, recipient, deadline, amount_in, min_out)
    return selector(EXACT_INPUT_SINGLE_SIG) + encode(
        ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [p]
    )


def exact_output_single(
    token_in: str, token_out: str, fee: int, recipient: str, deadline: int,
    amount_out: int, max_in: int,
) -> bytes:  # fmt: skip
    p = _swap_params(token_in, token_out, fee, recipient, deadline, amount_out, max_in)
    return selector(EXACT_OUTPUT_SINGLE_SIG) + encode(
        ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [p]
    )
