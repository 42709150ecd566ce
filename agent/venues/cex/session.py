"""The HTTP session we hand to ccxt: no request is ever re-sent behind our back.

aiohttp (3.9+) silently re-sends an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) once
when the connection drops before the response. ccxt sends Deribit's private calls - ``buy``
and ``sell`` included - as GETs, so a connection that drops after the venue accepted an order
would place it a second time without anyone noticing. The only switch for that in aiohttp is
private (``ClientSession._retry_connection``), so we use its public middleware hook instead:
a dropped connection surfaces as :class:`ResponseLost` (a ``ClientConnectionError``, which
ccxt maps to ``ExchangeNotAvailable``) and aiohttp's retry loop lets it through. The adapter
then decides: it reconciles the order by its client id / label before sending anything again.

ccxt accepts the session through its public ``session`` constructor option and does not close
a session it did not create; :class:`~agent.venues.cex.adapter.CexVenue` closes it.
"""

from __future__ import annotations

import socket

import aiohttp


class ResponseLost(aiohttp.ClientConnectionError):
    """The connection dropped after the request was sent; it was not re-sent."""


async def no_transparent_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never connected: nothing reached the venue, aiohttp does not retry these
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
        raise ResponseLost(
            f"{request.method} {request.url.path}: connection lost before the response "
            "(not re-sent; the venue may have acted on it)"
        ) from e


def new_session() -> aiohttp.ClientSession:
    """A session like the one ccxt would build (cleanup of closed sockets, dual stack)."""
    connector = aiohttp.TCPConnector(
        enable_cleanup_closed=True, family=socket.AF_UNSPEC, happy_eyeballs_delay=0
    )
    return aiohttp.ClientSession(connector=connector, middlewares=(no_transparent_resend,))
