"""A software WebAuthn authenticator and client, built on `cryptography`, for the passkey
tests (SPEC §7).

It answers registration options with a RegistrationResponseJSON (attestation `none`,
authenticator data with the UP, UV and AT flags, a COSE public key) and request options
with an AuthenticationResponseJSON signed with an ES256 or RS256 key, exactly as a browser
would send them, so the service's py_webauthn verifies them for real. Every property a
test wants to break (origin, RP id, flags, counter, signature) is a keyword argument.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

Algorithm = Literal["ES256", "RS256"]
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
# COSE algorithm ids (RFC 9053): a key states its algorithm as COSE key parameter 3.
COSE_ALG = {"ES256": -7, "RS256": -257}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value: Any) -> bytes:
    """The few CBOR types WebAuthn's structures use (RFC 8949): ints, byte and text strings,
    maps (in the order given) and arrays."""

    def head(major: int, argument: int) -> bytes:
        if argument < 24:
            return bytes([major << 5 | argument])
        for info, size in ((24, "B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if argument < 256 ** struct.calcsize(size):
                return bytes([major << 5 | info]) + struct.pack(size, argument)
        raise ValueError("too large")

    if isinstance(value, bool):
        raise TypeError("no booleans in these structures")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        encoded = value.encode("utf-8")
        return head(3, len(encoded)) + encoded
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(cbor(item) for item in value)
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value).__name__)


def cose_ec2(x: int, y: int, *, alg: int = COSE_ALG["ES256"], crv: int = 1, size: int = 32) -> bytes:
    """An EC2 COSE key (kty 2) of the point (x, y), each coordinate `size` bytes; crv 1 is
    P-256, 2 is P-384 (RFC 9053). Any values: a test may state a point off its curve."""
    return cbor({1: 2, 3: alg, -1: crv, -2: x.to_bytes(size, "big"), -3: y.to_bytes(size, "big")})


def cose_rsa(n: int, e: int, *, alg: int = COSE_ALG["RS256"]) -> bytes:
    """An RSA COSE key (kty 3, RFC 8230) of modulus `n` and exponent `e`, whatever they are."""

    def unsigned(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    return cbor({1: 3, 3: alg, -1: unsigned(n), -2: unsigned(e)})


def cose_okp(x: bytes, *, alg: int = -8, crv: int = 6) -> bytes:
    """An OKP COSE key (kty 1) of public bytes `x`; crv 6 is Ed25519, 4 is X25519 (RFC 9053)."""
    return cbor({1: 1, 3: alg, -1: crv, -2: x})


@dataclass
class Credential:
    credential_id: bytes
    algorithm: Algorithm
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_key(self) -> bytes:
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            return cose_ec2(numbers.x, numbers.y)
        rsa_numbers = public.public_numbers()
        return cose_rsa(rsa_numbers.n, rsa_numbers.e)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _new_key(algorithm: Algorithm) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _client_data(kind: str, challenge: str, origin: str, cross_origin: bool) -> bytes:
    collected: dict[str, Any] = {
        "type": kind,
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": cross_origin,
    }
    if cross_origin:
        # WebAuthn Level 3: a frame's ceremony names the top-level origin it is inside.
        collected["topOrigin"] = "https://framing.example"
    return json.dumps(collected, separators=(",", ":")).encode()


def _public_key_credential(
    credential: Credential, client_data: bytes, response: dict[str, Any]
) -> dict[str, Any]:
    """The PublicKeyCredential a browser sends back for `credential` (its toJSON()): both
    ceremonies' answers are this, with `response` holding the ceremony's own fields."""
    return {
        "id": b64url(credential.credential_id),
        "rawId": b64url(credential.credential_id),
        "type": "public-key",
        "response": {"clientDataJSON": b64url(client_data), **response},
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    }


@dataclass
class SoftAuthenticator:
    """A platform authenticator holding discoverable credentials, and the browser in front
    of it (which writes clientDataJSON with the page's `origin`)."""

    origin: str = "http://localhost:3000"
    credentials: list[Credential] = field(default_factory=list)
    # How much each assertion adds to a credential's counter; 0 for one that keeps none.
    counter_step: int = 1

    def register(
        self,
        options: dict[str, Any],
        algorithm: Algorithm = "ES256",
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        up: bool = True,
        uv: bool = True,
        backed_up: bool = False,
        challenge: str | None = None,
        kind: str = "webauthn.create",
        credential_id: bytes | None = None,
        cose_key: bytes | None = None,
        cross_origin: bool = False,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): a new credential for the options' user and RP,
        as a RegistrationResponseJSON (attestation `none`); `cose_key` replaces the public
        key it states (a broken authenticator's)."""
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            credential_id=credential_id or secrets.token_bytes(32),
            algorithm=algorithm,
            private_key=_new_key(algorithm),
            user_handle=unb64url(options["user"]["id"]),
            rp_id=options["rp"]["id"],
        )
        self.credentials.append(credential)
        flags = AT | (UP if up else 0) | (UV if uv else 0) | ((BE | BS) if backed_up else 0)
        attested = (
            bytes(16)  # AAGUID: none, as an authenticator that does not attest sends
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + (credential.cose_key() if cose_key is None else cose_key)
        )
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags]) + struct.pack(">I", 0) + attested
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data(
            kind, challenge or options["challenge"], origin or self.origin, cross_origin
        )
        return _public_key_credential(
            credential,
            client_data,
            {"attestationObject": b64url(attestation), "transports": ["internal", "hybrid"]},
        )

    def assert_(
        self,
        options: dict[str, Any],
        credential: Credential | None = None,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        up: bool = True,
        uv: bool = True,
        sign_count: int | None = None,
        bad_signature: bool = False,
        user_handle: bytes | None = None,
        kind: str = "webauthn.get",
        cross_origin: bool = False,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an AuthenticationResponseJSON from `credential`, or
        from the newest of this RP's credentials the options allow."""
        if credential is None:
            allowed = {unb64url(c["id"]) for c in options.get("allowCredentials", [])}
            usable = [
                c
                for c in self.credentials
                if c.rp_id == options["rpId"] and (not allowed or c.credential_id in allowed)
            ]
            assert usable, "no credential of this authenticator fits the options"
            credential = usable[-1]
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count
        rp = rp_id or options["rpId"]
        flags = (UP if up else 0) | (UV if uv else 0)
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        client_data = _client_data(kind, options["challenge"], origin or self.origin, cross_origin)
        signature = credential.sign(auth_data + hashlib.sha256(client_data).digest())
        if bad_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return _public_key_credential(
            credential,
            client_data,
            {
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else credential.user_handle),
            },
        )
