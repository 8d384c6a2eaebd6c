"""Finding and fetching authorization server metadata: well-known URLs, fetches, lazy discovery.

The well-known URL rules of RFC 8414 and OpenID Connect Discovery, the blocking and async
fetches of a metadata document (``fetch_server_config`` and its twins: size-capped, issuer
checked, give or take one trailing slash) and ``AuthServerDiscoveryConfig``, an authorization
server known by issuer only whose metadata is fetched on first use, once for all concurrent
callers.

:mod:`mcpauth_fast.config` re-exports every name here; import them from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .authserver import (
    AuthorizationServerMetadata,
    AuthServerConfig,
    AuthServerType,
    check_server_config,
)
from .exceptions import AuthServerExceptionCode, MCPAuthAuthServerException, MCPAuthConfigException

__all__ = [
    "FETCH_TIMEOUT", "MAX_METADATA_BYTES", "AuthServerDiscoveryConfig", "Record",
    "ServerMetadataPaths", "TranspileData", "fetch_server_config",
    "fetch_server_config_async", "fetch_server_config_by_well_known_url",
    "fetch_server_config_by_well_known_url_async", "get_oauth_well_known_url",
    "get_oidc_well_known_url", "issuer_variants",
]

Record = dict[str, Any]
TranspileData = Callable[[Record], Record]

#: Seconds allowed for one metadata fetch (mcpauth uses 10 s).
FETCH_TIMEOUT = 10.0
#: Largest metadata document accepted; real ones are a few KiB.
MAX_METADATA_BYTES = 1 << 20


class ServerMetadataPaths(str, Enum):
    """The well-known paths of OAuth (RFC 8414) and OIDC discovery documents."""

    OAUTH = "/.well-known/oauth-authorization-server"
    OIDC = "/.well-known/openid-configuration"


# ---------------------------------------------------------------- well-known URLs


def _smart_join(*parts: str) -> str:
    # mcpauth's join: strip slashes, join, and let a POSIX path collapse "//" and "/./".
    return PurePosixPath("/".join(part.strip("/") for part in parts)).as_posix()


def get_oauth_well_known_url(issuer: str) -> str:
    """RFC 8414 section 3.1: the well-known path goes *before* the issuer's path.

    ``https://a.example/tenant`` -> ``https://a.example/.well-known/oauth-authorization-server/tenant``.
    """
    parsed = urlparse(issuer)
    return urlunparse(
        parsed._replace(path=_smart_join(ServerMetadataPaths.OAUTH.value, parsed.path))
    )


def get_oidc_well_known_url(issuer: str) -> str:
    """OpenID Connect Discovery: the well-known path is *appended* to the issuer.

    ``https://a.example/tenant`` -> ``https://a.example/tenant/.well-known/openid-configuration``.
    """
    parsed = urlparse(issuer)
    return urlunparse(
        parsed._replace(path=_smart_join(parsed.path, ServerMetadataPaths.OIDC.value))
    )


def _well_known_url(issuer: str, type: AuthServerType) -> str:
    if type == AuthServerType.OAUTH:
        return get_oauth_well_known_url(issuer)
    return get_oidc_well_known_url(issuer)


def issuer_variants(issuer: str) -> tuple[str, str] | tuple[str]:
    """``issuer``, then the same with one trailing slash added or removed (none for ``//``).

    The metadata fetched for ``issuer`` may name either (Auth0 publishes
    ``https://tenant.example/``); a token must then carry the metadata's exact value.
    """
    if issuer.endswith("//"):
        return (issuer,)
    if issuer.endswith("/"):
        return (issuer, issuer[:-1])
    return (issuer, issuer + "/")


def _check_response(response: httpx.Response) -> None:
    response.raise_for_status()
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_METADATA_BYTES:
        raise ValueError(f"response is larger than {MAX_METADATA_BYTES} bytes")


def _grow(body: bytearray, chunk: bytes) -> None:
    body += chunk
    if len(body) > MAX_METADATA_BYTES:
        raise ValueError(f"response is larger than {MAX_METADATA_BYTES} bytes")


@contextmanager
def _fetch_errors(url: str) -> Iterator[None]:
    try:
        yield
    except MCPAuthAuthServerException:
        raise
    except Exception as exc:
        # str(exc) of httpx/orjson errors names the URL or a position, never the response body.
        raise MCPAuthConfigException(
            "fetch_server_config_error",
            f"Failed to fetch server config from {url}: {exc}",
            cause=exc,
        ) from exc


def _build(
    url: str,
    body: bytes,
    type: AuthServerType,
    transpile_data: TranspileData | None,
    issuer: str | None,
) -> AuthServerConfig:
    data = orjson.loads(body)
    if transpile_data is not None:
        data = transpile_data(data)
    try:
        metadata = AuthorizationServerMetadata.model_validate(data)
    except pydantic.ValidationError as exc:
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_METADATA, cause=exc
        ) from exc
    # RFC 8414 section 3.3: otherwise one server could speak for another issuer. A slash more
    # or less is tolerated, as mcpauth (no check at all) accepts such providers; the metadata
    # keeps its exact value, which is then the one trusted in tokens.
    if issuer is not None and metadata.issuer not in issuer_variants(issuer):
        raise MCPAuthAuthServerException(
            AuthServerExceptionCode.INVALID_SERVER_METADATA,
            cause={
                "error_description": f"The metadata at {url} is for issuer "
                f"{metadata.issuer!r}, not the requested {issuer!r}."
            },
        )
    return AuthServerConfig(metadata=metadata, type=type)


_ACCEPT_JSON = {"accept": "application/json"}


def _fetch_sync(
    url: str,
    type: AuthServerType,
    transpile: TranspileData | None,
    issuer: str | None,
    timeout: float,
) -> AuthServerConfig:
    body = bytearray()
    with _fetch_errors(url):
        # Redirects are followed, as mcpauth (requests) does; the issuer check still applies.
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            with client.stream("GET", url, headers=_ACCEPT_JSON) as response:
                _check_response(response)
                for chunk in response.iter_bytes():
                    _grow(body, chunk)
        return _build(url, bytes(body), type, transpile, issuer)


async def _fetch_async(
    url: str,
    type: AuthServerType,
    transpile: TranspileData | None,
    issuer: str | None,
    timeout: float,
) -> AuthServerConfig:
    body = bytearray()
    with _fetch_errors(url):
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            async with client.stream("GET", url, headers=_ACCEPT_JSON) as response:
                _check_response(response)
                async for chunk in response.aiter_bytes():
                    _grow(body, chunk)
        return _build(url, bytes(body), type, transpile, issuer)


def fetch_server_config_by_well_known_url(
    well_known_url: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """Fetch (blocking) the metadata document at ``well_known_url``.

    :param well_known_url: the URL of the metadata document.
    :param type: the type of the authorization server.
    :param transpile_data: turns the fetched JSON into RFC 8414 metadata, for servers that
        almost conform.
    :param timeout: seconds allowed for the whole request.
    :raises MCPAuthConfigException: ``fetch_server_config_error`` on a network, HTTP, size or
        JSON error, or when ``transpile_data`` fails.
    :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` when the metadata is invalid.
    """
    return _fetch_sync(well_known_url, type, transpile_data, None, timeout)


async def fetch_server_config_by_well_known_url_async(
    well_known_url: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """The async twin of ``fetch_server_config_by_well_known_url`` (same errors)."""
    return await _fetch_async(well_known_url, type, transpile_data, None, timeout)


def fetch_server_config(
    issuer: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """Fetch (blocking, for import time) the metadata of ``issuer`` from its well-known URL.

    OAuth servers are asked at ``get_oauth_well_known_url(issuer)``, OIDC providers at
    ``get_oidc_well_known_url(issuer)``. The document's ``issuer`` must equal ``issuer``
    (RFC 8414 section 3.3) give or take one trailing slash (``issuer_variants``); the
    configuration keeps the document's exact value, the one tokens must carry.

    :raises MCPAuthConfigException: ``fetch_server_config_error`` on a network, HTTP, size or
        JSON error, or when ``transpile_data`` fails.
    :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` when the metadata is invalid
        or names another issuer (beyond a trailing slash).
    """
    return _fetch_sync(_well_known_url(issuer, type), type, transpile_data, issuer, timeout)


async def fetch_server_config_async(
    issuer: str,
    type: AuthServerType,
    transpile_data: TranspileData | None = None,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AuthServerConfig:
    """The async twin of ``fetch_server_config`` (same URL rules, checks and errors)."""
    return await _fetch_async(_well_known_url(issuer, type), type, transpile_data, issuer, timeout)


# ---------------------------------------------------------------- lazy discovery


class AuthServerDiscoveryConfig(BaseModel):
    """An authorization server known only by issuer and type; its metadata is fetched lazily.

    Accepted wherever an ``AuthServerConfig`` is. The first ``resolve()`` fetches the metadata;
    concurrent first callers share that one fetch; a success is kept for the life of the
    object, a failure is not (the next call fetches again). The fetched configuration must
    pass ``validate_server_config``. As with ``fetch_server_config``, the metadata's
    ``issuer`` may add or drop a trailing slash; tokens must then carry the metadata's exact
    value, not ``issuer`` (``MCPAuth`` refuses the other variant once the metadata is known).
    """

    model_config = ConfigDict(extra="forbid")

    issuer: str
    type: AuthServerType
    transpile_data: TranspileData | None = Field(default=None, exclude=True, repr=False)

    _config: AuthServerConfig | None = PrivateAttr(default=None)
    _task: asyncio.Task[AuthServerConfig] | None = PrivateAttr(default=None)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> AuthServerDiscoveryConfig:
        # An in-flight asyncio.Task cannot be deep-copied; the copy starts its own fetch.
        clone = self.model_copy()
        clone._task = None
        return clone

    def resolved(self) -> AuthServerConfig | None:
        """The fetched configuration, or None while it has not been fetched successfully."""
        return self._config

    async def resolve(self) -> AuthServerConfig:
        """The configuration, fetched on the first call (one fetch for all concurrent callers).

        :raises MCPAuthConfigException: the fetch failed (network, HTTP, size, JSON).
        :raises MCPAuthAuthServerException: ``INVALID_SERVER_METADATA`` (bad metadata, other
            issuer beyond a trailing slash) or ``INVALID_SERVER_CONFIG`` (fails the MCP checks).
        """
        if self._config is not None:
            return self._config
        loop = asyncio.get_running_loop()
        task = self._task
        # A fetch started on another (perhaps closed) event loop cannot be awaited here.
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._fetch())
            task.add_done_callback(_consume_exception)
            self._task = task
        # shield: a cancelled caller must not cancel the fetch the other callers wait for.
        return await asyncio.shield(task)

    async def _fetch(self) -> AuthServerConfig:
        try:
            config = await fetch_server_config_async(self.issuer, self.type, self.transpile_data)
            check_server_config(config, f"authorization server {self.issuer!r}")
        except BaseException:
            if self._task is asyncio.current_task():
                self._task = None
            raise
        self._config = config
        self._task = None
        return config


def _consume_exception(task: asyncio.Task[AuthServerConfig]) -> None:
    # Every caller may have been cancelled; do not let asyncio log "never retrieved".
    if not task.cancelled():
        task.exception()
