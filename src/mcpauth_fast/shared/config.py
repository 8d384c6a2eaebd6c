"""The options of the shared tier (``MCPAuth(shared_cache={...})``), validated up front."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import MCPAuthConfigException

#: The shortest secret accepted for ``key``: the HMAC keys are derived from it.
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class SharedCacheConfig:
    """Where the shared tier lives and how it behaves.

    :param url: the Redis (or Valkey) URL, ``redis://host:6379/0`` or ``rediss://...``.
        With ``cluster``, any one node of the cluster (database 0, no ``unix://``).
    :param cluster: ``url`` is a node of a Redis Cluster: commands go to the node of each
        key (a token's entry and its lock share a hash tag, so they stay on one node),
        stored revocations are loaded from every master, and the listener subscribes on
        one master (a PUBLISH reaches every node), the next in turn after a failure.
    :param key: a secret of at least 32 bytes from configuration, the same on every worker
        and host. Cache keys are HMACs of the token under a key derived from it, and every
        value is authenticated with another: whoever can write to Redis but does not hold
        this secret cannot mint an entry that lets a token in.
    :param prefix: the first part of every Redis key and of the pub/sub channel.
    :param timeout: seconds allowed for one Redis command (and for connecting). Redis on the
        same network answers in a millisecond; past this, the request goes on without it.
    :param max_ttl: the longest a verified result stays in Redis (it never outlives the
        token's ``exp``). For introspected tokens, the longest a token revoked at the
        provider, but not through ``MCPAuth.revoke``, keeps working.
    :param share_jwt: share JWT results too. Off by default: re-checking a signature
        locally costs less than a Redis round trip (README, "Shared cache and revocation").
    :param max_token_lifetime: for a revocation whose tokens' expiry is not known (a ``jti``,
        every token of a subject, an opaque token), how long it is kept: the longest lifetime
        of an access token of your issuers.
    :param retry_min: the first back-off after Redis fails, in seconds (doubles up to
        ``retry_max``).
    :param retry_max: the longest back-off.
    """

    url: str
    key: bytes
    prefix: str = "mcpauth-fast"
    timeout: float = 0.05
    max_ttl: float = 300.0
    share_jwt: bool = False
    max_token_lifetime: float = 86400.0
    retry_min: float = 0.5
    retry_max: float = 30.0
    cluster: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SharedCacheConfig:
        """The config of ``shared_cache={...}``.

        :raises MCPAuthConfigException: an unknown option, a missing ``url``, a short
            ``key``, a non-positive duration.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise _invalid(f"Unknown shared_cache option(s): {', '.join(unknown)}.")
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise _invalid("shared_cache needs a `url` (redis://, rediss:// or unix://).")
        key = options.get("key")
        if isinstance(key, str):
            key = key.encode()
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise _invalid(f"shared_cache needs a `key` of at least {MIN_KEY_BYTES} bytes.")
        values = {**options, "url": url, "key": key}
        config = cls(**values)
        for name in ("timeout", "max_ttl", "max_token_lifetime", "retry_min", "retry_max"):
            value = getattr(config, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise _invalid(f"shared_cache `{name}` must be a positive number of seconds.")
        if not isinstance(config.prefix, str) or not config.prefix:
            raise _invalid("shared_cache `prefix` must be a non-empty string.")
        if not isinstance(config.cluster, bool):
            raise _invalid("shared_cache `cluster` must be True or False.")
        if config.cluster:
            _check_cluster(config)
        return config

    def __repr__(self) -> str:  # the secret never reaches a log
        return f"SharedCacheConfig(url={_without_password(self.url)!r}, prefix={self.prefix!r})"


def _check_cluster(config: SharedCacheConfig) -> None:
    # What redis-py's cluster client would refuse at the first command, refused up front.
    if not config.url.startswith(("redis://", "rediss://")):
        raise _invalid("shared_cache with `cluster` needs a redis:// or rediss:// url.")
    database = urlsplit(config.url).path.strip("/")
    if database not in ("", "0"):
        raise _invalid("shared_cache with `cluster` needs database 0 in the url.")
    # The prefix comes first in every key: a brace in it would be taken as the hash tag.
    if "{" in config.prefix or "}" in config.prefix:
        raise _invalid("shared_cache `prefix` may not contain { or } with `cluster`.")


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


def _invalid(message: str) -> MCPAuthConfigException:
    return MCPAuthConfigException("invalid_option", message)
