"""fastmcp's ``auth=``, verifying with mcpauth-fast: ``MCPAuth.fastmcp_verifier(...)``.

fastmcp's ``FastMCP(auth=...)`` takes an ``AuthProvider``; resource servers give it a subclass
of ``fastmcp.server.auth.TokenVerifier``. ``fastmcp_token_verifier`` makes one (the class is
made on first use, so this module imports without fastmcp) whose ``verify_token`` is an
``SdkTokenVerifier``'s: the same verifier, cache and revocations as ``bearer_auth_middleware``,
answering fastmcp's own ``AccessToken`` (a subclass of the SDK's, with the claims), built once
per cached ``AuthInfo``. fastmcp's middleware answers 401 and, for the provider's
``required_scopes``, 403; per-component ``auth=`` checks (``require_scopes`` ...) see the token.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import MCPAuthConfigException
from ..mcp_compat import use_access_token_class
from .mcp_sdk import SdkTokenVerifier

_verifier_class: Any = None


def _load_class() -> Any:
    global _verifier_class
    if _verifier_class is not None:
        return _verifier_class
    try:
        from fastmcp.server.auth import AccessToken
        from fastmcp.server.auth import TokenVerifier as FastMCPTokenVerifier
    except ImportError:
        raise MCPAuthConfigException(
            "missing_dependency",
            "fastmcp_verifier needs fastmcp: pip install 'mcpauth-fast[fastmcp]'") from None

    class MCPAuthFastMCPVerifier(FastMCPTokenVerifier):
        """fastmcp's ``TokenVerifier`` over an mcpauth-fast ``SdkTokenVerifier``."""

        def __init__(self, core: SdkTokenVerifier, *, base_url: Any = None,
                     required_scopes: list[str] | None = None,
                     resource_base_url: Any = None) -> None:
            super().__init__(base_url=base_url, required_scopes=required_scopes,
                             resource_base_url=resource_base_url)
            self.core = core
            # The bound method itself: one call less per request than a delegating method.
            self.verify_token = core.verify_token  # type: ignore[method-assign]

        async def verify_token(self, token: str) -> Any:
            return await self.core.verify_token(token)

    MCPAuthFastMCPVerifier.__qualname__ = "MCPAuthFastMCPVerifier"
    # fastmcp's checks and get_access_token() expect its AccessToken (the SDK's, with the
    # claims as a dict); the SDK's own code takes it too, as a subclass.
    use_access_token_class(AccessToken)
    _verifier_class = MCPAuthFastMCPVerifier
    return _verifier_class


def fastmcp_token_verifier(core: SdkTokenVerifier, *, base_url: Any = None,
                           required_scopes: list[str] | None = None,
                           resource_base_url: Any = None) -> Any:
    """A ``fastmcp.server.auth.TokenVerifier`` whose ``verify_token`` is ``core``'s.

    :param base_url: this server's base URL (fastmcp's, for its metadata routes).
    :param required_scopes: scopes every request needs: fastmcp answers 403 without them.
    :param resource_base_url: the protected resource's public base URL (fastmcp's).
    :raises MCPAuthConfigException: fastmcp is not installed.
    """
    return _load_class()(core, base_url=base_url, required_scopes=required_scopes,
                         resource_base_url=resource_base_url)
