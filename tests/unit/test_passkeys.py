"""SPEC §7 passkeys: registration, listing and removal, a passwordless sign-in and a passkey
as the second step, through the API handler, with a software authenticator whose answers
py_webauthn verifies for real (tests/support/authenticator.py)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auth import ed25519_points, routes
from auth.audit import AuditEvent, CredentialKind
from auth.errors import Unavailable
from auth.models import NO_SIGN_IN, Role, SignIn, State
from auth.passkeys import CEREMONY_TTL_SECONDS, passkey_id_of
from auth.principal import AuthMethod, Principal
from auth.routes import Route
from auth.stores.passkey_store import PasskeyStore
from auth.user_admin import UserChanges
from auth.wiring import ApiServices
from handlers.observability import Metric
from tests.support.audit import RecordingAudit
from tests.support.authenticator import (
    Algorithm,
    SoftAuthenticator,
    b64url,
    cbor,
    cose_ec2,
    cose_okp,
    cose_rsa,
    unb64url,
)
from tests.support.clock import FakeClock
from tests.support.factors import (
    challenge_of,
    enrol_totp,
    factor_call,
    passkey_options,
    passkey_sign_in,
    password_step,
    refused_after_the_lag,
    register_passkey,
    second_step,
    sign_in_call,
    sign_in_options,
)
from tests.support.faults import Conflicted, Unprocessing
from tests.support.metrics import counted
from tests.support.people import (
    People,
    call_api,
    context_for,
    then_an_admin_changes_alices_password,
)
from tests.unit.test_factors import UNAVAILABLE, throttle_items
from tests.unit.test_sessions import CLIENT

MAX_AGE = 600
SIGN_IN, SESSIONS = routes.SIGN_IN, routes.CREATE_SESSION
ALGORITHMS: list[Algorithm] = ["ES256", "RS256"]
NOT_ACCEPTED = {"code": 3, "message": "the passkey was not accepted", "details": []}
INVALID_CEREMONY = "the passkey challenge is invalid or has expired; ask for new options"
# A clientDataJSON nested deeper than json.loads recurses (2 kB: far under the body limit).
TOO_DEEP = base64.urlsafe_b64encode(b"[" * 1000 + b"]" * 1000).rstrip(b"=").decode()
INVALID_CHALLENGE = "the second-factor challenge is invalid or has expired; sign in again"
# Public keys for COSE keys an authenticator should never send (and one it may: Ed25519).
P256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
P384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()
ED25519 = ED25519_KEY.public_key().public_bytes_raw()


def ed25519_y(y: int) -> bytes:
    """The 32 bytes of an Ed25519 public key stating `y` (RFC 8032 §5.1.2), x's sign bit 0."""
    return y.to_bytes(32, "little")


def odd_modulus(bits: int) -> int:
    # cryptography loads any odd modulus: whether it has two prime factors is not its check.
    return 1 << (bits - 1) | 1


def passkeys_of(api: ApiServices, people: People, who: str = "alice") -> list[dict[str, Any]]:
    answer = factor_call(api, routes.LIST_PASSKEYS, getattr(people, who))
    assert answer.status == 200, answer.body
    listed = answer.body["passkeys"]
    assert isinstance(listed, list)
    return listed


def registration_options(api: ApiServices, people: People, who: str = "alice") -> dict[str, Any]:
    answer = factor_call(api, routes.PASSKEY_REGISTRATION, getattr(people, who))
    assert answer.status == 200, answer.body
    options = answer.body["options"]
    assert isinstance(options, dict)
    return options


def register_with(api: ApiServices, people: People, credential: dict[str, Any], who: str = "alice") -> Any:
    return factor_call(api, routes.REGISTER_PASSKEY, getattr(people, who), body={"credential": credential})


def amr(answer: Any) -> list[str]:
    claims = jwt.decode(answer.body["accessToken"], options={"verify_signature": False})
    value = claims["amr"]
    assert isinstance(value, list)
    return value


@dataclass(frozen=True)
class Trail:
    """What the passkey routes leave behind, for a test to read: the factors table's items
    and the audit trail."""

    aws: dict[str, Any]
    audit: RecordingAudit

    def items(self, prefix: str) -> list[dict[str, Any]]:
        scanned = self.aws["dynamodb"].scan(TableName="FactorsTable")["Items"]
        return [item for item in scanned if item["pk"]["S"].startswith(prefix)]

    def events(self) -> list[tuple[Any, ...]]:
        """The passkey events: (event, credential id, reason)."""
        return [(e[0], e[3], e[4]) for e in self.audit.events if e[1] is CredentialKind.PASSKEY]


@pytest.fixture
def trail(aws: dict[str, Any], audit: RecordingAudit) -> Trail:
    return Trail(aws, audit)


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def passkey(api: ApiServices, people: People, authenticator: SoftAuthenticator) -> dict[str, Any]:
    """alice's passkey, registered with `authenticator` (ES256, "Laptop"): its PasskeyJson."""
    return register_passkey(api, people.alice, authenticator)


# -- registration -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_registered_passkey_signs_in_alone_with_hwk_and_mfa(
    api: ApiServices, trail: Trail, people: People, authenticator: SoftAuthenticator, algorithm: Algorithm
) -> None:
    passkey = register_passkey(api, people.alice, authenticator, algorithm)
    credential_id = authenticator.credentials[0].credential_id
    assert passkey == {
        "name": f"users/alice/passkeys/{passkey_id_of(credential_id)}",
        "id": passkey_id_of(credential_id),
        "displayName": "Laptop",
        "createdAt": "2027-01-15T08:00:00Z",
        "backedUp": False,
    }
    signed_in = passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api)))
    assert signed_in.status == 200, signed_in.body
    assert signed_in.body["user"]["username"] == "alice"
    assert amr(signed_in) == ["hwk", "mfa"]
    assert any(cookie.startswith("memos_refresh=") for cookie in signed_in.cookies)
    (listed,) = passkeys_of(api, people)
    assert listed["lastUsedAt"] == "2027-01-15T08:00:00Z"
    (stored,) = trail.items("passkey#")
    assert stored["signCount"] == {"N": "1"}
    assert (AuditEvent.CREATED, passkey["id"], "registered") in trail.events()
    assert (AuditEvent.USED, passkey["id"], "signed in, passwordless") in trail.events()


@pytest.mark.usefixtures("passkey")
def test_a_passkey_signs_in_to_a_session_too(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    answer = passkey_sign_in(api, SESSIONS, authenticator.assert_(sign_in_options(api)))
    assert answer.status == 200, answer.body
    (cookie,) = [c for c in answer.cookies if c.startswith("user_session=")]
    session = cookie.split(";")[0].split("=", 1)[1]
    assert api.sessions.current(session, people.alice.id) is not None


def test_registration_options_ask_for_a_discoverable_verified_credential_and_exclude_existing(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    first = registration_options(api, people)
    assert len(unb64url(first["challenge"])) >= 16
    assert first["rp"] == {"name": "memos", "id": "localhost"}
    assert first["user"]["name"] == "alice" and unb64url(first["user"]["id"]) == str(people.alice.id).encode()
    assert first["authenticatorSelection"]["residentKey"] == "required"
    assert first["authenticatorSelection"]["userVerification"] == "required"
    assert first["attestation"] == "none"
    assert {p["alg"] for p in first["pubKeyCredParams"]} >= {-7, -257}
    assert first["excludeCredentials"] == []
    register_passkey(api, people.alice, authenticator)
    second = registration_options(api, people)
    (excluded,) = second["excludeCredentials"]
    assert unb64url(excluded["id"]) == authenticator.credentials[0].credential_id
    assert second["challenge"] != first["challenge"]


@pytest.mark.usefixtures("passkey")
def test_the_same_credential_cannot_be_registered_twice(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    # An authenticator that ignores excludeCredentials and offers the same credential id again.
    same = authenticator.credentials[0].credential_id
    again = authenticator.register(registration_options(api, people), credential_id=same)
    refused = register_with(api, people, again)
    assert (refused.status, refused.body["message"]) == (409, "this passkey is already registered")
    # Nor can another user claim it.
    bobs = SoftAuthenticator().register(registration_options(api, people, "bob"), credential_id=same)
    assert register_with(api, people, bobs, who="bob").status == 409
    assert len(passkeys_of(api, people)) == 1 and passkeys_of(api, people, "bob") == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"cross_origin": True}, "cross-origin frame"),
        ({"rp_id": "evil.example"}, "RP ID"),
        ({"uv": False}, "verification"),
        ({"up": False}, "presence"),
        ({"kind": "webauthn.get"}, "type"),
        # A COSE key must be a CBOR map; py_webauthn indexes an array like one.
        ({"cose_key": cbor([1, 2])}, "index"),
        # Keys py_webauthn would store, but that no assertion could ever verify with.
        ({"cose_key": cose_ec2(P256.x, P256.y + 1)}, "not on the curve"),
        ({"cose_key": cose_ec2(P384.x, P384.y, crv=2, size=48)}, "-7 does not sign with a secp384r1"),
        ({"cose_key": cose_ec2(P256.x, P256.y, alg=-257)}, "-257 does not sign with a secp256r1"),
        ({"cose_key": cose_rsa(odd_modulus(512), 65537)}, "RSA key of 512 bits is shorter than 2048"),
        ({"cose_key": cose_rsa(odd_modulus(2048), 1)}, "e must be >= 3"),
        ({"cose_key": cose_rsa(odd_modulus(16384), 65537)}, "RSA key of 16384 bits is longer than 8192"),
        ({"cose_key": cose_rsa(odd_modulus(2048), 2**64 + 1)}, "RSA exponent longer than 32 bits"),
        ({"cose_key": cose_rsa(odd_modulus(2048), 65537, alg=-37)}, "unsupported credential public key alg"),
        ({"cose_key": cose_okp(ED25519, alg=-7)}, "OKP public key with alg -7"),
        ({"cose_key": cose_okp(ED25519, crv=4)}, "OKP public key with alg -8 and crv 4"),
        # Ed25519 keys cryptography loads unchecked (RFC 8032 §5.1.3): y = 2 has no x on the
        # curve; y = p + 3 is y = 3 (a point of the curve) stated non-canonically; y = 0 and
        # y = p - 1 are points of order 4 and 2.
        ({"cose_key": cose_okp(ed25519_y(2))}, "does not decode to a point on the curve"),
        ({"cose_key": cose_okp(ed25519_y(ed25519_points.P + 3))}, "does not decode to a point"),
        ({"cose_key": cose_okp(ed25519_y(0))}, "Ed25519 key that is a point of small order"),
        ({"cose_key": cose_okp(ed25519_y(ed25519_points.P - 1))}, "point of small order"),
        # WebAuthn Level 3 §7.1: a credential id over 1,023 bytes fails the ceremony.
        ({"credential_id": bytes(1024)}, "credential id of 1024 bytes"),
    ],
    ids=[
        "origin",
        "cross-origin",
        "rp-id",
        "no-uv",
        "no-up",
        "wrong-type",
        "key-not-a-map",
        "ec2-off-p256",
        "p384-as-es256",
        "ec2-as-rs256",
        "rsa-512-bits",
        "rsa-exponent-1",
        "rsa-16384-bits",
        "rsa-exponent-65-bits",
        "rsa-as-ps256",
        "okp-as-es256",
        "x25519",
        "ed25519-off-curve",
        "ed25519-y-not-below-p",
        "ed25519-order-4",
        "ed25519-order-2",
        "credential-id-too-long",
    ],
)
def test_a_registration_that_does_not_verify_stores_nothing(
    api: ApiServices,
    trail: Trail,
    people: People,
    authenticator: SoftAuthenticator,
    change: dict[str, Any],
    reason: str,
) -> None:
    options = registration_options(api, people)
    refused = register_with(api, people, authenticator.register(options, **change))
    assert (refused.status, refused.body) == (400, NOT_ACCEPTED)
    assert trail.items("passkey#") == [] and passkeys_of(api, people) == []
    (event,) = trail.events()
    assert event[0] is AuditEvent.REFUSED and reason.lower() in event[2].lower()
    # The challenge was used up by the refusal: a correct answer to it is refused now.
    retried = register_with(api, people, authenticator.register(options))
    assert (retried.status, retried.body["message"]) == (400, INVALID_CEREMONY)


def test_a_credential_id_of_1023_bytes_is_registered_and_signs_in(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    credential = authenticator.register(registration_options(api, people), credential_id=b"\x01" * 1023)
    assert register_with(api, people, credential).status == 200
    assert passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api))).status == 200


def test_an_ed25519_key_is_registered_and_signs_in(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    # EdDSA is offered (registration options), so a genuine Ed25519 key is accepted.
    options = registration_options(api, people)
    assert -8 in {p["alg"] for p in options["pubKeyCredParams"]}
    created = register_with(api, people, authenticator.register(options, cose_key=cose_okp(ED25519)))
    assert created.status == 200, created.body
    assert len(passkeys_of(api, people)) == 1
    # The soft authenticator signs with ES256 or RS256: its assertion is signed again here
    # with the Ed25519 key registered (over authenticatorData || SHA-256(clientDataJSON)).
    assertion = authenticator.assert_(sign_in_options(api))
    response = assertion["response"]
    client_data_hash = hashlib.sha256(unb64url(response["clientDataJSON"])).digest()
    signed = unb64url(response["authenticatorData"]) + client_data_hash
    response["signature"] = b64url(ED25519_KEY.sign(signed))
    signed_in = passkey_sign_in(api, SIGN_IN, assertion)
    assert signed_in.status == 200, signed_in.body


# RFC 8032 §7.1's test vectors: (SECRET KEY, PUBLIC KEY) of TEST 1, 2, 3, 1024 and SHA(abc).
RFC_8032_KEYS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    ),
    (
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    ),
]
# RFC 8032 §5.1's base point B: y = 4/5, x its even square root.
BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960


@pytest.mark.parametrize(("secret", "public"), RFC_8032_KEYS, ids=["1", "2", "3", "1024", "sha-abc"])
def test_rfc_8032s_public_keys_are_usable_ed25519_points(secret: str, public: str) -> None:
    derived = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)).public_key()
    assert derived.public_bytes_raw().hex() == public
    point = ed25519_points.decode(bytes.fromhex(public))
    assert point is not None and not ed25519_points.has_small_order(point)
    assert ed25519_points.refusal(bytes.fromhex(public)) is None


def test_ed25519_points_decode_the_base_point_and_refuse_what_rfc_8032_does() -> None:
    p = ed25519_points.P
    assert ed25519_points.decode(ed25519_y(BASE_Y)) == (BASE_X, BASE_Y)
    # The sign bit picks the odd root: -B.
    assert ed25519_points.decode(ed25519_y(BASE_Y | 1 << 255)) == (p - BASE_X, BASE_Y)
    assert not ed25519_points.has_small_order((BASE_X, BASE_Y))
    assert ed25519_points.add((BASE_X, BASE_Y), (p - BASE_X, BASE_Y)) == ed25519_points.IDENTITY
    refused = [
        ed25519_y(2),  # no x: (y² - 1) / (d·y² + 1) is not a square
        ed25519_y(p),  # y ≥ p: 0, stated non-canonically
        ed25519_y(p + 3),  # so is 3, a point of the curve
        ed25519_y(1 | 1 << 255),  # x = 0 with the sign bit set
        ED25519[:31],  # not 32 bytes
    ]
    assert [ed25519_points.decode(encoded) for encoded in refused] == [None] * len(refused)
    assert ed25519_points.decode(ed25519_y(3)) is not None


@pytest.mark.parametrize(
    "encoded",
    [
        ed25519_y(1),  # the identity (0, 1)
        ed25519_y(ed25519_points.P - 1),  # (0, -1), of order 2
        ed25519_y(0),  # (±√-1, 0), of order 4
        ed25519_y(0 | 1 << 255),
        # Two of the points of order 8.
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    ],
    ids=["identity", "order-2", "order-4", "order-4-negated", "order-8", "order-8-other"],
)
def test_ed25519_points_of_small_order_are_refused(encoded: bytes) -> None:
    point = ed25519_points.decode(encoded)
    assert point is not None and ed25519_points.has_small_order(point)
    assert ed25519_points.refusal(encoded) == "an Ed25519 key that is a point of small order"


def test_a_registration_challenge_is_used_once_and_lives_five_minutes(
    api: ApiServices, clock: FakeClock, people: People, authenticator: SoftAuthenticator
) -> None:
    options = registration_options(api, people)
    assert register_with(api, people, authenticator.register(options)).status == 200
    replayed = register_with(api, people, authenticator.register(options))
    assert (replayed.status, replayed.body["message"]) == (400, INVALID_CEREMONY)
    late = registration_options(api, people)
    clock.advance(CEREMONY_TTL_SECONDS)
    expired = register_with(api, people, authenticator.register(late))
    assert (expired.status, expired.body["message"]) == (400, INVALID_CEREMONY)
    assert len(passkeys_of(api, people)) == 1


def test_a_registration_that_meets_a_concurrent_transaction_is_a_503_that_stores_nothing(
    api: ApiServices,
    conflicted: Conflicted,
    trail: Trail,
    people: People,
    authenticator: SoftAuthenticator,
) -> None:
    credential = authenticator.register(registration_options(api, people))
    answer = conflicted.once(lambda services: register_with(services, people, credential))
    assert (answer.status, answer.body) == (503, UNAVAILABLE)
    assert trail.items("passkey#") == [] and trail.events() == []
    # The ceremony was not used up: the same answer registers on a retry.
    assert register_with(api, people, credential).status == 200


def test_a_registration_challenge_is_one_users_and_one_ceremonys(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    bobs = registration_options(api, people, "bob")
    taken = register_with(api, people, authenticator.register(bobs), who="alice")
    assert (taken.status, taken.body["message"]) == (400, INVALID_CEREMONY)
    # A sign-in's challenge cannot register either.
    sign_in = sign_in_options(api)
    crossed = register_with(
        api,
        people,
        authenticator.register({**registration_options(api, people), **{"challenge": sign_in["challenge"]}}),
    )
    assert (crossed.status, crossed.body["message"]) == (400, INVALID_CEREMONY)
    # Bob's challenge is untouched and still his.
    assert register_with(api, people, authenticator.register(bobs), who="bob").status == 200
    assert passkeys_of(api, people) == [] and len(passkeys_of(api, people, "bob")) == 1


@pytest.mark.parametrize(
    "route", [routes.PASSKEY_REGISTRATION, routes.REGISTER_PASSKEY], ids=["options", "register"]
)
def test_registration_needs_a_recent_sign_in_and_never_a_pat_and_is_ones_own(
    api: ApiServices, clock: FakeClock, people: People, authenticator: SoftAuthenticator, route: Route
) -> None:
    body = {"credential": authenticator.register(registration_options(api, people))}
    old = SignIn.with_password(clock.now() - MAX_AGE - 1)
    too_old = factor_call(api, route, people.alice, sign_in=old, body=body)
    assert (too_old.status, too_old.body["message"]) == (401, "recent sign-in required")
    pat = factor_call(api, route, people.alice, sign_in=NO_SIGN_IN, method=AuthMethod.PAT, body=body)
    assert (pat.status, pat.body["code"]) == (403, 7)
    assert factor_call(api, route, people.alice, caller=people.admin, body=body).status == 403
    assert passkeys_of(api, people) == []


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "x"},
        {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "!!"}},
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {"clientDataJSON": TOO_DEEP, "attestationObject": "AA"},
        },
    ],
    ids=["empty", "no-response", "bad-base64", "client-data-too-deep"],
)
def test_a_malformed_registration_is_a_400(api: ApiServices, people: People, credential: Any) -> None:
    registration_options(api, people)
    answer = register_with(api, people, credential)
    assert (answer.status, answer.body["code"]) == (400, 3)
    assert passkeys_of(api, people) == []


def test_a_display_name_is_kept_and_bounded(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    long = factor_call(
        api,
        routes.REGISTER_PASSKEY,
        people.alice,
        body={
            "credential": authenticator.register(registration_options(api, people)),
            "displayName": "x" * 65,
        },
    )
    assert (long.status, long.body["code"]) == (400, 3)
    assert (
        register_passkey(api, people.alice, authenticator, display_name="  Phone ")["displayName"] == "Phone"
    )


# -- listing and removal --------------------------------------------------------------------------


def test_listing_is_the_users_or_an_admins_oldest_first(
    api: ApiServices, clock: FakeClock, people: People, authenticator: SoftAuthenticator
) -> None:
    first = register_passkey(api, people.alice, authenticator, "ES256", "Laptop")
    clock.advance(1)
    second = register_passkey(api, people.alice, authenticator, "RS256", "Key")
    assert [p["id"] for p in passkeys_of(api, people)] == [first["id"], second["id"]]
    by_admin = factor_call(api, routes.LIST_PASSKEYS, people.alice, caller=people.admin)
    assert [p["displayName"] for p in by_admin.body["passkeys"]] == ["Laptop", "Key"]
    assert factor_call(api, routes.LIST_PASSKEYS, people.alice, caller=people.bob).status == 403


def test_a_listing_whose_batch_read_is_throttled_asks_again_and_never_leaves_one_out(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, people: People, authenticator: SoftAuthenticator
) -> None:
    first = register_passkey(api, people.alice, authenticator, "ES256", "Laptop")
    clock.advance(1)
    second = register_passkey(api, people.alice, authenticator, "RS256", "Key")
    pauses: list[float] = []

    def store(times: int) -> PasskeyStore:
        client = Unprocessing(aws["dynamodb"], times)
        return PasskeyStore(client, api.config.factors_table, api.users, pause=pauses.append)

    listed = store(times=2).for_user(people.alice.id)
    assert [record.passkey_id for record in listed] == [first["id"], second["id"]] and len(pauses) == 2
    # Still unread after every attempt: unavailable, never a listing without them.
    with pytest.raises(Unavailable):
        store(times=99).for_user(people.alice.id)


def remove(api: ApiServices, people: People, passkey_id: str, **kwargs: Any) -> Any:
    context = context_for(kwargs.pop("caller", people.alice), **kwargs)
    path = routes.REMOVE_PASSKEY.path.format(username="alice", id=passkey_id)
    return call_api(api, "DELETE", path, routes.REMOVE_PASSKEY.path, context)


def test_removing_ones_own_passkey_needs_a_recent_sign_in_and_keeps_logins(
    api: ApiServices,
    clock: FakeClock,
    people: People,
    authenticator: SoftAuthenticator,
    trail: Trail,
    passkey: dict[str, Any],
) -> None:
    api.sessions.create(people.alice, CLIENT)
    old = SignIn.with_password(clock.now() - MAX_AGE - 1)
    assert remove(api, people, passkey["id"], sign_in=old).status == 401
    assert remove(api, people, passkey["id"], caller=people.bob).status == 403
    assert remove(api, people, passkey["id"]).body == {}
    assert passkeys_of(api, people) == [] and len(api.logins.list_for_user(people.alice.id)) == 1
    assert remove(api, people, passkey["id"]).status == 404
    assert (remove(api, people, "not-a-passkey-id").status) == 400
    assert (AuditEvent.REVOKED, passkey["id"], "removed by the user") in trail.events()
    # It no longer signs in.
    answer = passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api)))
    assert (answer.status, answer.body) == (400, NOT_ACCEPTED)


def test_an_admins_removal_needs_the_admins_recent_sign_in_and_ends_every_login(
    api: ApiServices, clock: FakeClock, people: People, trail: Trail, passkey: dict[str, Any]
) -> None:
    api.sessions.create(people.alice, CLIENT)
    api.refresh_tokens.issue(people.alice, CLIENT)
    access_token = api.access_tokens.issue(people.alice, SignIn.with_password(clock.now())).token
    clock.advance(1)
    old = SignIn.with_password(clock.now() - MAX_AGE - 1)
    assert remove(api, people, passkey["id"], caller=people.admin, sign_in=old).status == 401
    assert len(passkeys_of(api, people)) == 1 and len(api.logins.list_for_user(people.alice.id)) == 2
    assert remove(api, people, passkey["id"], caller=people.admin).status == 200
    assert passkeys_of(api, people) == [] and api.logins.list_for_user(people.alice.id) == []
    assert refused_after_the_lag(api, clock, access_token)
    assert (AuditEvent.REVOKED, passkey["id"], f"removed by admin {people.admin.id}") in trail.events()


def test_a_sign_in_with_the_passkey_an_admin_is_removing_does_not_survive_it(
    api: ApiServices,
    clock: FakeClock,
    people: People,
    authenticator: SoftAuthenticator,
    passkey: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The intruder's passkey signs in after the admin's removal began to end alice's logins
    # and before the passkey is gone: that sign-in must end with the removal too.
    removal = api.passkey_store.remove
    intruder: list[Any] = []

    def the_intruder_signs_in_first(*args: Any) -> bool:
        if not intruder:
            intruder.append(passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api))))
        return removal(*args)

    monkeypatch.setattr(api.passkey_store, "remove", the_intruder_signs_in_first)
    clock.advance(1)
    assert remove(api, people, passkey["id"], caller=people.admin).status == 200
    assert intruder and intruder[0].status == 200, "the intruder's sign-in was not interleaved"
    assert api.logins.list_for_user(people.alice.id) == []


def test_someone_elses_passkey_id_is_not_found(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    bobs = register_passkey(api, people.bob, authenticator)
    assert remove(api, people, bobs["id"]).status == 404
    assert len(passkeys_of(api, people, "bob")) == 1


def test_deleting_the_user_deletes_their_passkeys(
    api: ApiServices, trail: Trail, people: People, authenticator: SoftAuthenticator
) -> None:
    alices = [register_passkey(api, people.alice, authenticator, a)["id"] for a in ("ES256", "RS256")]
    register_passkey(api, people.bob, SoftAuthenticator())
    path = routes.DELETE_USER.path.format(username="alice")
    assert call_api(api, "DELETE", path, routes.DELETE_USER.path, context_for(people.alice)).status == 200
    left = trail.items("passkey")
    assert {item["userId"]["N"] for item in left} == {str(people.bob.id)}
    revoked = [(id_, reason) for event, id_, reason in trail.events() if event is AuditEvent.REVOKED]
    assert sorted(revoked) == sorted((id_, "user deleted") for id_ in alices)
    answer = passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api)))
    assert (answer.status, answer.body) == (400, NOT_ACCEPTED)


# -- passwordless sign-in ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"origin": "http://localhost:3001"}, "origin"),
        ({"cross_origin": True}, "cross-origin frame"),
        ({"rp_id": "example.com"}, "RP ID"),
        ({"uv": False}, "verif"),
        ({"up": False}, "present"),
        ({"bad_signature": True}, "signature"),
        ({"kind": "webauthn.create"}, "type"),
    ],
    ids=["origin", "cross-origin", "rp-id", "no-uv", "no-up", "signature", "wrong-type"],
)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_assertion_that_does_not_verify_is_a_failed_sign_in(
    api: ApiServices, trail: Trail, people: People, algorithm: Algorithm, change: dict[str, Any], reason: str
) -> None:
    authenticator = SoftAuthenticator()
    passkey = register_passkey(api, people.alice, authenticator, algorithm)
    options = sign_in_options(api)
    refused = passkey_sign_in(api, SIGN_IN, authenticator.assert_(options, **change))
    assert (refused.status, refused.body, refused.cookies) == (400, NOT_ACCEPTED, [])
    (event,) = [e for e in trail.events() if e[0] is AuditEvent.REFUSED]
    assert event[1] == passkey["id"] and reason.lower() in event[2].lower()
    (stored,) = trail.items("passkey#")
    assert stored["signCount"] == {"N": "0"} and "lastUsedAt" not in stored
    # The refusal used the challenge up.
    retried = passkey_sign_in(api, SIGN_IN, authenticator.assert_(options))
    assert (retried.status, retried.body["message"]) == (400, INVALID_CEREMONY)


@pytest.mark.usefixtures("passkey")
def test_failed_passkey_sign_ins_feed_the_throttle(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    for _ in range(5):
        assertion = authenticator.assert_(sign_in_options(api), bad_signature=True)
        assert passkey_sign_in(api, SIGN_IN, assertion).status == 400
    good = authenticator.assert_(sign_in_options(api))
    throttled = passkey_sign_in(api, SIGN_IN, good)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    # The password shares the count: this address is throttled for alice either way.
    assert password_step(api, SIGN_IN, people.alice).status == 429
    assert passkey_sign_in(api, SIGN_IN, good, source_ip="198.51.100.9").status == 200


@pytest.mark.usefixtures("passkey")
def test_an_assertion_is_used_once(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    options = sign_in_options(api)
    assertion = authenticator.assert_(options)
    assert passkey_sign_in(api, SIGN_IN, assertion).status == 200
    replayed = passkey_sign_in(api, SIGN_IN, assertion)
    assert (replayed.status, replayed.body["message"]) == (400, INVALID_CEREMONY)
    # A fresh assertion for the spent challenge is refused too.
    again = passkey_sign_in(api, SESSIONS, authenticator.assert_(options))
    assert (again.status, again.body["message"]) == (400, INVALID_CEREMONY)


@pytest.mark.usefixtures("passkey")
def test_a_sign_in_challenge_lives_five_minutes(
    api: ApiServices, clock: FakeClock, people: People, authenticator: SoftAuthenticator
) -> None:
    options = sign_in_options(api)
    clock.advance(CEREMONY_TTL_SECONDS - 1)
    fresh = sign_in_options(api)
    assert passkey_sign_in(api, SIGN_IN, authenticator.assert_(fresh)).status == 200
    clock.advance(1)
    expired = passkey_sign_in(api, SIGN_IN, authenticator.assert_(options))
    assert (expired.status, expired.body["message"]) == (400, INVALID_CEREMONY)


@pytest.mark.usefixtures("passkey")
def test_a_registration_challenge_does_not_sign_in(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    registration = registration_options(api, people)
    assertion = authenticator.assert_({"rpId": "localhost", "challenge": registration["challenge"]})
    answer = passkey_sign_in(api, SIGN_IN, assertion)
    assert (answer.status, answer.body["message"]) == (400, INVALID_CEREMONY)


def test_a_counter_that_does_not_grow_is_refused_and_audited(
    api: ApiServices, trail: Trail, people: People, authenticator: SoftAuthenticator, passkey: dict[str, Any]
) -> None:
    assert (
        passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api), sign_count=7)).status == 200
    )
    for count in (7, 3, 0):
        cloned = authenticator.assert_(sign_in_options(api), sign_count=count)
        answer = passkey_sign_in(api, SIGN_IN, cloned)
        assert (answer.status, answer.body) == (400, NOT_ACCEPTED), count
    refused = [e for e in trail.events() if e[0] is AuditEvent.REUSE_REFUSED]
    assert len(refused) == 3 and all(e[1] == passkey["id"] and "counter" in e[2] for e in refused)
    (stored,) = trail.items("passkey#")
    assert stored["signCount"] == {"N": "7"}
    assert (
        passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api), sign_count=8)).status == 200
    )


def test_an_authenticator_without_a_counter_signs_in_again_and_again(
    api: ApiServices, people: People
) -> None:
    authenticator = SoftAuthenticator(counter_step=0)
    register_passkey(api, people.alice, authenticator)
    for _ in range(3):
        assert passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api))).status == 200


@pytest.mark.usefixtures("passkey")
def test_an_unknown_passkey_or_a_wrong_user_handle_is_refused(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    stranger = SoftAuthenticator()
    stranger.register(registration_options(api, people, "bob"))
    unknown = passkey_sign_in(api, SIGN_IN, stranger.assert_(sign_in_options(api)))
    assert (unknown.status, unknown.body) == (400, NOT_ACCEPTED)
    posing = authenticator.assert_(sign_in_options(api), user_handle=str(people.bob.id).encode())
    assert (passkey_sign_in(api, SIGN_IN, posing).status) == 400


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": 1},
        {"id": "AA", "rawId": "AA", "type": "public-key", "response": {}},
        "x" * 10_000,
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {"clientDataJSON": TOO_DEEP, "authenticatorData": "AA", "signature": "AA"},
        },
    ],
    ids=["empty", "bad-id", "no-fields", "a-string", "client-data-too-deep"],
)
def test_a_malformed_assertion_is_a_400_that_changes_nothing(
    api: ApiServices, aws: dict[str, Any], people: People, credential: Any
) -> None:
    before = aws["dynamodb"].scan(TableName="SettingsTable")["Items"]
    answer = sign_in_call(api, SIGN_IN, {"passkeyCredentials": {"credential": credential}})
    assert (answer.status, answer.body["code"]) == (400, 3)
    assert aws["dynamodb"].scan(TableName="SettingsTable")["Items"] == before


@pytest.mark.usefixtures("passkey")
def test_exactly_one_kind_of_credentials(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    both = {
        "passkeyCredentials": {"credential": authenticator.assert_(sign_in_options(api))},
        "passwordCredentials": {"username": "alice", "password": "correct horse battery"},
    }
    answer = sign_in_call(api, SIGN_IN, both)
    assert (answer.status, answer.body["code"]) == (400, 3)


def test_an_archived_user_cannot_sign_in_with_a_passkey_and_the_refusal_is_audited(
    api: ApiServices, people: People, authenticator: SoftAuthenticator, passkey: dict[str, Any], trail: Trail
) -> None:
    admin = Principal(people.admin.id, "root", Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    api.user_admin.update(admin, "alice", UserChanges(state=State.ARCHIVED))
    answer = passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api)))
    assert (answer.status, answer.body["message"]) == (403, "user has been archived")
    assert trail.events()[-1] == (AuditEvent.REFUSED, passkey["id"], "user has been archived")


@pytest.mark.usefixtures("passkey")
@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
def test_a_passkey_sign_in_racing_a_password_change_stores_no_credential(
    api: ApiServices,
    people: People,
    authenticator: SoftAuthenticator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    route: Route,
) -> None:
    """An admin changes alice's password (which ends her sign-ins) after her passkey
    verified and before the sign-in's session or refresh family is stored: no sign-in is
    counted."""
    monkeypatch.setattr(
        api.passkeys, "use", then_an_admin_changes_alices_password(api, people, api.passkeys.use)
    )
    credential = authenticator.assert_(sign_in_options(api))
    capsys.readouterr()
    answer = passkey_sign_in(api, route, credential)
    assert (answer.status, answer.body["message"], answer.cookies) == (
        400,
        "unmatched username and password",
        [],
    )
    assert counted(capsys, Metric.SIGN_INS) == 0
    assert api.logins.list_for_user(people.alice.id) == []


@pytest.mark.usefixtures("passkey")
def test_a_passkey_is_no_password_for_disallow_password_auth(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    api.settings.update_instance(disallow_user_registration=False, disallow_password_auth=True)
    assert password_step(api, SIGN_IN, people.alice).status == 403
    assert passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api))).status == 200


# -- the second step ---------------------------------------------------------------------------


@pytest.mark.usefixtures("passkey")
def test_the_methods_name_passkey_when_the_user_has_one(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    (info,) = password_step(api, SIGN_IN, people.alice).body["details"]
    assert info["metadata"]["methods"] == "passkey"
    enrol_totp(api, people.alice)
    (info,) = password_step(api, SIGN_IN, people.alice).body["details"]
    assert info["metadata"]["methods"] == "totp,recoveryCode,passkey"
    # Without a factor, the password alone still signs in.
    assert password_step(api, SIGN_IN, people.bob).status == 200


@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_passkey_second_step_signs_in_with_pwd_hwk_mfa(
    api: ApiServices,
    trail: Trail,
    people: People,
    authenticator: SoftAuthenticator,
    route: Route,
    algorithm: Algorithm,
) -> None:
    passkey = register_passkey(api, people.alice, authenticator, algorithm)
    other = SoftAuthenticator()
    register_passkey(api, people.alice, other)
    challenge = challenge_of(password_step(api, route, people.alice))
    options = sign_in_options(api, challenge)
    allowed = {unb64url(c["id"]) for c in options["allowCredentials"]}
    assert allowed == {c.credential_id for c in authenticator.credentials + other.credentials}
    assert options["userVerification"] == "required"
    answer = second_step(api, route, challenge, passkey=authenticator.assert_(options))
    assert answer.status == 200, answer.body
    if route is SIGN_IN:
        assert amr(answer) == ["pwd", "hwk", "mfa"]
    else:
        (cookie,) = [c for c in answer.cookies if c.startswith("user_session=")]
        session = api.sessions.current(cookie.split(";")[0].split("=", 1)[1], people.alice.id)
        assert session is not None and session.sign_in.amr == ("pwd", "hwk", "mfa")
    # Both challenges are used up.
    assert trail.items("mfa#") == [] and trail.items("webauthn#") == []
    assert (AuditEvent.USED, passkey["id"], "signed in, second step") in trail.events()


@pytest.mark.usefixtures("passkey")
def test_a_wrong_passkey_in_the_second_step_is_a_wrong_code(
    api: ApiServices, trail: Trail, people: People, authenticator: SoftAuthenticator
) -> None:
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    for tries in range(1, 5):
        bad = authenticator.assert_(sign_in_options(api, challenge), bad_signature=True)
        answer = second_step(api, SIGN_IN, challenge, passkey=bad)
        assert (answer.status, answer.body) == (400, NOT_ACCEPTED)
        (item,) = trail.items("mfa#")
        assert item["failures"] == {"N": str(tries)}
    fifth = authenticator.assert_(sign_in_options(api, challenge), bad_signature=True)
    assert second_step(api, SIGN_IN, challenge, passkey=fifth).status == 400
    # Five wrong tries: the challenge is dead, and so are options for it.
    assert trail.items("mfa#") == []
    dead = passkey_options(api, challenge)
    assert (dead.status, dead.body["message"]) == (400, INVALID_CHALLENGE)
    # And they were failed sign-ins: the password step from this address is throttled.
    assert password_step(api, SIGN_IN, people.alice).status == 429


@pytest.mark.usefixtures("passkey")
@pytest.mark.parametrize("step", ["passwordless", "second step"])
def test_an_assertion_whose_use_meets_a_concurrent_transaction_is_a_503_that_counts_nothing(
    api: ApiServices,
    conflicted: Conflicted,
    aws: dict[str, Any],
    trail: Trail,
    people: People,
    authenticator: SoftAuthenticator,
    step: str,
) -> None:
    if step == "passwordless":
        assertion = authenticator.assert_(sign_in_options(api))

        def send(services: ApiServices) -> Any:
            return passkey_sign_in(services, SIGN_IN, assertion)
    else:
        challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
        assertion = authenticator.assert_(sign_in_options(api, challenge))

        def send(services: ApiServices) -> Any:
            return second_step(services, SIGN_IN, challenge, passkey=assertion)

    before = (trail.items(""), throttle_items(api, aws), len(trail.audit.events))
    # Nothing was refused (no condition failed): not a replay, and the client may retry.
    answer = conflicted.once(send)
    assert (answer.status, answer.body) == (503, UNAVAILABLE)
    assert (trail.items(""), throttle_items(api, aws), len(trail.audit.events)) == before
    retried = send(api)
    assert retried.status == 200, retried.body


@pytest.mark.usefixtures("passkey")
def test_another_users_passkey_does_not_finish_the_second_step(api: ApiServices, people: People) -> None:
    bobs = SoftAuthenticator()
    register_passkey(api, people.bob, bobs)
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    options = sign_in_options(api, challenge)
    answer = second_step(api, SIGN_IN, challenge, passkey=bobs.assert_(options, bobs.credentials[0]))
    assert (answer.status, answer.body) == (400, NOT_ACCEPTED)


@pytest.mark.usefixtures("passkey")
def test_a_passkey_ceremony_belongs_to_its_mfa_challenge(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    first = challenge_of(password_step(api, SIGN_IN, people.alice))
    second = challenge_of(password_step(api, SIGN_IN, people.alice))
    options = sign_in_options(api, first)
    crossed = second_step(api, SIGN_IN, second, passkey=authenticator.assert_(options))
    assert (crossed.status, crossed.body["message"]) == (400, INVALID_CEREMONY)
    # A passwordless challenge is not a second step's either.
    passwordless = second_step(api, SIGN_IN, second, passkey=authenticator.assert_(sign_in_options(api)))
    assert (passwordless.status, passwordless.body["message"]) == (400, INVALID_CEREMONY)
    # ...nor a second step's a passwordless sign-in.
    stolen = passkey_sign_in(api, SIGN_IN, authenticator.assert_(sign_in_options(api, second)))
    assert (stolen.status, stolen.body["message"]) == (400, INVALID_CEREMONY)
    # The first challenge and its ceremony are untouched.
    assert second_step(api, SIGN_IN, first, passkey=authenticator.assert_(options)).status == 200


@pytest.mark.usefixtures("passkey")
def test_a_challenge_of_the_other_route_does_not_finish_with_a_passkey(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    options = sign_in_options(api, challenge)
    crossed = second_step(api, SESSIONS, challenge, passkey=authenticator.assert_(options))
    assert (crossed.status, crossed.body["message"]) == (400, INVALID_CHALLENGE)


def test_passkey_options_for_a_bad_challenge_or_a_user_without_passkeys(
    api: ApiServices, people: People
) -> None:
    for value in ("x" * 43, "short", "-" * 129):
        answer = passkey_options(api, value)
        assert answer.status == 400 and answer.body["code"] == 3, value
    enrol_totp(api, people.alice)
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    none = passkey_options(api, challenge)
    assert (none.status, none.body["code"]) == (400, 9)


@pytest.mark.usefixtures("passkey")
def test_the_second_step_takes_exactly_one_proof(
    api: ApiServices, people: People, authenticator: SoftAuthenticator
) -> None:
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    assertion = authenticator.assert_(sign_in_options(api, challenge))
    both = second_step(api, SIGN_IN, challenge, passkey=assertion, totpCode="123456")
    assert (both.status, both.body["code"]) == (400, 3)
    assert second_step(api, SIGN_IN, challenge, passkey=assertion).status == 200


def test_a_passkey_challenge_is_stored_only_as_a_hash(api: ApiServices, trail: Trail, people: People) -> None:
    options = sign_in_options(api)
    (item,) = trail.items("webauthn#")
    challenge = unb64url(options["challenge"])
    assert item["pk"]["S"] == "webauthn#" + hashlib.sha256(challenge).hexdigest()
    assert options["challenge"] not in repr(item) and challenge.hex() not in repr(item)
    assert int(item["expiresAt"]["N"]) - int(item["createdAt"]["N"]) == CEREMONY_TTL_SECONDS
