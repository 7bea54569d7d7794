"""Request bodies, validated by Powertools' OpenAPI validation (pydantic, strict types).

Unknown fields are ignored so that Memos clients sending whole User objects still work;
known fields of the wrong type are a 400.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
