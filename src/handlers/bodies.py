"""Every JSON body of the API, request and response, declared once (SPEC §3: camelCase,
Memos-compatible).

Powertools validates request bodies against these models and builds the OpenAPI document
from them; routes build their answers from the response models too (`…Json.of(domain)`,
sent by `http_json.json_response`), so the JSON a route sends and the document that
describes it cannot drift apart. `extra="forbid"` on responses makes every field sent a
documented one.

Requests ignore unknown fields, so Memos clients sending whole User objects still work;
known fields of the wrong type are a 400. Field names are the wire names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

if TYPE_CHECKING:
    from auth.identity_providers import ProviderChanges, ProviderInput
    from auth.provider_protocol import SsoCredentials as SsoSignInCredentials

from auth.accounts import MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_CHARS
from auth.factors import TotpEnrolment, TotpStatus
from auth.idp_models import (
    AuthStyle,
    FieldMapping,
    IdentityProvider,
    LinkRecord,
    ProviderConfig,
    ProviderType,
    provider_name,
)
from auth.logins import Login
from auth.models import ClientInfo, Device, User
from auth.passkeys import MAX_DISPLAY_NAME_CHARS as MAX_PASSKEY_NAME_CHARS
from auth.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS
from auth.pats import MAX_DESCRIPTION_CHARS, MAX_EXPIRES_IN_DAYS, PAT_PREFIX, TOKEN_CHARS
from auth.recovery_codes import COUNT as RECOVERY_CODE_COUNT
from auth.recovery_codes import MAX_INPUT_CHARS as MAX_RECOVERY_CODE_CHARS
from auth.stores.passkey_store import PasskeyRecord
from auth.stores.pat_store import PatRecord
from auth.stores.settings_store import InstanceSettings
from auth.totp import DIGITS as TOTP_DIGITS
from auth.usernames import MAX_USERNAME_CHARS, USERNAME_PATTERN

# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------

# Generous bounds: the domain applies the real rules with clearer messages; these only
# stop absurd input before any work is done.
_SHORT = 256
_PASSWORD = 1024
# A challenge is 43 characters, a TOTP code 6: these leave room for nothing absurd.
_CHALLENGE = 128
_CODE = 16
# SPEC §8: authorization codes are opaque, some providers' run to a few hundred characters.
_SSO_CODE = 4096
_URL = 2048

# The domain's rules, stated in the OpenAPI document only (json_schema_extra), so that
# clients and generated tests see them while the domain keeps its clearer messages.
_USERNAME_RULES: JsonDict = {
    "pattern": f"^{USERNAME_PATTERN}$",
    "minLength": 1,
    "maxLength": MAX_USERNAME_CHARS,
}
_PASSWORD_RULES: JsonDict = {
    "minLength": MIN_PASSWORD_CHARS,
    # JSON Schema counts characters; the real limit is in bytes.
    "maxLength": MAX_PASSWORD_BYTES,
    "description": f"{MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes of UTF-8",
}
_DISPLAY_NAME_RULES: JsonDict = {"maxLength": MAX_DISPLAY_NAME_CHARS}
_EMAIL_RULES: JsonDict = {"maxLength": MAX_EMAIL_CHARS, "description": "Empty, or one '@' and no whitespace"}


# defer_build: a model's validator and schema are built on its first use (a request to its
# route, an answer, the OpenAPI document) instead of at import, where building all of them
# was most of this module's share of the API function's cold start (make bench).
class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)


class PasswordCredentials(_Request):
    username: str = Field(max_length=_SHORT)
    password: str = Field(repr=False, max_length=_PASSWORD)


# The WebAuthn JSON objects are the W3C's (WebAuthn Level 3); py_webauthn checks them whole.
# Signed over a ceremony's challenge (and an assertion signs in), they stay out of reprs like
# a code.
_ASSERTION = (
    "An AuthenticationResponseJSON (WebAuthn Level 3: PublicKeyCredential.toJSON() of "
    "navigator.credentials.get()): id, rawId, type, response.{clientDataJSON, authenticatorData, "
    "signature, userHandle}, base64url."
)


class MfaCredentials(_Request):
    """The second step of a sign-in (SPEC §7): the challenge and exactly one code."""

    challenge: str = Field(
        repr=False, max_length=_CHALLENGE, description="The mfaChallenge of the MFA_REQUIRED answer."
    )
    totpCode: str | None = Field(
        repr=False,
        default=None,
        max_length=_CODE,
        description=f"{TOTP_DIGITS} digits from the authenticator app.",
    )
    recoveryCode: str | None = Field(
        repr=False,
        default=None,
        max_length=MAX_RECOVERY_CODE_CHARS,
        description="One of the recovery codes, used once.",
    )
    passkey: dict[str, Any] | None = Field(
        repr=False,
        default=None,
        description=_ASSERTION + " Its options come from POST /auth/passkeys/options with this mfaChallenge.",
    )


class PasskeyCredentials(_Request):
    """A passwordless sign-in (SPEC §7): an assertion for options of POST /auth/passkeys/options."""

    credential: dict[str, Any] = Field(repr=False, description=_ASSERTION)


class SsoCredentials(_Request):
    """SPEC §8: what the client got back from the identity provider's redirect."""

    idpName: str = Field(max_length=_SHORT, description='"identity-providers/<id>"')
    code: str = Field(
        repr=False,
        max_length=_SSO_CODE,
        description="The authorization code the provider sent to redirectUri.",
    )
    redirectUri: str = Field(max_length=_URL, description="The redirect_uri the authorization request named.")
    codeVerifier: str | None = Field(
        repr=False,
        default=None,
        max_length=_SHORT,
        description="The PKCE code_verifier (RFC 7636), when the client used one.",
    )
    nonce: str | None = Field(
        repr=False,
        default=None,
        max_length=_SHORT,
        description="The nonce the authorization request carried (OIDC): the ID token must hold it.",
    )

    def domain(self) -> SsoSignInCredentials:
        from auth.provider_protocol import SsoCredentials as SsoSignInCredentials

        return SsoSignInCredentials(self.idpName, self.code, self.redirectUri, self.codeVerifier, self.nonce)


class SignInRequest(_Request):
    """The first step (`passwordCredentials`, or §8's `ssoCredentials`) or, for a user with a
    second factor, the second (`mfaCredentials`), or a passkey alone (`passkeyCredentials`):
    exactly one of them."""

    passwordCredentials: PasswordCredentials | None = None
    ssoCredentials: SsoCredentials | None = None
    mfaCredentials: MfaCredentials | None = None
    passkeyCredentials: PasskeyCredentials | None = None


class RegisterPasskeyRequest(_Request):
    credential: dict[str, Any] = Field(
        repr=False,
        description="A RegistrationResponseJSON (WebAuthn Level 3: PublicKeyCredential.toJSON() of "
        "navigator.credentials.create() with the registration options): id, rawId, type, "
        "response.{clientDataJSON, attestationObject, transports}, base64url.",
    )
    displayName: str = Field(
        default="",
        max_length=_SHORT,
        description=f"Up to {MAX_PASSKEY_NAME_CHARS} characters; 'Passkey' when empty.",
    )


class PasskeyOptionsRequest(_Request):
    mfaChallenge: str | None = Field(
        repr=False,
        default=None,
        max_length=_CHALLENGE,
        description="For a second step: the mfaChallenge of the MFA_REQUIRED answer. "
        "Absent: a passwordless sign-in.",
    )


_AuthStyle = Literal["client_secret_post", "client_secret_basic"]
_ProviderType = Literal["OAUTH2", "OIDC"]


class FieldMappingBody(_Request):
    """Which claim of the provider's identity fills each field."""

    identifier: str = Field(
        default="", max_length=_SHORT, description="Required for OAUTH2; OIDC's default is sub."
    )
    displayName: str = Field(default="", max_length=_SHORT)
    email: str = Field(default="", max_length=_SHORT)
    avatarUrl: str = Field(default="", max_length=_SHORT)

    def domain(self) -> FieldMapping:
        return FieldMapping(self.identifier, self.displayName, self.email, self.avatarUrl)


class _ProviderConfigBody(_Request):
    clientId: str = Field(default="", max_length=_SHORT)
    clientSecret: str = Field(
        repr=False,
        default="",
        max_length=_SSO_CODE,
        description="Write-only: never returned. Empty on a change keeps the stored one.",
    )
    scopes: list[str] = Field(default_factory=list, max_length=32)
    fieldMapping: FieldMappingBody = Field(default_factory=FieldMappingBody)
    authStyle: _AuthStyle = Field(
        default="client_secret_post", description="How the client secret reaches the token endpoint."
    )


class OAuth2ConfigBody(_ProviderConfigBody):
    authUrl: str = Field(default="", max_length=_URL)
    tokenUrl: str = Field(default="", max_length=_URL)
    userInfoUrl: str = Field(default="", max_length=_URL)


class OidcConfigBody(_ProviderConfigBody):
    issuer: str = Field(
        default="", max_length=_URL, description="Endpoints come from its discovery document."
    )


class IdentityProviderConfigBody(_Request):
    oauth2Config: OAuth2ConfigBody | None = None
    oidcConfig: OidcConfigBody | None = None

    def domain(self, kind: str) -> tuple[ProviderConfig, str]:
        """The config of `kind` and its client secret; 400 when the config is the other's."""
        from auth.errors import InvalidArgument

        body: _ProviderConfigBody | None = (
            self.oauth2Config if kind == ProviderType.OAUTH2 else self.oidcConfig
        )
        if body is None or (self.oauth2Config is not None and self.oidcConfig is not None):
            wanted = "oauth2Config" if kind == ProviderType.OAUTH2 else "oidcConfig"
            raise InvalidArgument(f"a provider of type {kind} takes config.{wanted}, and only it")
        urls = body if isinstance(body, OAuth2ConfigBody) else OAuth2ConfigBody()
        config = ProviderConfig(
            client_id=body.clientId,
            scopes=tuple(body.scopes),
            field_mapping=body.fieldMapping.domain(),
            auth_style=AuthStyle(body.authStyle),
            auth_url=urls.authUrl,
            token_url=urls.tokenUrl,
            user_info_url=urls.userInfoUrl,
            issuer=body.issuer if isinstance(body, OidcConfigBody) else "",
        )
        return config, body.clientSecret


class IdentityProviderRequest(_Request):
    """A new provider (Memos' IdentityProvider; `name` is ignored: the id is the query's)."""

    type: _ProviderType
    title: str = Field(max_length=_SHORT)
    identifierFilter: str = Field(
        default="",
        max_length=_SHORT,
        description="A regular expression in RE2's syntax, as Memos (Go's MatchString: anchor it with ^…$).",
    )
    config: IdentityProviderConfigBody

    def domain(self) -> ProviderInput:
        from auth.identity_providers import ProviderInput

        config, secret = self.config.domain(self.type)
        return ProviderInput(ProviderType(self.type), self.title, self.identifierFilter, config, secret)


class IdentityProviderUpdateRequest(_Request):
    """A change: the fields given replace the stored ones (config as a whole, but for an
    empty clientSecret, which keeps the stored one)."""

    type: _ProviderType | None = None
    title: str | None = Field(default=None, max_length=_SHORT)
    identifierFilter: str | None = Field(default=None, max_length=_SHORT)
    config: IdentityProviderConfigBody | None = None

    def domain(self, current: ProviderType) -> ProviderChanges:
        from auth.identity_providers import ProviderChanges

        kind = ProviderType(self.type) if self.type is not None else current
        config, secret = self.config.domain(kind) if self.config is not None else (None, "")
        return ProviderChanges(
            title=self.title,
            identifier_filter=self.identifierFilter,
            type=ProviderType(self.type) if self.type is not None else None,
            config=config,
            client_secret=secret,
        )


class ConfirmTotpRequest(_Request):
    code: str = Field(
        repr=False, max_length=_CODE, description=f"{TOTP_DIGITS} digits from the authenticator app."
    )


class NewUser(_Request):
    username: str = Field(max_length=_SHORT, json_schema_extra=_USERNAME_RULES)
    password: str = Field(repr=False, max_length=_PASSWORD, json_schema_extra=_PASSWORD_RULES)
    displayName: str = Field(default="", max_length=_SHORT, json_schema_extra=_DISPLAY_NAME_RULES)
    email: str = Field(default="", max_length=_SHORT, json_schema_extra=_EMAIL_RULES)


class SignUpRequest(_Request):
    user: NewUser


class UserUpdateRequest(_Request):
    """PATCH body: the fields of Memos' User that may change; absent means unchanged."""

    password: str | None = Field(
        repr=False, default=None, max_length=_PASSWORD, json_schema_extra=_PASSWORD_RULES
    )
    currentPassword: str | None = Field(
        repr=False,
        default=None,
        max_length=_PASSWORD,
        description=(
            "Required with a new password of one's own, unless the user has none yet (made by an identity "
            "provider); a wrong one is a 403 and a failed sign-in."
        ),
    )
    displayName: str | None = Field(default=None, max_length=_SHORT, json_schema_extra=_DISPLAY_NAME_RULES)
    email: str | None = Field(default=None, max_length=_SHORT, json_schema_extra=_EMAIL_RULES)
    role: Literal["ADMIN", "USER"] | None = None
    state: Literal["NORMAL", "ARCHIVED"] | None = None


class InstanceSettingsRequest(_Request):
    disallowUserRegistration: bool | None = None
    disallowPasswordAuth: bool | None = None


class CreatePersonalAccessTokenRequest(_Request):
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    # 0 = the token never expires.
    expiresInDays: int = Field(default=0, ge=0, le=MAX_EXPIRES_IN_DAYS)


# ---------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------


def timestamp(epoch_seconds: int) -> datetime:
    """An epoch second as the UTC instant it names, sent as RFC 3339 (`…Z`), as Memos'
    protobuf Timestamps are."""
    return datetime.fromtimestamp(epoch_seconds, UTC)


def _optional_timestamp(epoch_seconds: int | None) -> datetime | None:
    return None if epoch_seconds is None else timestamp(epoch_seconds)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _no_default(schema: JsonDict) -> None:
    schema.pop("default", None)


def _sometimes(description: str) -> Any:
    """A field the API leaves out rather than sending null: optional, never nullable."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class UserJson(_Response):
    name: str = Field(description='"users/<username>"')
    username: str
    role: Literal["ADMIN", "USER"]
    state: Literal["NORMAL", "ARCHIVED"]
    displayName: str
    email: str | SkipJsonSchema[None] = _sometimes("Only for the user themself or an admin.")
    createTime: datetime
    updateTime: datetime

    @classmethod
    def of(cls, user: User, include_email: bool) -> UserJson:
        """Never the password hash; the email only when the caller may see it."""
        return cls(
            name=f"users/{user.username}",
            username=user.username,
            role=user.role.value,
            state=user.state.value,
            displayName=user.display_name,
            email=user.email if include_email else None,
            createTime=timestamp(user.create_time),
            updateTime=timestamp(user.update_time),
        )


class SignedIn(_Response):
    user: UserJson
    accessToken: str = Field(repr=False)
    accessTokenExpiresAt: datetime


class SessionCreated(_Response):
    user: UserJson
    lastAccessedAt: datetime


class Refreshed(_Response):
    accessToken: str = Field(repr=False)
    expiresAt: datetime


class Empty(_Response):
    pass


class Me(_Response):
    user: UserJson


class CurrentSession(_Response):
    user: UserJson
    lastAccessedAt: datetime | SkipJsonSchema[None] = _sometimes(
        "Present when the caller came with a session cookie."
    )
    amr: list[str] | SkipJsonSchema[None] = _sometimes(
        "Beyond Memos: how the sign-in behind the caller's credential was made (RFC 8176 values,"
        ' as an access token\'s `amr`: "pwd", "otp", "hwk", "mfa", "fed"); absent for a PAT.'
    )


class UserList(_Response):
    users: list[UserJson]
    nextPageToken: str = Field(description="Pass as pageToken for the next page; empty after the last page.")


class ClientInfoJson(_Response):
    userAgent: str
    ipAddress: str
    device: str
    os: str
    browser: str

    @classmethod
    def of(cls, client: ClientInfo, device: Device) -> ClientInfoJson:
        """Where a login came from, as its request said and as its User-Agent reads."""
        return cls(
            userAgent=client.user_agent,
            ipAddress=client.ip_address,
            device=device.device,
            os=device.os,
            browser=device.browser,
        )


class LoginJson(_Response):
    name: str = Field(description='"users/<username>/sessions/<id>"')
    id: str
    kind: Literal["session", "refresh_token"]
    createdAt: datetime
    lastAccessedAt: datetime
    expiresAt: datetime
    clientInfo: ClientInfoJson

    @classmethod
    def of(cls, username: str, login: Login) -> LoginJson:
        return cls(
            name=f"users/{username}/sessions/{login.id}",
            id=login.id,
            kind=login.kind.value,
            createdAt=timestamp(login.created_at),
            lastAccessedAt=timestamp(login.last_accessed_at),
            expiresAt=timestamp(login.expires_at),
            clientInfo=ClientInfoJson.of(login.client, login.device),
        )


class LoginList(_Response):
    sessions: list[LoginJson]


class PersonalAccessTokenJson(_Response):
    name: str = Field(description='"users/<username>/personalAccessTokens/<tokenId>"')
    description: str
    createdAt: datetime
    expiresAt: datetime | SkipJsonSchema[None] = _sometimes("Absent for a token that never expires.")
    lastUsedAt: datetime | SkipJsonSchema[None] = _sometimes("Absent until the token is first used.")

    @classmethod
    def of(cls, username: str, record: PatRecord) -> PersonalAccessTokenJson:
        """A token's metadata; never the token or its hash."""
        return cls(
            name=f"users/{username}/personalAccessTokens/{record.token_id}",
            description=record.description,
            createdAt=timestamp(record.created_at),
            expiresAt=_optional_timestamp(record.expires_at),
            lastUsedAt=_optional_timestamp(record.last_used_at),
        )


class PersonalAccessTokenList(_Response):
    personalAccessTokens: list[PersonalAccessTokenJson]


class CreatedPersonalAccessToken(_Response):
    personalAccessToken: PersonalAccessTokenJson
    token: str = Field(
        repr=False,
        min_length=TOKEN_CHARS,
        max_length=TOKEN_CHARS,
        pattern=f"^{PAT_PREFIX}[0-9A-Za-z]+$",
        description="Shown this once; only its SHA-256 is stored.",
    )


class InstanceSettingsJson(_Response):
    disallowUserRegistration: bool
    disallowPasswordAuth: bool

    @classmethod
    def of(cls, settings: InstanceSettings) -> InstanceSettingsJson:
        return cls(
            disallowUserRegistration=settings.disallow_user_registration,
            disallowPasswordAuth=settings.disallow_password_auth,
        )


class TotpEnrolmentJson(_Response):
    secret: str = Field(repr=False, description="The shared secret, base32 (160 bits); shown this once.")
    otpauthUri: str = Field(
        repr=False, description="otpauth://totp/memos:<username>?secret=…&issuer=memos, for a QR code."
    )
    # SPEC §10 (beyond §7): the account page shows it as an <img>, its CSP allowing data:.
    qrCode: str = Field(repr=False, description="otpauthUri as a QR code: an SVG data: URI (image/svg+xml).")

    @classmethod
    def of(cls, enrolment: TotpEnrolment) -> TotpEnrolmentJson:
        from handlers.qr_codes import svg_data_uri

        return cls(
            secret=enrolment.secret,
            otpauthUri=enrolment.otpauth_uri,
            qrCode=svg_data_uri(enrolment.otpauth_uri),
        )


class TotpStatusJson(_Response):
    enabled: bool
    recoveryCodesLeft: int

    @classmethod
    def of(cls, status: TotpStatus) -> TotpStatusJson:
        return cls(enabled=status.enabled, recoveryCodesLeft=status.recovery_codes_left)


class PasskeyJson(_Response):
    name: str = Field(description='"users/<username>/passkeys/<id>"')
    id: str = Field(description="base64url SHA-256 of the credential id.")
    displayName: str
    createdAt: datetime
    lastUsedAt: datetime | SkipJsonSchema[None] = _sometimes("Absent until the passkey is first used.")
    backedUp: bool = Field(description="The authenticator says the credential is backed up (synced).")

    @classmethod
    def of(cls, username: str, record: PasskeyRecord) -> PasskeyJson:
        """A passkey's metadata; never its key."""
        return cls(
            name=f"users/{username}/passkeys/{record.passkey_id}",
            id=record.passkey_id,
            displayName=record.display_name,
            createdAt=timestamp(record.created_at),
            lastUsedAt=_optional_timestamp(record.last_used_at),
            backedUp=record.backed_up,
        )


class PasskeyCreated(_Response):
    passkey: PasskeyJson


class PasskeyList(_Response):
    passkeys: list[PasskeyJson]


class PasskeyCreationOptions(_Response):
    options: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3), for "
        "PublicKeyCredential.parseCreationOptionsFromJSON(); the challenge lives 5 minutes."
    )


class PasskeyRequestOptions(_Response):
    options: dict[str, Any] = Field(
        description="PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3), for "
        "PublicKeyCredential.parseRequestOptionsFromJSON(); the challenge lives 5 minutes."
    )


class RecoveryCodes(_Response):
    recoveryCodes: list[str] = Field(
        repr=False,
        min_length=RECOVERY_CODE_COUNT,
        max_length=RECOVERY_CODE_COUNT,
        description="Shown this once; each works once. Any earlier codes no longer work.",
    )


class FieldMappingJson(_Response):
    identifier: str
    displayName: str
    email: str
    avatarUrl: str

    @classmethod
    def of(cls, mapping: FieldMapping) -> FieldMappingJson:
        return cls(
            identifier=mapping.identifier,
            displayName=mapping.display_name,
            email=mapping.email,
            avatarUrl=mapping.avatar_url,
        )


class OAuth2ConfigJson(_Response):
    clientId: str
    authUrl: str
    tokenUrl: str
    userInfoUrl: str
    scopes: list[str]
    fieldMapping: FieldMappingJson
    authStyle: _AuthStyle


class OidcConfigJson(_Response):
    issuer: str
    authUrl: str = Field(
        description=(
            "Read-only: the issuer's authorization_endpoint, read from its discovery document"
            " when the provider was created or last changed (where a page sends the browser)."
        )
    )
    clientId: str
    scopes: list[str]
    fieldMapping: FieldMappingJson
    authStyle: _AuthStyle


class IdentityProviderConfigJson(_Response):
    oauth2Config: OAuth2ConfigJson | SkipJsonSchema[None] = _sometimes("For type OAUTH2.")
    oidcConfig: OidcConfigJson | SkipJsonSchema[None] = _sometimes("For type OIDC.")


class IdentityProviderJson(_Response):
    """A provider as anyone may read it: never its client secret."""

    name: str = Field(description='"identity-providers/<id>"')
    type: _ProviderType
    title: str
    identifierFilter: str
    config: IdentityProviderConfigJson

    @classmethod
    def of(cls, provider: IdentityProvider) -> IdentityProviderJson:
        config = provider.config
        common: dict[str, Any] = {
            "clientId": config.client_id,
            "scopes": list(config.scopes),
            "fieldMapping": FieldMappingJson.of(config.field_mapping),
            "authStyle": config.auth_style.value,
        }
        if provider.type is ProviderType.OAUTH2:
            shaped = IdentityProviderConfigJson(
                oauth2Config=OAuth2ConfigJson(
                    authUrl=config.auth_url,
                    tokenUrl=config.token_url,
                    userInfoUrl=config.user_info_url,
                    **common,
                )
            )
        else:
            shaped = IdentityProviderConfigJson(
                oidcConfig=OidcConfigJson(issuer=config.issuer, authUrl=config.auth_url, **common)
            )
        return cls(
            name=provider.name,
            type=provider.type.value,
            title=provider.title,
            identifierFilter=provider.identifier_filter,
            config=shaped,
        )


class IdentityProviderList(_Response):
    identityProviders: list[IdentityProviderJson]


class LinkedIdentityJson(_Response):
    name: str = Field(description='"users/<username>/linkedIdentities/<id>"')
    idpName: str = Field(description='"identity-providers/<id>"')
    externUid: str = Field(description="The identifier the provider gave.")
    createTime: datetime

    @classmethod
    def of(cls, username: str, link: LinkRecord) -> LinkedIdentityJson:
        return cls(
            name=f"users/{username}/linkedIdentities/{link.link_id}",
            idpName=provider_name(link.provider_id),
            externUid=link.extern_uid,
            createTime=timestamp(link.create_time),
        )


class LinkedIdentityList(_Response):
    linkedIdentities: list[LinkedIdentityJson]


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class Error(_Response):
    """Every error the API function answers (SPEC §3)."""

    code: int = Field(description="The gRPC status code.")
    message: str
    details: list[dict[str, Any]] = Field(
        description='google.rpc.Any objects, each naming its type in "@type" (an ErrorInfo, say); '
        "empty unless a rule adds one."
    )


class GatewayError(_Response):
    """API Gateway's own answers (the authorizer's refusals, a failed function), which HTTP
    APIs cannot reshape."""

    message: str
