"""Who is calling, once a credential has been verified."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.models import NO_SIGN_IN, Role, SignIn


class AuthMethod(StrEnum):
    """The credential a request came with: the authorizer context's `authMethod` (SPEC §4)."""

    ACCESS_TOKEN = "access_token"
    PAT = "pat"
    SESSION = "session"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    auth_method: AuthMethod
    # The session id or PAT id the request came with ("" for an access token: it has no id).
    credential_id: str = ""
    # The sign-in the credential descends from, for routes that need a recent one.
    sign_in: SignIn = NO_SIGN_IN

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
