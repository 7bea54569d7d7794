"""Encryption of secrets at rest: TOTP secrets (SPEC §7) and identity providers' client
secrets (SPEC §8), never readable from a table alone.

AES-256-GCM (NIST SP 800-38D) through `cryptography`, with a key kept in its own Secrets
Manager secret (`FactorKeySecret`, readable by the API function only). The secret holds
`{"kid","key"}` like the signing key's, and is read through the same key ring (auth.keys):
cached per container, generated and stored on first run, AWSCURRENT seals and AWSPREVIOUS
still opens by `kid`. The AES key is derived from the secret's text with HKDF-SHA-256
(RFC 5869), so a generated string of any alphabet makes a full 256-bit key.

Each use of the cipher has its own purpose (`TOTP`, `IDP_CLIENT_SECRET`): it is the HKDF
context, so each purpose seals under a key of its own, derived from the one secret. The
purpose and the owner (a user id, a provider's id) are the associated data: a sealed value
copied onto another item, or from one purpose to the other, does not open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auth.errors import Internal, Unavailable
from auth.tokens import SigningKeys

# SP 800-38D §8.2.2: a random 96-bit nonce per message; a key seals far fewer than 2^32.
NONCE_BYTES = 12
# The HKDF context of each purpose (TOTP's is the one it always had, so its sealed secrets
# still open).
TOTP = "totp"
IDP_CLIENT_SECRET = "idp-client-secret"


@dataclass(frozen=True)
class Sealed:
    kid: str
    # nonce || ciphertext || tag
    blob: bytes


class FactorCipher:
    def __init__(self, keys: SigningKeys, purpose: str = TOTP) -> None:
        self._keys = keys
        self._purpose = purpose
        self._info = f"memos-auth {purpose} secret v1".encode("ascii")
        self._derived: dict[tuple[str, bytes], AESGCM] = {}

    def seal(self, secret: str, owner: int | str) -> Sealed:
        try:
            key = self._keys.signing_key()
        except Unavailable as exc:
            raise Unavailable("factor key unavailable") from exc
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._aead(key.kid, key.secret).encrypt(
            nonce, secret.encode("utf-8"), self._aad(owner)
        )
        return Sealed(key.kid, blob)

    def open(self, sealed: Sealed, owner: int | str) -> str:
        try:
            key = self._keys.verification_key(sealed.kid)
        except Unavailable as exc:
            raise Unavailable("factor key unavailable") from exc
        if key is None:
            raise Internal(f"a {self._purpose} secret is sealed with a key that is gone")
        nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return (
                self._aead(key.kid, key.secret).decrypt(nonce, ciphertext, self._aad(owner)).decode("utf-8")
            )
        except InvalidTag as exc:
            raise Internal(f"a {self._purpose} secret does not open") from exc

    def _aead(self, kid: str, secret: bytes) -> AESGCM:
        cached = self._derived.get((kid, secret))
        if cached is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self._info)
            cached = self._derived[(kid, secret)] = AESGCM(hkdf.derive(secret))
        return cached

    def _aad(self, owner: int | str) -> bytes:
        return f"{self._purpose}#{owner}".encode()
