"""The user record, the sign-in a login began with, and the enums the SPEC names."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    USER = "USER"


class State(StrEnum):
    NORMAL = "NORMAL"
    ARCHIVED = "ARCHIVED"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    state: State
    password_hash: str = field(repr=False)
    display_name: str
    email: str
    create_time: int
    update_time: int
    # The cut-off: the second after the last change that ended every login (a password
    # change, an admin's removal of a factor); an access token minted from the user before it
    # moved (its `cutoff` claim older) no longer passes (auth.revocation, auth.tokens).
    tokens_not_before: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_active(self) -> bool:
        return self.state is State.NORMAL

    @property
    def as_owner(self) -> TokenOwner:
        return TokenOwner(self.username, self.role, self.state)


@dataclass(frozen=True)
class TokenOwner:
    """What the authorizer needs of a personal access token's user.

    Each token item carries this copy of its owner, kept in step by the stores' transactions,
    so that a token is verified with one read, its first use in a container included.
    """

    username: str
    role: Role
    state: State

    @property
    def is_active(self) -> bool:
        return self.state is State.NORMAL


@dataclass(frozen=True)
class ClientInfo:
    """Where a login came from, shown to the user when they review their sessions."""

    user_agent: str = ""
    ip_address: str = ""


@dataclass(frozen=True)
class Device:
    """What a User-Agent says of a login's client (auth.user_agents), for its owner to see."""

    device: str
    os: str
    browser: str


class Amr(StrEnum):
    """How a sign-in was made: the Authentication Method Reference values of RFC 8176 §2."""

    PASSWORD = "pwd"
    ONE_TIME_PASSWORD = "otp"
    HARDWARE_KEY = "hwk"
    MULTIPLE_FACTORS = "mfa"
    FEDERATED = "fed"


@dataclass(frozen=True)
class SignIn:
    """The sign-in a login began with (OpenID Connect's `auth_time` and `amr`).

    Every credential it leads to (an access token, its refresh family, a session) carries it
    unchanged, so a refresh never makes an old sign-in look recent (RFC 9470).
    """

    # Epoch seconds; 0 when unknown, which counts as long ago.
    auth_time: int
    amr: tuple[str, ...]

    @classmethod
    def with_password(cls, now: float) -> SignIn:
        return cls(int(now), (Amr.PASSWORD.value,))


# A PAT is not a sign-in: it never counts as a recent one.
NO_SIGN_IN = SignIn(0, ())
