"""The shared tier behind an ``IntrospectionVerifier``: the adapter between the two.

The verifier shares raw introspection responses (``introspection.cache.SharedTier``); the
tier shares sealed records under keyed hashes. Here a response is stored as the record
``{"r": response}``, in a namespace of the endpoint and the client asking it, so no raw token
reaches Redis (a member equal to the token is dropped, should a provider echo it), and a
response read back is checked again by the verifier like a fresh one.

The same adapter is the verifier's ``admission``: revocations (``MCPAuth.revoke``) apply to
introspected tokens as to JWTs, by token, ``jti`` or subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import AuthInfo
from .tier import SharedTier


class IntrospectionShare:
    """One verifier's view of the tier.

    :param tier: the ``MCPAuth``'s shared tier.
    :param client_id: the client that introspects (a provider may answer per client).
    """

    def __init__(self, tier: SharedTier, client_id: str) -> None:
        self.tier = tier
        self.client_id = client_id
        self._namespaces: dict[str, str] = {}

    def _namespace(self, endpoint: str) -> str:
        namespace = self._namespaces.get(endpoint)
        if namespace is None:
            namespace = self.tier.namespace("introspection", endpoint, self.client_id)
            self._namespaces[endpoint] = namespace
        return namespace

    # -- introspection.cache.SharedTier ------------------------------------------------------

    async def get(self, namespace: str, token: str) -> Mapping[str, Any] | None:
        record = await self.tier.get_record(self._namespace(namespace), token)
        response = record.get("r") if record is not None else None
        return response if isinstance(response, dict) else None

    async def put(self, namespace: str, token: str, response: Mapping[str, Any],
                  ttl: float) -> None:
        kept = {name: value for name, value in response.items() if value != token}
        await self.tier.put_record(self._namespace(namespace), token, {"r": kept}, ttl)

    # -- introspection.cache.Admission ---------------------------------------------------------

    def refused(self, token: str) -> str | None:
        if self.tier.revocations.token_revoked(token):
            self.tier.counts["revoked"] += 1
            return "the token is revoked"
        return None

    async def admit(self, info: AuthInfo) -> None:
        await self.tier.check(info)
