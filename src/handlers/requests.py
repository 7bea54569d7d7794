"""Request bodies, validated by Powertools' OpenAPI validation (pydantic, strict types).

Unknown fields are ignored so that Memos clients sending whole User objects still work;
known fields of the wrong type are a 400. Field names are the wire names (camelCase).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from auth.personal_access_tokens import MAX_DESCRIPTION_CHARS, MAX_EXPIRES_IN_DAYS

# Generous bounds: the domain applies the real rules with clearer messages; these only
# stop absurd input before any work is done.
_SHORT = 256
_PASSWORD = 1024


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class PasswordCredentials(_Body):
    username: str = Field(max_length=_SHORT)
    password: str = Field(max_length=_PASSWORD)


class SignInRequest(_Body):
    passwordCredentials: PasswordCredentials


class NewUser(_Body):
    username: str = Field(max_length=_SHORT)
    password: str = Field(max_length=_PASSWORD)
    displayName: str = Field(default="", max_length=_SHORT)
    email: str = Field(default="", max_length=_SHORT)


class SignUpRequest(_Body):
    user: NewUser


class UserUpdate(_Body):
    """PATCH body: the fields of Memos' User that may change; absent means unchanged."""

    password: str | None = Field(default=None, max_length=_PASSWORD)
    displayName: str | None = Field(default=None, max_length=_SHORT)
    email: str | None = Field(default=None, max_length=_SHORT)
    role: Literal["ADMIN", "USER"] | None = None
    state: Literal["NORMAL", "ARCHIVED"] | None = None


class InstanceSettingsUpdate(_Body):
    disallowUserRegistration: bool | None = None
    disallowPasswordAuth: bool | None = None


class CreatePersonalAccessTokenRequest(_Body):
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    # 0 = the token never expires.
    expiresInDays: int = Field(default=0, ge=0, le=MAX_EXPIRES_IN_DAYS)
