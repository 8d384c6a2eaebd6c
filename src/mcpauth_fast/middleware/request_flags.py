"""What of a request needs a look beyond its token: an ``Origin`` header (a browser, for the
DNS-rebinding check) or a form body (a token may be in it too). One scan of the raw headers,
whose answer is 0 for the common request.

Plain Python on purpose: a compiled scan saved 1,661 of 227,245 instructions of a cache-hit
request end to end (0.7 %, ``bench/e2e_instructions.py --only noauth fast-same``), less than
the 1 % a compiled function must earn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: ``request_flags`` bits: an ``Origin`` header; a ``content-type`` of a form body.
ORIGIN_HEADER = 1
FORM_BODY = 2
_ORIGIN = b"origin"
_CONTENT_TYPE = b"content-type"
_FORM_TYPE = b"application/x-www-form-urlencoded"


def request_flags(headers: Iterable[Any]) -> int:
    """What of a request needs a look beyond its token, from raw ASGI ``scope["headers"]``.

    ``ORIGIN_HEADER`` when an ``origin`` header is present; ``FORM_BODY`` when a
    ``content-type`` value starts with ``application/x-www-form-urlencoded`` (after spaces and
    tabs); 0 for the common request. Names and the media type are compared
    case-insensitively.
    """
    flags = 0
    for name, value in headers:
        n = len(name)
        if n == 6 and name.lower() == _ORIGIN:
            flags |= ORIGIN_HEADER
        elif (n == 12 and name.lower() == _CONTENT_TYPE
              and value.lstrip(b" \t")[:33].lower() == _FORM_TYPE):
            flags |= FORM_BODY
    return flags
