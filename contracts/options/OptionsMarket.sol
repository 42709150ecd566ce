// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";
import {OptionMath, Series} from "./OptionMath.sol";

/// @title OptionsMarket
/// @notice European, cash-settled, fully collateralized options traded by RFQ.
/// @dev Each series is an ERC-1155 id; holding the token is the long position. Writers' short
///      positions and their collateral are recorded per series and are not transferable. Makers
///      sign EIP-712 quotes off-chain; a taker fills one or several in one call. Every quote
///      carries a nonce that a fill or a cancel consumes, so no quote can be replayed.
contract OptionsMarket is ERC1155Supply, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using OptionMath for Series;

    /// @notice The maker's side of a quote.
    enum Side {
        MakerBuys, // the taker writes (posts collateral) and the maker pays the premium
        MakerSells // the maker writes and the taker pays the premium
    }

    /// @notice A maker's firm quote, signed with EIP-712.
    /// @param price Premium in quote-asset base units per one whole unit of the underlying.
    /// @param size Largest fill, in underlying base units.
    /// @param expiry Last second (unix) at which the quote may be filled.
    struct Quote {
        address maker;
        address taker; // zero: anyone may fill
        uint256 seriesId;
        Side side;
        uint256 price;
        uint256 size;
        uint64 expiry;
        uint256 nonce;
    }

    /// @notice One quote to fill, its signature, and the amount to fill (<= quote.size).
    struct Order {
        Quote quote;
        bytes signature;
        uint256 amount;
    }

    struct SeriesState {
        Series terms;
        uint64 unit; // 10 ** underlying decimals
        uint128 settlementPrice; // quote base units per whole underlying; 0 until settled
        bool settled;
        uint256 collateral; // total collateral held for this series
    }

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address maker,address taker,uint256 seriesId,uint8 side,uint256 price,uint256 size,uint64 expiry,uint256 nonce)"
    );

    /// @notice Oldest feed answer accepted at settlement, in seconds before now.
    uint256 public immutable maxFeedAge;

    mapping(uint256 id => SeriesState) internal _series;
    mapping(uint256 id => mapping(address writer => uint256)) public shortOf;
    mapping(uint256 id => mapping(address writer => uint256)) public collateralOf;
    /// @notice Used nonces as a bitmap: word `nonce >> 8`, bit `nonce & 0xff`.
    mapping(address maker => mapping(uint256 word => uint256 bits)) public nonceBitmap;

    error InvalidSeries(uint8 reason);
    error SeriesExists(uint256 id);
    error UnknownSeries(uint256 id);
    error SeriesExpired(uint256 id, uint64 expiry);
    error SeriesNotExpired(uint256 id, uint64 expiry, uint256 nowTs);
    error AlreadySettled(uint256 id);
    error NotSettled(uint256 id);
    error StalePrice(uint256 id, uint256 updatedAt, uint256 nowTs);
    error InvalidPrice(uint256 id, int256 answer);
    error QuoteExpired(bytes32 quoteHash, uint64 expiry, uint256 nowTs);
    error NonceUsed(address maker, uint256 nonce);
    error InvalidSignature(address maker, bytes32 digest);
    error TakerNotAllowed(address taker, address allowed);
    error InvalidAmount(uint256 amount, uint256 max);
    error NoOrders();

    event SeriesCreated(uint256 indexed id, Series terms);
    event Written(uint256 indexed id, address indexed writer, address indexed holder, uint256 amount, uint256 collateral);
    event QuoteFilled(
        bytes32 indexed quoteHash,
        address indexed maker,
        address indexed taker,
        uint256 seriesId,
        Side side,
        uint256 amount,
        uint256 premium
    );
    event NonceCancelled(address indexed maker, uint256 nonce);
    event Closed(uint256 indexed id, address indexed writer, uint256 amount, uint256 released);
    event Settled(uint256 indexed id, uint256 price, uint80 roundId);
    event Exercised(uint256 indexed id, address indexed holder, uint256 amount, uint256 payout);
    event Redeemed(uint256 indexed id, address indexed writer, uint256 amount, uint256 payout);

    constructor(uint256 maxFeedAge_) ERC1155("") EIP712("AgentOptions", "1") {
        maxFeedAge = maxFeedAge_;
    }

    // ------------------------------------------------------------------ series

    /// @notice List a series. Anyone may; the id is the hash of the terms.
    /// @param s The series terms (see {Series}).
    /// @return id The series' ERC-1155 id.
    function createSeries(Series calldata s) external returns (uint256 id) {
        // One check per reason, so a caller can tell which field is wrong.
        uint8 reason;
        if (s.underlying == address(0) || s.quoteAsset == address(0) || s.underlying == s.quoteAsset) reason = 1;
        else if (s.feed == address(0)) reason = 2;
        else if (s.strike == 0) reason = 3;
        else if (s.expiry <= block.timestamp) reason = 4;
        else if (s.collateral != s.quoteAsset && !(s.isCall && s.collateral == s.underlying)) reason = 5;
        else if (s.isCall && s.collateral == s.quoteAsset ? s.cap <= s.strike : s.cap != 0) reason = 6;
        if (reason != 0) revert InvalidSeries(reason);

        id = seriesId(s);
        if (_series[id].unit != 0) revert SeriesExists(id);
        _series[id] = SeriesState({
            terms: s,
            unit: uint64(10 ** IERC20Metadata(s.underlying).decimals()),
            settlementPrice: 0,
            settled: false,
            collateral: 0
        });
        emit SeriesCreated(id, s);
    }

    /// @notice The id a series has (or would have).
    function seriesId(Series memory s) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(s)));
    }

    /// @notice The terms and state of a series.
    function series(uint256 id) external view returns (SeriesState memory) {
        return _series[id];
    }

    /// @notice Collateral needed to write `amount` options of series `id`.
    function collateralFor(uint256 id, uint256 amount) external view returns (uint256) {
        SeriesState storage st = _existing(id);
        return st.terms.maxPayoff(st.unit, amount);
    }

    // ------------------------------------------------------------------ writing

    /// @notice Write `amount` options, posting full collateral, and mint the longs to `holder`.
    /// @param id Series id.
    /// @param amount Option amount in underlying base units.
    /// @param holder Receiver of the long tokens.
    function write(uint256 id, uint256 amount, address holder) external nonReentrant {
        if (amount == 0) revert InvalidAmount(0, type(uint256).max);
        _write(id, msg.sender, holder, amount);
    }

    /// @notice Before settlement, a writer holding longs of the same series burns both and gets
    ///         back the collateral no longer needed.
    /// @param id Series id.
    /// @param amount Amount to close (<= both the caller's short and long).
    function close(uint256 id, uint256 amount) external nonReentrant {
        SeriesState storage st = _existing(id);
        if (st.settled) revert AlreadySettled(id);
        uint256 short = shortOf[id][msg.sender];
        if (amount == 0 || amount > short) revert InvalidAmount(amount, short);
        _burn(msg.sender, id, amount);
        uint256 remaining = short - amount;
        uint256 held = collateralOf[id][msg.sender];
        uint256 keep = st.terms.maxPayoff(st.unit, remaining);
        uint256 released = held > keep ? held - keep : 0;
        shortOf[id][msg.sender] = remaining;
        collateralOf[id][msg.sender] = held - released;
        st.collateral -= released;
        IERC20(st.terms.collateral).safeTransfer(msg.sender, released);
        emit Closed(id, msg.sender, amount, released);
    }

    // ------------------------------------------------------------------ RFQ

    /// @notice Fill several signed quotes in one call; all or nothing.
    /// @param orders Quotes, signatures and amounts. The caller is the taker of each.
    /// @return premiums Premium paid per order, in quote-asset base units.
    function fillQuotes(Order[] calldata orders) external nonReentrant returns (uint256[] memory premiums) {
        if (orders.length == 0) revert NoOrders();
        premiums = new uint256[](orders.length);
        for (uint256 i; i < orders.length; ++i) {
            premiums[i] = _fill(orders[i]);
        }
    }

    /// @notice Cancel quotes by nonce; a cancelled nonce can never be filled.
    /// @param nonces Nonces of the caller's quotes.
    function cancelNonces(uint256[] calldata nonces) external {
        for (uint256 i; i < nonces.length; ++i) {
            _useNonce(msg.sender, nonces[i]);
            emit NonceCancelled(msg.sender, nonces[i]);
        }
    }

    /// @notice Whether a maker's nonce is filled or cancelled.
    function nonceUsed(address maker, uint256 nonce) public view returns (bool) {
        return nonceBitmap[maker][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice The EIP-712 struct hash of a quote.
    function hashQuote(Quote calldata q) public pure returns (bytes32) {
        return keccak256(
            abi.encode(QUOTE_TYPEHASH, q.maker, q.taker, q.seriesId, q.side, q.price, q.size, q.expiry, q.nonce)
        );
    }

    /// @notice The digest a maker signs for `q` (EIP-712, this contract's domain).
    function quoteDigest(Quote calldata q) external view returns (bytes32) {
        return _hashTypedDataV4(hashQuote(q));
    }

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Fix the settlement price of an expired series from its feed.
    /// @dev Refuses before expiry, a price observed before expiry, a stale or incomplete round,
    ///      and a non-positive answer.
    /// @param id Series id.
    function settle(uint256 id) external {
        SeriesState storage st = _existing(id);
        if (st.settled) revert AlreadySettled(id);
        Series memory s = st.terms;
        if (block.timestamp < s.expiry) revert SeriesNotExpired(id, s.expiry, block.timestamp);
        AggregatorV3Interface feed = AggregatorV3Interface(s.feed);
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = feed.latestRoundData();
        if (updatedAt < s.expiry || block.timestamp - updatedAt > maxFeedAge || answeredInRound < roundId) {
            revert StalePrice(id, updatedAt, block.timestamp);
        }
        if (answer <= 0) revert InvalidPrice(id, answer);
        uint256 qUnit = 10 ** IERC20Metadata(s.quoteAsset).decimals();
        uint256 price = Math.mulDiv(uint256(answer), qUnit, 10 ** feed.decimals());
        if (price == 0 || price > type(uint128).max) revert InvalidPrice(id, answer);
        st.settled = true;
        st.settlementPrice = uint128(price);
        emit Settled(id, price, roundId);
    }

    /// @notice Burn settled longs and receive their payoff in the collateral asset.
    /// @param id Series id.
    /// @param amount Long amount to exercise.
    function exercise(uint256 id, uint256 amount) external nonReentrant returns (uint256 payout) {
        SeriesState storage st = _existing(id);
        if (!st.settled) revert NotSettled(id);
        if (amount == 0) revert InvalidAmount(0, balanceOf(msg.sender, id));
        _burn(msg.sender, id, amount);
        payout = st.terms.payoff(st.unit, st.settlementPrice, amount, false);
        st.collateral -= payout;
        IERC20(st.terms.collateral).safeTransfer(msg.sender, payout);
        emit Exercised(id, msg.sender, amount, payout);
    }

    /// @notice After settlement, a writer takes back its collateral minus what its short owes.
    /// @param id Series id.
    function redeem(uint256 id) external nonReentrant returns (uint256 payout) {
        SeriesState storage st = _existing(id);
        if (!st.settled) revert NotSettled(id);
        uint256 short = shortOf[id][msg.sender];
        uint256 held = collateralOf[id][msg.sender];
        if (short == 0 && held == 0) revert InvalidAmount(0, 0);
        uint256 owed = st.terms.payoff(st.unit, st.settlementPrice, short, true);
        payout = held - owed; // held >= maxPayoff(short) >= owed, kept by every write and close
        shortOf[id][msg.sender] = 0;
        collateralOf[id][msg.sender] = 0;
        st.collateral -= payout;
        IERC20(st.terms.collateral).safeTransfer(msg.sender, payout);
        emit Redeemed(id, msg.sender, short, payout);
    }

    // ------------------------------------------------------------------ internals

    function _fill(Order calldata o) internal returns (uint256 premium) {
        Quote calldata q = o.quote;
        SeriesState storage st = _existing(q.seriesId);
        bytes32 structHash = hashQuote(q);
        if (block.timestamp > q.expiry) revert QuoteExpired(structHash, q.expiry, block.timestamp);
        if (q.taker != address(0) && q.taker != msg.sender) revert TakerNotAllowed(msg.sender, q.taker);
        if (o.amount == 0 || o.amount > q.size) revert InvalidAmount(o.amount, q.size);
        bytes32 digest = _hashTypedDataV4(structHash);
        if (!SignatureChecker.isValidSignatureNow(q.maker, digest, o.signature)) {
            revert InvalidSignature(q.maker, digest);
        }
        _useNonce(q.maker, q.nonce);

        premium = Math.mulDiv(q.price, o.amount, st.unit, Math.Rounding.Ceil);
        (address writer, address holder) = q.side == Side.MakerSells ? (q.maker, msg.sender) : (msg.sender, q.maker);
        // Premium first, then the write (which mints and may call back into the holder).
        IERC20(st.terms.quoteAsset).safeTransferFrom(holder, writer, premium);
        _write(q.seriesId, writer, holder, o.amount);
        emit QuoteFilled(structHash, q.maker, msg.sender, q.seriesId, q.side, o.amount, premium);
    }

    function _write(uint256 id, address writer, address holder, uint256 amount) internal {
        SeriesState storage st = _existing(id);
        if (st.settled || block.timestamp >= st.terms.expiry) revert SeriesExpired(id, st.terms.expiry);
        uint256 short = shortOf[id][writer] + amount;
        uint256 need = st.terms.maxPayoff(st.unit, short);
        uint256 held = collateralOf[id][writer];
        uint256 add = need > held ? need - held : 0;
        shortOf[id][writer] = short;
        collateralOf[id][writer] = held + add;
        st.collateral += add;
        IERC20(st.terms.collateral).safeTransferFrom(writer, address(this), add);
        _mint(holder, id, amount, "");
        emit Written(id, writer, holder, amount, add);
    }

    function _useNonce(address maker, uint256 nonce) internal {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = nonceBitmap[maker][nonce >> 8];
        if (word & bit != 0) revert NonceUsed(maker, nonce);
        nonceBitmap[maker][nonce >> 8] = word | bit;
    }

    function _existing(uint256 id) internal view returns (SeriesState storage st) {
        st = _series[id];
        if (st.unit == 0) revert UnknownSeries(id);
    }
}
