"""Identity providers (SPEC §8): the resource, its rules, and the admin's service.

A provider is Memos' `IdentityProvider`: `OAUTH2` (Memos' only kind: authorization, token
and userinfo URLs) or `OIDC` (beyond Memos: endpoints from the issuer's discovery
document, identity from a verified ID token). `authStyle` (beyond Memos) says how
memos-auth authenticates to the token endpoint (RFC 6749 §2.3.1, the RFC 7591 names):
`client_secret_post` (Memos' way, the default) or `client_secret_basic`.

The client secret is write-only: it is sealed (AES-256-GCM, auth.factor_cipher with its
own HKDF purpose, the provider's id as associated data) before it is stored, no answer
holds it, and only the sign-in flow opens it. A change that points the provider at
another token endpoint (tokenUrl, issuer) or client must bring the secret again, so a
stolen admin session cannot redirect the stored secret to a server of its own.

An `OIDC` provider's authorization endpoint is read from the issuer's discovery document
whenever an admin creates or changes it, and stored (`config.oidcConfig.authUrl`, read-only):
the account pages send the browser there, and their Content-Security-Policy (`connect-src
'self'`) lets them read nothing from another host. A document that cannot be read stores
nothing: 400 for a bad one, 503 for a provider that is down or slow.

Every provider also has an internal `uid`, new at each creation: links name it, so a
provider deleted and created again under the same id never inherits the old links
(auth.sso_sign_in treats such a link as gone).
"""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from dataclasses import dataclass, field, replace
from typing import Protocol

from auth import identifier_filter
from auth.audit import AuditEvent, AuditSink, CredentialKind, audited_if_lost, audited_write, by_whom
from auth.clock import Clock
from auth.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unavailable
from auth.factor_cipher import FactorCipher
from auth.idp_models import (
    NAME_PREFIX,
    IdentityProvider,
    LinkRecord,
    ProviderConfig,
    ProviderType,
)
from auth.outbound_http import check_url
from auth.principal import Principal
from auth.recent_sign_in import RecentSignIn
from auth.shown_text import check_shown_text
from auth.stores.idp_store import IdpStore, StoredProvider

# Memos' resource ids: letters, digits and '-', 1-32, starting and ending alphanumeric.
PROVIDER_ID_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
_PROVIDER_ID = re.compile(PROVIDER_ID_PATTERN)
MAX_TITLE_CHARS = 256
MAX_FILTER_CHARS = 256
MAX_CLIENT_ID_CHARS = 256
MAX_CLIENT_SECRET_CHARS = 1024
MAX_URL_CHARS = 2048
MAX_SCOPES = 20
MAX_FIELD_CHARS = 128
# RFC 6749 §3.3 scope-token: visible ASCII but space, '"' and '\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
# Claim names: a path of JSON keys is not supported, a name is.
_FIELD = re.compile(r"[A-Za-z0-9_:.\-]{1,128}")
OIDC_SCOPE = "openid"
# An OIDC provider's identifier is the ID token's `sub` unless mapped otherwise.
OIDC_DEFAULT_IDENTIFIER = "sub"
MAX_PROVIDERS = 50


@dataclass(frozen=True)
class ProviderInput:
    """A provider as a request describes it; `client_secret` "" means "keep the stored one"
    on a change (and is refused on a creation)."""

    type: ProviderType
    title: str
    identifier_filter: str
    config: ProviderConfig
    client_secret: str = field(repr=False)

    def created(self, provider_id: str, uid: str, now: int) -> IdentityProvider:
        """The provider this input creates at `now`; its client secret is not in it, but
        sealed and stored beside it (StoredProvider)."""
        return IdentityProvider(
            id=provider_id,
            uid=uid,
            type=self.type,
            title=self.title,
            identifier_filter=self.identifier_filter,
            config=self.config,
            create_time=now,
            update_time=now,
        )


@dataclass(frozen=True)
class ProviderChanges:
    """A PATCH: what is given replaces, None leaves as it is."""

    title: str | None = None
    identifier_filter: str | None = None
    type: ProviderType | None = None
    config: ProviderConfig | None = None
    client_secret: str = field(default="", repr=False)


def provider_id_of(name_or_id: str) -> str:
    """`identity-providers/<id>` or a bare id, as a path or idpName gives it; 400 when malformed."""
    provider_id = name_or_id.removeprefix(NAME_PREFIX)
    if _PROVIDER_ID.fullmatch(provider_id) is None:
        raise InvalidArgument("the identity provider's id must be 1-32 letters, digits or '-'")
    return provider_id


def _check_url(field: str, url: str, allow_http: bool) -> None:
    if len(url) > MAX_URL_CHARS:
        raise InvalidArgument(f"{field} must be at most {MAX_URL_CHARS} characters")
    problem = check_url(url, allow_http)
    if problem is not None:
        raise InvalidArgument(f"{field} {problem}")


def validate(provider: ProviderInput, allow_http: bool) -> ProviderInput:
    """The provider as it will be stored (defaults filled in); 400 naming the first fault."""
    if not provider.title.strip() or len(provider.title) > MAX_TITLE_CHARS:
        raise InvalidArgument(f"title must be 1-{MAX_TITLE_CHARS} characters")
    if len(provider.identifier_filter) > MAX_FILTER_CHARS:
        raise InvalidArgument(f"identifierFilter must be at most {MAX_FILTER_CHARS} characters")
    try:
        identifier_filter.compiled(provider.identifier_filter)
    except identifier_filter.InvalidFilter as exc:
        raise InvalidArgument(f"identifierFilter is not a valid regular expression: {exc.message}") from None
    config = provider.config
    if not config.client_id or len(config.client_id) > MAX_CLIENT_ID_CHARS:
        raise InvalidArgument(f"clientId must be 1-{MAX_CLIENT_ID_CHARS} characters")
    if len(provider.client_secret) > MAX_CLIENT_SECRET_CHARS:
        raise InvalidArgument(f"clientSecret must be at most {MAX_CLIENT_SECRET_CHARS} characters")
    if len(config.scopes) > MAX_SCOPES or not all(_SCOPE.fullmatch(scope) for scope in config.scopes):
        raise InvalidArgument(f"scopes must be at most {MAX_SCOPES} scope tokens (RFC 6749 §3.3)")
    mapping = config.field_mapping
    for name, value in (
        ("identifier", mapping.identifier),
        ("displayName", mapping.display_name),
        ("email", mapping.email),
        ("avatarUrl", mapping.avatar_url),
    ):
        if value and _FIELD.fullmatch(value) is None:
            raise InvalidArgument(
                f"fieldMapping.{name} must be a claim name of 1-{MAX_FIELD_CHARS} characters"
            )
    if provider.type is ProviderType.OAUTH2:
        if not mapping.identifier:
            raise InvalidArgument("fieldMapping.identifier is required")
        for field, url in (
            ("authUrl", config.auth_url),
            ("tokenUrl", config.token_url),
            ("userInfoUrl", config.user_info_url),
        ):
            _check_url(field, url, allow_http)
        config = replace(config, issuer="")
    else:
        _check_url("issuer", config.issuer, allow_http)
        if OIDC_SCOPE not in config.scopes:
            raise InvalidArgument("an OIDC provider's scopes must include openid")
        if not mapping.identifier:
            config = replace(config, field_mapping=replace(mapping, identifier=OIDC_DEFAULT_IDENTIFIER))
        # The issuer names its endpoints: these come from its discovery document. The issuer
        # is kept as given: Discovery §4.3 and the ID token's `iss` compare it exactly, and
        # some end in "/" (Auth0's `https://tenant.auth0.com/`).
        config = replace(config, auth_url="", token_url="", user_info_url="")
    return replace(provider, config=config)


class EndpointDiscovery(Protocol):
    """What reads an issuer's discovery document (auth.provider_protocol.ProviderProtocol)."""

    def authorization_endpoint(self, issuer: str) -> str: ...


def _token_endpoint(provider: IdentityProvider | ProviderInput) -> tuple[str, str, str]:
    """What the client secret is sent to: a change of any of these needs the secret again."""
    config = provider.config
    return config.client_id, config.token_url, config.issuer


class IdentityProviders:
    def __init__(
        self,
        store: IdpStore,
        cipher: FactorCipher,
        clock: Clock,
        audit: AuditSink,
        allow_http: bool,
        discovery: EndpointDiscovery,
        recent_sign_in: RecentSignIn,
    ) -> None:
        self._store = store
        self._recent_sign_in = recent_sign_in
        self._cipher = cipher
        self._clock = clock
        self._audit = audit
        self._allow_http = allow_http
        self._discovery = discovery

    def _discovered(self, checked: ProviderInput) -> ProviderInput:
        """An OIDC provider with its authorization endpoint from the issuer's discovery
        document (ProviderRefused 400, ProviderUnavailable 503, before anything is stored)."""
        if checked.type is not ProviderType.OIDC:
            return checked
        endpoint = self._discovery.authorization_endpoint(checked.config.issuer)
        _check_url("the discovery document's authorization_endpoint", endpoint, self._allow_http)
        return replace(checked, config=replace(checked.config, auth_url=endpoint))

    # -- public ----------------------------------------------------------------------------

    def list(self) -> list[IdentityProvider]:
        return sorted((stored.provider for stored in self._store.list_providers()), key=lambda p: p.id)

    def get(self, provider_id: str) -> IdentityProvider:
        return self.stored(provider_id).provider

    def stored(self, provider_id: str) -> StoredProvider:
        stored = self._store.get_provider(provider_id_of(provider_id))
        if stored is None:
            raise NotFound("identity provider not found")
        return stored

    def client_secret(self, stored: StoredProvider) -> str:
        """The secret, opened for a code exchange only (never returned, never logged)."""
        return self._cipher.open(stored.sealed_secret, stored.provider.id)

    # -- the admin's -------------------------------------------------------------------------

    def create(self, caller: Principal, given: ProviderInput, provider_id: str = "") -> IdentityProvider:
        _admin_only(caller)
        # A provider decides who signs in as whom: the admin's recent sign-in, never a PAT.
        self._recent_sign_in.require(caller)
        provider_id = provider_id_of(provider_id) if provider_id else secrets.token_hex(8)
        check_shown_text("title", given.title)
        checked = validate(given, self._allow_http)
        if not checked.client_secret:
            raise InvalidArgument("clientSecret is required")
        if len(self._store.list_providers()) >= MAX_PROVIDERS:
            raise InvalidArgument(f"at most {MAX_PROVIDERS} identity providers")
        checked = self._discovered(checked)
        provider = checked.created(provider_id, str(uuid.uuid4()), int(self._clock.now()))
        sealed = self._cipher.seal(checked.client_secret, provider.id)
        if not audited_write(
            lambda: self._store.put_provider(StoredProvider(provider, sealed)),
            lambda note: self._audited(AuditEvent.CREATED, caller, provider.id, note),
        ):
            raise AlreadyExists(f"identity provider {provider_id} already exists")
        return provider

    def update(self, caller: Principal, provider_id: str, changes: ProviderChanges) -> IdentityProvider:
        """A provider's change keeps its links (as Memos does): one pointed elsewhere (its
        userinfo URL, its identifier claim) signs in whoever the new answers name as the
        users linked before, so it needs the admin's recent sign-in, never a PAT."""
        _admin_only(caller)
        self._recent_sign_in.require(caller)
        stored = self.stored(provider_id)
        before = stored.provider
        kind = changes.type or before.type
        if changes.type is not None and changes.type is not before.type and changes.config is None:
            raise InvalidArgument("a new type needs its config")
        if changes.title not in (None, before.title):
            # A title stored before the rule, sent back unchanged, is no new text to refuse.
            check_shown_text("title", changes.title)
        given = validate(
            ProviderInput(
                type=kind,
                title=before.title if changes.title is None else changes.title,
                identifier_filter=(
                    before.identifier_filter
                    if changes.identifier_filter is None
                    else changes.identifier_filter
                ),
                config=before.config if changes.config is None else changes.config,
                client_secret=changes.client_secret,
            ),
            self._allow_http,
        )
        if not given.client_secret and _token_endpoint(given) != _token_endpoint(before):
            raise InvalidArgument("clientSecret is required when clientId, tokenUrl or issuer changes")
        given = self._discovered(given)
        after = replace(
            before,
            type=given.type,
            title=given.title,
            identifier_filter=given.identifier_filter,
            config=given.config,
            update_time=max(int(self._clock.now()), before.update_time + 1),
        )
        sealed = (
            self._cipher.seal(given.client_secret, after.id) if given.client_secret else stored.sealed_secret
        )
        how = ", client secret replaced" if given.client_secret else ""
        if not audited_write(
            lambda: self._store.replace_provider(StoredProvider(after, sealed), before.update_time),
            lambda note: self._audited(AuditEvent.CHANGED, caller, after.id, how + note),
        ):
            raise Unavailable("the identity provider changed meanwhile; try again")
        return after

    def delete(self, caller: Principal, provider_id: str) -> None:
        """The provider, then its links: a link left by a failed sweep names the old uid, so
        no sign-in can ever go through it (a provider made again has a new uid)."""
        _admin_only(caller)
        named = provider_id_of(provider_id)
        with audited_if_lost(lambda note: self._audited(AuditEvent.REVOKED, caller, named, note)):
            removed = self._store.delete_provider(named)
        if removed is None:
            raise NotFound("identity provider not found")
        self._audited(AuditEvent.REVOKED, caller, removed.provider.id)
        for link in self._store.links_of_provider(removed.provider.id):
            audited_write(
                functools.partial(self._store.delete_link, link), functools.partial(self._unlinked, link)
            )

    def _unlinked(self, link: LinkRecord, note: str) -> None:
        reason = "its identity provider was deleted" + note
        self._audit.record(
            AuditEvent.REVOKED, CredentialKind.LINKED_IDENTITY, link.user_id, link.link_id, reason=reason
        )

    def _audited(self, event: AuditEvent, caller: Principal, provider_id: str, how: str = "") -> None:
        """An admin's change of a provider (the event's user is the admin): created, changed
        (`how`: whether its client secret was replaced) or deleted."""
        done = "deleted " if event is AuditEvent.REVOKED else ""
        reason = f"{done}{by_whom(caller)}{how}"
        self._audit.record(
            event, CredentialKind.IDENTITY_PROVIDER, caller.user_id, provider_id, reason=reason
        )


def _admin_only(caller: Principal) -> None:
    # The routes are ADMIN already (the authorizer refuses others); the service says so too.
    if not caller.is_admin:
        raise PermissionDenied("only an admin may change identity providers")
