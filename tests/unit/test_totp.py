"""RFC 6238 through pyotp (auth.totp), recovery codes (auth.recovery_codes) and the sealing
of TOTP secrets (auth.factor_cipher), without any route."""

from __future__ import annotations

import base64
import json
from typing import Any

import pyotp
import pytest

from auth import recovery_codes, totp
from auth.errors import Internal
from auth.factor_cipher import FactorCipher, Sealed
from auth.keys import CURRENT_STAGE, KeyRing, SecretsManagerKeySource
from tests.support.clock import FakeClock
from tests.support.fake_aws import FakeSecretsManager

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"; the
# table's codes are 8 digits.
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_015.0


@pytest.mark.parametrize(("time", "code"), RFC_VECTORS)
def test_pyotp_reproduces_rfc_6238_appendix_b_sha1(time: int, code: str) -> None:
    assert pyotp.TOTP(RFC_SEED, digits=8, interval=totp.STEP_SECONDS).at(time) == code


@pytest.mark.parametrize(("time", "code"), RFC_VECTORS)
def test_six_digit_codes_are_the_rfc_codes_last_six(time: int, code: str) -> None:
    # RFC 4226 §5.3: the truncated value mod 10^digits, so 6 digits are the 8's last six.
    assert totp.matching_step(RFC_SEED, code[-6:], time) == time // 30


def own_code(step_offset: int = 0, now: float = NOW, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(now, counter_offset=step_offset)


def test_the_current_code_matches_the_current_step() -> None:
    assert totp.matching_step(SECRET, own_code(), NOW) == int(NOW) // 30


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_drift_either_way_is_accepted(offset: int) -> None:
    assert totp.matching_step(SECRET, own_code(offset), NOW) == int(NOW) // 30 + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_two_steps_of_drift_are_refused(offset: int) -> None:
    code = own_code(offset)
    # Unless by chance the code is also one of the window's (one in ~333,000).
    window = {own_code(o) for o in (-1, 0, 1)}
    assert code in window or totp.matching_step(SECRET, code, NOW) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", " 123456", "١٢٣٤٥٦", "1" * 10_000])
def test_malformed_codes_never_match(code: str) -> None:
    assert not totp.is_well_formed(code)
    assert totp.matching_step(SECRET, code, NOW) is None


def test_a_new_secret_has_160_bits_and_the_uri_names_issuer_and_user() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) * 8 >= 160
    assert secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice")
    assert uri == f"otpauth://totp/memos:alice?secret={secret}&issuer=memos"


# -- recovery codes -------------------------------------------------------------------------


def test_ten_recovery_codes_of_sixty_bits_all_different() -> None:
    codes = recovery_codes.generate()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(recovery_codes.ALPHABET)
    # 12 characters of a 32-letter alphabet.
    assert recovery_codes.CHARS * 5 >= 50


def test_a_recovery_code_is_found_in_any_spelling() -> None:
    code = recovery_codes.generate()[0]
    expected = recovery_codes.hash_code(code)
    for spelling in (code.upper(), code.replace("-", ""), " ".join(code.split("-"))):
        assert recovery_codes.hash_code(spelling) == expected
    assert len(expected) == 64 and expected != code


@pytest.mark.parametrize("code", ["", "abcd-efgh-ijk", "abcd-efgh-ijk1", "abcd-efgh-ijkl-m", "x" * 10_000])
def test_malformed_recovery_codes_are_none(code: str) -> None:
    assert recovery_codes.normalised(code) is None


# -- sealing --------------------------------------------------------------------------------


def cipher(secretsmanager: Any, clock: FakeClock | None = None) -> FactorCipher:
    source = SecretsManagerKeySource(secretsmanager, "FactorKeySecret")
    return FactorCipher(KeyRing(source, clock or FakeClock()))


def test_a_sealed_secret_opens_for_its_user_only_and_never_shows_the_secret() -> None:
    secretsmanager = FakeSecretsManager({CURRENT_STAGE: json.dumps({"kid": "v1", "key": "k" * 64})})
    sealing = cipher(secretsmanager)
    sealed = sealing.seal(SECRET, 7)
    assert SECRET.encode() not in sealed.blob and sealed.kid == "v1"
    assert sealing.open(sealed, 7) == SECRET
    # Each seal has its own nonce.
    assert sealing.seal(SECRET, 7).blob != sealed.blob
    with pytest.raises(Internal):
        sealing.open(sealed, 8)
    with pytest.raises(Internal):
        sealing.open(Sealed("v1", sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1])), 7)


def test_the_first_key_is_generated_on_first_use_and_cached(aws: dict[str, Any]) -> None:
    sealing = cipher(aws["secretsmanager"])
    sealed = sealing.seal(SECRET, 1)
    stored = json.loads(aws["secretsmanager"].get_secret_value(SecretId="FactorKeySecret")["SecretString"])
    assert stored["kid"] == "v1" and len(stored["key"]) >= 32
    # Another container reads the same key back.
    assert cipher(aws["secretsmanager"]).open(sealed, 1) == SECRET
