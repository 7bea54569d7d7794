"""Request bodies, validated by Powertools' OpenAPI validation (pydantic, strict types).

Unknown fields are ignored so that Memos clients sending whole User objects still work;
known fields of the wrong type are a 400. Field names are the wire names (camelCase).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from auth.accounts import MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_CHARS
from auth.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS
from auth.personal_access_tokens import MAX_DESCRIPTION_CHARS, MAX_EXPIRES_IN_DAYS
from auth.usernames import MAX_USERNAME_CHARS, USERNAME_PATTERN

# Generous bounds: the domain applies the real rules with clearer messages; these only
# stop absurd input before any work is done.
_SHORT = 256
_PASSWORD = 1024

# The domain's rules, stated in the OpenAPI document only (json_schema_extra), so that
# clients and generated tests see them while the domain keeps its clearer messages.
_USERNAME_RULES = {"pattern": f"^{USERNAME_PATTERN}$", "minLength": 1, "maxLength": MAX_USERNAME_CHARS}
_PASSWORD_RULES = {
    "minLength": MIN_PASSWORD_CHARS,
    # JSON Schema counts characters; the real limit is in bytes.
    "maxLength": MAX_PASSWORD_BYTES,
    "description": f"{MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes of UTF-8",
}
_DISPLAY_NAME_RULES = {"maxLength": MAX_DISPLAY_NAME_CHARS}
_EMAIL_RULES = {"maxLength": MAX_EMAIL_CHARS, "description": "Empty, or one '@' and no whitespace"}


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class PasswordCredentials(_Body):
    username: str = Field(max_length=_SHORT)
    password: str = Field(max_length=_PASSWORD)


class SignInRequest(_Body):
    passwordCredentials: PasswordCredentials


class NewUser(_Body):
    username: str = Field(max_length=_SHORT, json_schema_extra=_USERNAME_RULES)
    password: str = Field(max_length=_PASSWORD, json_schema_extra=_PASSWORD_RULES)
    displayName: str = Field(default="", max_length=_SHORT, json_schema_extra=_DISPLAY_NAME_RULES)
    email: str = Field(default="", max_length=_SHORT, json_schema_extra=_EMAIL_RULES)


class SignUpRequest(_Body):
    user: NewUser


class UserUpdate(_Body):
    """PATCH body: the fields of Memos' User that may change; absent means unchanged."""

    password: str | None = Field(default=None, max_length=_PASSWORD, json_schema_extra=_PASSWORD_RULES)
    displayName: str | None = Field(default=None, max_length=_SHORT, json_schema_extra=_DISPLAY_NAME_RULES)
    email: str | None = Field(default=None, max_length=_SHORT, json_schema_extra=_EMAIL_RULES)
    role: Literal["ADMIN", "USER"] | None = None
    state: Literal["NORMAL", "ARCHIVED"] | None = None


class InstanceSettingsUpdate(_Body):
    disallowUserRegistration: bool | None = None
    disallowPasswordAuth: bool | None = None


class CreatePersonalAccessTokenRequest(_Body):
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    # 0 = the token never expires.
    expiresInDays: int = Field(default=0, ge=0, le=MAX_EXPIRES_IN_DAYS)
