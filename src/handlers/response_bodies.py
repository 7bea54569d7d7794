"""The JSON bodies the API answers with, as the OpenAPI document describes them.

Routes build their bodies as dicts (views.py); these models only document them, so that
clients and the conformance tests (tests/e2e/test_openapi_conformance.py) know the exact
shapes. `extra="forbid"` makes every field the API sends a documented one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict, SkipJsonSchema

from auth.pats import PAT_PREFIX, TOKEN_CHARS


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_default(schema: JsonDict) -> None:
    schema.pop("default", None)


def _sometimes(description: str) -> Any:
    """A field the API leaves out rather than sending null: optional, never nullable."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class User(_Body):
    name: str = Field(description='"users/<username>"')
    username: str
    role: Literal["ADMIN", "USER"]
    state: Literal["NORMAL", "ARCHIVED"]
    displayName: str
    email: str | SkipJsonSchema[None] = _sometimes("Only for the user themself or an admin.")
    createTime: datetime
    updateTime: datetime


class SignedIn(_Body):
    user: User
    accessToken: str
    accessTokenExpiresAt: datetime


class SessionCreated(_Body):
    user: User
    lastAccessedAt: datetime


class Refreshed(_Body):
    accessToken: str
    expiresAt: datetime


class Empty(_Body):
    pass


class Me(_Body):
    user: User


class CurrentSession(_Body):
    user: User
    lastAccessedAt: datetime | SkipJsonSchema[None] = _sometimes(
        "Present when the caller came with a session cookie."
    )


class UserList(_Body):
    users: list[User]


class ClientInfo(_Body):
    userAgent: str
    ipAddress: str
    device: str
    os: str
    browser: str


class Login(_Body):
    name: str = Field(description='"users/<username>/sessions/<id>"')
    id: str
    kind: Literal["session", "refresh_token"]
    createdAt: datetime
    lastAccessedAt: datetime
    expiresAt: datetime
    clientInfo: ClientInfo


class LoginList(_Body):
    sessions: list[Login]


class PersonalAccessToken(_Body):
    name: str = Field(description='"users/<username>/personalAccessTokens/<tokenId>"')
    description: str
    createdAt: datetime
    expiresAt: datetime | SkipJsonSchema[None] = _sometimes("Absent for a token that never expires.")
    lastUsedAt: datetime | SkipJsonSchema[None] = _sometimes("Absent until the token is first used.")


class PersonalAccessTokenList(_Body):
    personalAccessTokens: list[PersonalAccessToken]


class CreatedPersonalAccessToken(_Body):
    personalAccessToken: PersonalAccessToken
    token: str = Field(
        min_length=TOKEN_CHARS,
        max_length=TOKEN_CHARS,
        pattern=f"^{PAT_PREFIX}[0-9A-Za-z]+$",
        description="Shown this once; only its SHA-256 is stored.",
    )


class InstanceSettings(_Body):
    disallowUserRegistration: bool
    disallowPasswordAuth: bool


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class Error(_Body):
    """Every error the API function answers (SPEC §3)."""

    code: int = Field(description="The gRPC status code.")
    message: str


class GatewayError(_Body):
    """API Gateway's own answers (the authorizer's refusals, a failed function), which HTTP
    APIs cannot reshape."""

    message: str
