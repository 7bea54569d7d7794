"""The authorizer's cold start stays lean: it never imports the API's machinery."""

from __future__ import annotations

from tests.support.fresh_interpreter import modules_after, printed

# What only the API function needs; each costs the authorizer tens of milliseconds.
# The X-Ray SDK alone costs ~300 ms (make bench); Lambda's active tracing covers the authorizer.
HEAVY = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_xray_sdk",
    "pydantic",
    "auth.passwords",
    # The common-password list (auth.passwords loads it from this package's data).
    "zxcvbn",
    "_zxcvbn",
    "auth.accounts",
    "auth.refresh_tokens",
    # A table of compiled patterns, for the sessions list and session creation only.
    "auth.user_agents",
    # Second factors (SPEC §7) are the API's alone: the authorizer reads none of them.
    "pyotp",
    "cryptography.hazmat.primitives.ciphers.aead",
    "cryptography.hazmat.primitives.kdf.hkdf",
    "auth.totp",
    "auth.recovery_codes",
    "auth.factor_cipher",
    "auth.factors",
    "auth.mfa_sign_in",
    "auth.stores.factor_store",
    # SPEC §8: identity providers, their calls out and the links are the API's alone.
    "auth.identity_providers",
    "auth.idp_models",
    "auth.outbound_http",
    "auth.provider_protocol",
    "auth.federated_identity",
    "auth.identifier_filter",
    "auth.sso_sign_in",
    "auth.linked_identities",
    "auth.stores.idp_store",
    # The TOTP enrolment's QR code (SPEC §10).
    "segno",
    "handlers.qr_codes",
    # Passkeys: py_webauthn and what it brings (CBOR, pyOpenSSL, ASN.1).
    "webauthn",
    "cbor2",
    "OpenSSL",
    "pyasn1",
    "auth.passkeys",
    "auth.passkey_ceremonies",
    "auth.stores.passkey_store",
)


def test_authorizer_import_leaves_out_the_api_machinery() -> None:
    loaded = modules_after("import handlers.authorizer")
    heavy = [module for module in loaded if module.startswith(HEAVY)]
    assert heavy == []


def test_the_api_imports_py_webauthn_only_when_a_passkey_ceremony_runs() -> None:
    # ~0.5 s of imports on a loaded machine: a cold start that serves other routes never pays it.
    loaded = modules_after("import handlers.api")
    assert [module for module in loaded if module.startswith(("webauthn", "cbor2", "OpenSSL"))] == []


def test_the_api_clients_do_not_load_pyopenssl() -> None:
    # botocore would take urllib3's pyOpenSSL context (~130 ms) because py_webauthn installs
    # pyOpenSSL; auth.aws keeps it on the standard library's (see there).
    loaded = modules_after("import handlers.api\nfrom auth import aws\naws.dynamodb_client(aws.API_CALLS)")
    assert "botocore.httpsession" in loaded
    assert [module for module in loaded if module.startswith("OpenSSL")] == []


def test_the_api_loads_the_common_password_list_only_when_a_password_is_checked() -> None:
    code = (
        "import json, handlers.api, auth.passwords as p\n"
        "loaded = [p.common_passwords.cache_info().currsize]\n"
        "p.validate_password('correct horse battery')\n"
        "loaded.append(p.common_passwords.cache_info().currsize)\n"
        "print(json.dumps(loaded))"
    )
    assert printed(code) == [0, 1]


def test_the_api_imports_the_outbound_protocol_only_when_a_provider_is_used() -> None:
    """SPEC §8's sign-in machinery (the protocol, its HTTP pool) loads on the first SSO
    request, not on every cold start of the API function."""
    loaded = modules_after("import handlers.api")
    lazy = (
        "auth.provider_protocol",
        "auth.federated_identity",
        "auth.identifier_filter",
        "auth.sso_sign_in",
        "auth.linked_identities",
    )
    assert [module for module in loaded if module.startswith(lazy)] == []
