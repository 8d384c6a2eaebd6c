"""URL comparisons of the protocol: audiences, origins, and the warning for a plain-http resource.

RFC 3986 section 6.2.2.1: the scheme and the host of a URI are case-insensitive, the rest is
not. The MCP authorization spec asks servers to compare URL audiences that way; Origin values
(RFC 6454) are a scheme, a host and a port. Only ASCII letters are folded: a non-ASCII host is
compared as given (browsers send the punycode form).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable

logger = logging.getLogger("mcpauth_fast")

#: ``scheme "://" authority`` at the start of a URI; the authority ends at ``/``, ``?``, ``#``.
_AUTHORITY_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)")
#: A registered name, an IPv4 address or an IPv6 literal in brackets (RFC 3986 section 3.2.2,
#: without the sub-delims no real host name carries: ``*`` is no host).
_HOST = re.compile(r"[A-Za-z0-9\-._~%]+|\[[0-9A-Fa-f:.]+\]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def fold_url(value: str) -> str:
    """``value`` with the scheme and the host of a ``scheme://authority...`` URI in lower case
    (userinfo, port, path, query and fragment as given); any other value unchanged."""
    match = _AUTHORITY_URI.match(value)
    if match is None:
        return value
    authority = match.group(2)
    userinfo, at, host = authority.rpartition("@")
    return (match.group(1).translate(_ASCII_LOWER) + "://" + userinfo + at
            + host.translate(_ASCII_LOWER) + value[match.end():])


class Audiences(frozenset[str]):
    """The accepted audiences, with their case-folded forms computed once (``folded``).

    A plain frozenset to the exact check that every request runs; ``folded`` serves only the
    rare token whose ``aud`` differs from every accepted value in the case of a URL's scheme or
    host.
    """

    __slots__ = ("folded",)
    folded: frozenset[str]

    def __new__(cls, values: Iterable[str]) -> Audiences:
        self = super().__new__(cls, values)
        self.folded = frozenset(fold_url(value) for value in self)
        return self


def folded_audience_matches(audience: object, audiences: frozenset[str]) -> bool:
    """Whether the token's ``audience`` (a string or a list) names one of ``audiences`` once
    the scheme and host of URLs are case-folded on both sides."""
    folded = getattr(audiences, "folded", None)
    if folded is None:  # audiences built without ``Audiences`` (a direct check_policy call)
        folded = frozenset(fold_url(value) for value in audiences if type(value) is str)
    if type(audience) is str:
        return fold_url(audience) in folded
    if isinstance(audience, list):
        return any(type(item) is str and fold_url(item) in folded for item in audience)
    return False


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of ``host[:port]`` (an IPv6 host in brackets, kept with them), the
    host case-folded and port None when absent; None when malformed."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, rest = authority[: end + 1], authority[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
    if _HOST.fullmatch(host) is None:
        return None
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
            return None
        port = int(port_text)
        if port > 65535:
            return None
    return host.translate(_ASCII_LOWER), port


def url_origin(url: str) -> tuple[str, str, int | None] | None:
    """The RFC 6454 origin ``(scheme, host, port)`` of an absolute URL, folded, the default
    port of http(s)/ws(s) filled in; None when ``url`` has no ``scheme://host``."""
    match = _AUTHORITY_URI.match(url)
    if match is None:
        return None
    scheme = match.group(1).translate(_ASCII_LOWER)
    parts = split_authority(match.group(2).rpartition("@")[2])
    if parts is None:
        return None
    host, port = parts
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)


def is_loopback(host: str) -> bool:
    """``localhost`` (and its subdomains, RFC 6761), 127.0.0.0/8 or ``::1``."""
    host = host.translate(_ASCII_LOWER).rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_warned: set[str] = set()


def warn_if_insecure(resource: str) -> None:
    """Log a WARNING, once per URL, when a protected resource is served over plain http on a
    host other than loopback: tokens sent to it can be read on the way."""
    origin = url_origin(resource)
    if origin is None or origin[0] != "http" or is_loopback(origin[1]) or resource in _warned:
        return
    _warned.add(resource)
    logger.warning(
        "the protected resource %s is served over plain http: bearer tokens sent to it can be "
        "read and replayed by anyone on the way; use https (http is fine on loopback only)",
        resource)
