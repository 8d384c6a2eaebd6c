"""``JwtPayload``: mcpauth's pydantic model of an access token's claims, kept for code that
validates claims with it. The verifier does not use it: it checks claims itself, at least as
strictly (``auth_info_from_claims``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

NonEmptyString = Annotated[str, StringConstraints(min_length=1)]


class JwtPayload(BaseModel):
    """The claims mcpauth reads from a JWT access token (unknown claims are ignored)."""

    aud: NonEmptyString | list[NonEmptyString] | None = None
    iss: NonEmptyString
    client_id: str | None = None
    azp: str | None = None
    sub: NonEmptyString
    scope: str | list[str] | None = None
    scopes: str | list[str] | None = None
    """The fallback for ``scope``."""
    exp: int | None = None
