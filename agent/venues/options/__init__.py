"""The on-chain options venue: RFQ to market makers, quote checks against our model and the
policy (EIP-712 signatures verified by recomputing the digest), fills through the Safe.

Public API: :func:`agent.venues.options.deploy.deploy_options`,
:class:`agent.venues.options.venue.OptionsVenue`, the quote types in ``eip712``, series terms
in ``series``, pure checks in ``checks``.
"""
