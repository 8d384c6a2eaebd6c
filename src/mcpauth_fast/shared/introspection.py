"""The shared tier behind an ``IntrospectionVerifier``: the adapter between the two.

The verifier shares raw introspection responses (``introspection.cache.SharedTier``); the
tier shares sealed records under keyed hashes. Here a response is stored as the record
``{"r": response, "u": until}`` (``until``: when the asking worker's entry ends), in a
namespace of the endpoint and the client asking it, so no raw token reaches Redis (a member
equal to the token is dropped, should a provider echo it), and a response read back is
checked again by the verifier like a fresh one.

Across workers, one introspection per token (``follow``): after a miss in Redis, a worker
takes a short lock on the token's hash; one that finds it taken waits for the entry of the
worker that holds it (released once shared, or on failure), and introspects itself only when
none comes.

The same adapter is the verifier's ``admission``: revocations (``MCPAuth.revoke``) apply to
introspected tokens as to JWTs, by token, ``jti`` or subject.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from ..introspection.cache import SharedAnswer
from ..types import AuthInfo
from .tier import SharedTier


def _answer(record: Mapping[str, Any] | None) -> SharedAnswer | None:
    response, until = (record.get("r"), record.get("u")) if record is not None else (None, None)
    if isinstance(response, dict) and isinstance(until, (int, float)):
        return response, float(until)
    return None


class IntrospectionShare:
    """One verifier's view of the tier.

    :param tier: the ``MCPAuth``'s shared tier.
    :param client_id: the client that introspects (a provider may answer per client).
    :param wait: the longest a worker waits for another's answer before asking itself
        (the introspection timeout: the other worker's call is over by then).
    """

    def __init__(self, tier: SharedTier, client_id: str, wait: float = 5.0) -> None:
        self.tier = tier
        self.client_id = client_id
        self.wait = wait
        self._namespaces: dict[str, str] = {}

    def _namespace(self, endpoint: str) -> str:
        namespace = self._namespaces.get(endpoint)
        if namespace is None:
            namespace = self.tier.namespace("introspection", endpoint, self.client_id)
            self._namespaces[endpoint] = namespace
        return namespace

    # -- introspection.cache.SharedTier ------------------------------------------------------

    async def get(self, namespace: str, token: str) -> SharedAnswer | None:
        return _answer(await self.tier.get_record(self._namespace(namespace), token))

    async def put(self, namespace: str, token: str, response: Mapping[str, Any],
                  until: float) -> None:
        kept = {name: value for name, value in response.items() if value != token}
        await self.tier.put_record(self._namespace(namespace), token,
                                   {"r": kept, "u": until}, until - time.time())

    async def follow(self, namespace: str, token: str
                     ) -> tuple[SharedAnswer | None, bool]:
        """After a miss: ``(None, True)`` this worker holds the lock and introspects (and
        then ``release``s); ``(answer, False)`` another worker's shared answer; ``(None,
        False)`` none came (the other worker failed, the wait ran out, Redis is down):
        introspect without the lock."""
        tier, ns = self.tier, self._namespace(namespace)
        claimed = await tier.claim(ns, token, self.wait)
        if claimed:
            # The holder may have shared its answer and let go between our miss and our claim.
            found = await self.get(namespace, token)
            if found is not None:
                await tier.release(ns, token)
                return found, False
        if claimed is not False:
            return None, bool(claimed)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        delay = 0.002
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            record, locked = await tier.peek(ns, token)
            answer = _answer(record)
            if answer is not None:
                return answer, False
            if not locked:
                break
        return None, False

    async def release(self, namespace: str, token: str) -> None:
        await self.tier.release(self._namespace(namespace), token)

    # -- introspection.cache.Admission ---------------------------------------------------------

    def refused(self, token: str) -> str | None:
        if self.tier.revocations.token_revoked(token):
            self.tier.counts["revoked"] += 1
            return "the token is revoked"
        return None

    async def admit(self, info: AuthInfo) -> None:
        await self.tier.check(info)
