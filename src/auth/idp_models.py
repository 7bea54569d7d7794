"""The records of SPEC §8: an identity provider (Memos' `IdentityProvider`, plus `OIDC`,
`authStyle` and the internal `uid`) and a linked identity. The rules and services are
auth.identity_providers, auth.sso_sign_in and auth.linked_identities; the table is
auth.stores.idp_store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NAME_PREFIX = "identity-providers/"


def provider_name(provider_id: str) -> str:
    """A provider's resource name, `identity-providers/<id>`, as answers and the audit trail
    give it."""
    return NAME_PREFIX + provider_id


class ProviderType(StrEnum):
    """OAUTH2 (Memos' only kind) names its endpoints; OIDC reads them from the issuer's
    discovery document and proves the identity with an ID token."""

    OAUTH2 = "OAUTH2"
    OIDC = "OIDC"


class AuthStyle(StrEnum):
    """How the client authenticates at the token endpoint (RFC 6749 §2.3.1), by the names of
    RFC 7591: in the form body (Memos' way) or with HTTP Basic."""

    POST = "client_secret_post"
    BASIC = "client_secret_basic"


@dataclass(frozen=True)
class FieldMapping:
    """Which claim of the provider's identity holds each field of the user."""

    identifier: str = ""
    display_name: str = ""
    email: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class ProviderConfig:
    """`config.oauth2Config` (auth/token/userinfo URLs) or `config.oidcConfig` (issuer)."""

    client_id: str
    scopes: tuple[str, ...]
    field_mapping: FieldMapping
    auth_style: AuthStyle = AuthStyle.POST
    auth_url: str = ""
    token_url: str = ""
    user_info_url: str = ""
    issuer: str = ""


@dataclass(frozen=True)
class IdentityProvider:
    """A provider as every answer shows it: never with its client secret, which is stored
    sealed beside it (auth.stores.idp_store.StoredProvider)."""

    id: str
    uid: str
    type: ProviderType
    title: str
    identifier_filter: str
    config: ProviderConfig
    create_time: int
    update_time: int

    @property
    def name(self) -> str:
        return provider_name(self.id)


@dataclass(frozen=True)
class LinkRecord:
    """(provider, external identifier) -> user: how an identity signs in."""

    provider_id: str
    # The provider's uid when the link was made: a provider made again under the same id
    # has another, and the link is then dead.
    provider_uid: str
    extern_uid: str
    user_id: int
    # The public id of the link: /users/{username}/linkedIdentities/{id}.
    link_id: str
    create_time: int
