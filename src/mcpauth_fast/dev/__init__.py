"""What a developer runs, never on a request's path: the ``mcpauth-fast`` command and its parts.

- :mod:`.cli`: the ``mcpauth-fast`` command (also ``python -m mcpauth_fast``);
- :mod:`.demo`: ``mcpauth-fast demo``, an MCP server behind bearer auth;
- :mod:`.issuer`: the embedded development issuer (discovery metadata and JWKS over HTTP);
- :mod:`.keystore`: the development issuer's persisted keys and minting without a server;
- :mod:`.dpop_client`: DPoP proof keys and an httpx auth that sends DPoP-bound tokens;
- :mod:`.signing`: JWS signing, the project's one signer (the dev issuer and the tests use it);
- :mod:`.bench`: ``mcpauth-fast bench``, in-process timings against the floors.

Nothing outside this package imports it, except ``mcpauth_fast.__main__``.
"""
