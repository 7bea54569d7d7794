"""The WebAuthn ceremonies of SPEC §7's passkeys, verified by py_webauthn (the `webauthn`
package): options for the browser, and the checks of what the authenticator answered.

Every check is the library's: the challenge, the origin (one of WEBAUTHN_ORIGINS exactly),
the RP id hash (WEBAUTHN_RP_ID), the UP and UV flags (user verification is required), the
signature with the registered key and its algorithm (ES256, EdDSA or RS256), attestation
`none` (nothing else is asked for; another format is checked as the library does) and a
signature counter that grows unless it is 0. What this module adds is the policy (which
algorithms, UV required, discoverable credentials), a registered key that can verify a
signature of its algorithm (the library stores any key whose `alg` it supports, even one
that never could), a credential id of at most 1,023 bytes, and telling a counter that did
not grow from any other refusal, since that one means a cloned authenticator and is
audited so.

Importing py_webauthn costs the API a noticeable share of its cold start (it brings
pyOpenSSL, asn1 and CBOR: ~0.5 s on a loaded machine), so each function imports what it
uses of it when a ceremony runs; this module's own import is light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auth.errors import InvalidArgument

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# COSE algorithms, in order of preference: ES256 (what nearly every authenticator makes),
# EdDSA, RS256 (Windows Hello). Each is registered only with its own kind of key
# (_check_usable_key): one offered without that check is refused, never stored unchecked.
ES256, EDDSA, RS256 = -7, -8, -257
ALGORITHMS = (ES256, EDDSA, RS256)
# The FIDO Alliance's authenticator requirements and NIST SP 800-131A/800-57 put RSA at 2048
# bits at least: a shorter modulus can be factored, and its passkey forged.
MIN_RSA_BITS = 2048
# And at most: an authenticator's RSA key is 2048 bits (4096 at the most), and verifying
# with a far longer modulus, or an exponent past 32 bits, costs each sign-in CPU for nothing.
MAX_RSA_BITS = 8192
MAX_RSA_EXPONENT = 2**32 - 1
# WebAuthn Level 3 §7.1 ("Registering a New Credential"): a longer credential id fails the
# ceremony (py_webauthn does not check it).
MAX_CREDENTIAL_ID_BYTES = 1023


def _malformed() -> tuple[type[Exception], ...]:
    """What untrusted JSON can make the library raise: its own errors and a few of Python's
    (LookupError: a COSE key that is a CBOR array, not a map, is indexed like one;
    RecursionError: a clientDataJSON nested deeper than json.loads recurses)."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, ValueError, TypeError, LookupError, AttributeError, RecursionError)


def _algorithms() -> list[Any]:
    from webauthn.helpers.cose import COSEAlgorithmIdentifier

    return [COSEAlgorithmIdentifier(alg) for alg in ALGORITHMS]


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origins: tuple[str, ...]
    name: str = "memos"


class PasskeyRefused(Exception):
    """The authenticator's answer did not verify; `reason` is for the audit trail only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:200]


class CounterDidNotGrow(PasskeyRefused):
    """Everything verified but the signature counter: the sign of a cloned authenticator."""


@dataclass(frozen=True)
class Presented:
    """What a response says of itself before it is verified: enough to find its challenge
    and its passkey."""

    credential_id: bytes
    challenge: bytes = field(repr=False)
    user_handle: bytes | None = None


@dataclass(frozen=True)
class Registered:
    """What a registration response proved, once verified: the new passkey's credential."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    backed_up: bool
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Asserted:
    """What a verified sign-in changes of its passkey."""

    new_sign_count: int
    backed_up: bool


def _descriptors(credentials: Sequence[tuple[bytes, Sequence[str]]]) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=credential_id,
            transports=[AuthenticatorTransport(t) for t in transports if t in known] or None,
        )
        for credential_id, transports in credentials
    ]


def registration_options(
    rp: RelyingParty,
    user_handle: bytes,
    username: str,
    display_name: str,
    challenge: bytes,
    exclude: Sequence[tuple[bytes, Sequence[str]]],
    timeout_ms: int,
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptionsJSON: a discoverable credential, user verification
    required, no attestation asked, the user's passkeys excluded."""
    from webauthn import generate_registration_options
    from webauthn.helpers import options_to_json_dict
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=username,
        user_display_name=display_name or username,
        challenge=challenge,
        timeout=timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=_algorithms(),
    )
    return options_to_json_dict(options)


def authentication_options(
    rp: RelyingParty, challenge: bytes, allow: Sequence[tuple[bytes, Sequence[str]]], timeout_ms: int
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptionsJSON; an empty `allow` lets the authenticator offer
    any discoverable credential of this RP (a passwordless sign-in)."""
    from webauthn import generate_authentication_options
    from webauthn.helpers import options_to_json_dict
    from webauthn.helpers.structs import UserVerificationRequirement

    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=timeout_ms,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def read_registration(credential: Mapping[str, Any]) -> Presented:
    """The credential id and challenge a RegistrationResponseJSON names; 400 when malformed."""
    from webauthn.helpers import parse_client_data_json, parse_registration_credential_json

    try:
        parsed = parse_registration_credential_json(dict(credential))
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except _malformed() as exc:
        raise InvalidArgument("credential is not a RegistrationResponseJSON") from exc
    return Presented(parsed.raw_id, challenge)


def read_assertion(credential: Mapping[str, Any]) -> Presented:
    """The credential id, challenge and user handle an AuthenticationResponseJSON names;
    400 when malformed."""
    from webauthn.helpers import parse_authentication_credential_json, parse_client_data_json

    try:
        parsed = parse_authentication_credential_json(dict(credential))
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except _malformed() as exc:
        raise InvalidArgument("credential is not an AuthenticationResponseJSON") from exc
    return Presented(parsed.raw_id, challenge, parsed.response.user_handle)


def verify_registration(rp: RelyingParty, credential: Mapping[str, Any], challenge: bytes) -> Registered:
    from webauthn import verify_registration_response
    from webauthn.helpers import parse_registration_credential_json

    try:
        parsed = parse_registration_credential_json(dict(credential))
        _same_origin_only(parsed.response.client_data_json)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=_algorithms(),
        )
        _check_usable_key(verified.credential_public_key)
    except _malformed() as exc:
        raise PasskeyRefused(str(exc) or type(exc).__name__) from exc
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise PasskeyRefused(
            f"a credential id of {len(verified.credential_id)} bytes is longer than {MAX_CREDENTIAL_ID_BYTES}"
        )
    transports = tuple(t.value for t in parsed.response.transports or ())
    return Registered(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        backed_up=verified.credential_backed_up,
        transports=transports,
    )


def _same_origin_only(client_data_json: bytes) -> None:
    """Refuse a ceremony run in a frame of another origin (WebAuthn Level 3 §7.1 and §7.2,
    `crossOrigin`: a relying party verifies it expects one). The account pages may not be
    framed at all (`frame-ancestors 'none'`), so no genuine ceremony ever is; py_webauthn
    does not check it."""
    from webauthn.helpers import parse_client_data_json

    if parse_client_data_json(client_data_json).cross_origin:
        raise PasskeyRefused("the ceremony ran in a cross-origin frame (crossOrigin: true)")


def _check_usable_key(cose_key: bytes) -> None:
    """Refuse (PasskeyRefused) a COSE key that no assertion could verify with: one
    `cryptography` will not load (a point off its curve, an RSA exponent below 3), an
    Ed25519 key it loads unchecked that is no point of the curve or one of small order
    (auth.ed25519_points, RFC 8032 §5.1.3), one whose type is not what its `alg` signs
    with (an EC2 key stating RS256, a P-384 key stating ES256), or an RSA key too short to
    trust or too long to be worth verifying. The assertion loads it the same way."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from webauthn.helpers import decode_credential_public_key, decoded_public_key_to_cryptography

    from auth import ed25519_points

    decoded = decode_credential_public_key(cose_key)
    key = decoded_public_key_to_cryptography(decoded)
    alg = int(decoded.alg)
    if alg == ES256 and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return
    if alg == EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
        # cryptography loads any 32 bytes as an Ed25519 key: the point is checked here.
        refusal = ed25519_points.refusal(key.public_bytes_raw())
        if refusal is not None:
            raise PasskeyRefused(refusal)
        return
    if alg == RS256 and isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise PasskeyRefused(f"an RSA key of {key.key_size} bits is shorter than {MIN_RSA_BITS}")
        if key.key_size > MAX_RSA_BITS:
            raise PasskeyRefused(f"an RSA key of {key.key_size} bits is longer than {MAX_RSA_BITS}")
        if key.public_numbers().e > MAX_RSA_EXPONENT:
            raise PasskeyRefused("an RSA exponent longer than 32 bits")
        return
    kind = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    raise PasskeyRefused(f"COSE algorithm {alg} does not sign with a {kind.removesuffix('PublicKey')} key")


def verify_assertion(
    rp: RelyingParty, credential: Mapping[str, Any], challenge: bytes, public_key: bytes, sign_count: int
) -> Asserted:
    """Verify an assertion against the passkey's key and its last known counter."""
    from webauthn import verify_authentication_response

    malformed = _malformed()

    def verify(current_count: int) -> Asserted:
        from webauthn.helpers import parse_authentication_credential_json

        _same_origin_only(parse_authentication_credential_json(dict(credential)).response.client_data_json)
        verified = verify_authentication_response(
            credential=dict(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=current_count,
            require_user_verification=True,
        )
        return Asserted(verified.new_sign_count, verified.credential_backed_up)

    try:
        return verify(sign_count)
    except malformed as exc:
        refusal = PasskeyRefused(str(exc) or type(exc).__name__)
        if sign_count > 0:
            # The library checks the counter before the signature. Checked again without a
            # known count: if all else verifies, it was the counter alone.
            try:
                verify(0)
            except malformed:
                raise refusal from exc
            raise CounterDidNotGrow(f"signature counter did not grow past {sign_count}") from exc
        raise refusal from exc
