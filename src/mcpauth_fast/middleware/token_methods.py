"""RFC 6750 section 2: "Clients MUST NOT use more than one method to transmit the token in each
request." A request whose token is in the Authorization header and also in an
``access_token`` query parameter or form field gets 400 ``invalid_request``.

Only the rare request looks here: one with a query string, or with a form body (the
middleware's header scan tells). The query is parsed only when it may name ``access_token``;
a form body is read up to ``MAX_FORM_BODY_BYTES`` and the very same messages are replayed to
the app. Names are percent-decoded as the app's own parser would decode them, so
``access%5Ftoken`` is no way around the rule.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Receive, Scope

from .._limits import MAX_FORM_BODY_BYTES
from ..exceptions import MCPAuthRequestException, invalid_request
from .body import BodyTooLarge, read_body, replay

_NAME = "access_token"
_RAW_NAME = b"access_token"

TWO_METHODS = (
    "The request sends an access token in more than one way. Please send it in the "
    "`Authorization` header only."
)


def names_access_token(data: bytes) -> bool:
    """Whether the ``application/x-www-form-urlencoded`` ``data`` has an ``access_token``."""
    if _RAW_NAME not in data and b"%" not in data:
        return False  # the name can be neither literal nor encoded: no parse
    # latin-1 maps every byte: no decoding error, whatever the client sent.
    fields = parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return any(name == _NAME for name, _ in fields)


async def check_one_method(scope: Scope, receive: Receive, form: bool) -> Receive:
    """Refuse a token sent in the query or the form body as well as in the header.

    :param form: the request has a form body (``FORM_BODY`` of ``request_flags``).
    :returns: the ``receive`` to hand the app (the form body, read here, replayed).
    :raises MCPAuthBearerAuthException: ``invalid_request`` (400).
    :raises MCPAuthRequestException: a form body over ``MAX_FORM_BODY_BYTES`` (413).
    """
    query = scope.get("query_string")
    if query and names_access_token(bytes(query)):
        raise invalid_request(TWO_METHODS)
    if not form or scope["type"] != "http":
        return receive
    try:
        messages, body = await read_body(receive, MAX_FORM_BODY_BYTES)
    except BodyTooLarge as error:
        raise MCPAuthRequestException(
            413, "request_too_large",
            f"The form body is larger than {error.limit} bytes, the most this server reads to "
            "check it.") from None
    if body is not None and names_access_token(body):
        raise invalid_request(TWO_METHODS)
    return replay(messages, receive)
