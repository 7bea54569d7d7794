"""The stored form of every record: the attributes each store writes, and what it reads from
an item that lacks some.

Deployed tables and tools/memos_import rely on these attribute names and kinds, so a
change of them is a migration, never a refactoring. The defaults on read are security
decisions: an item without its owner's state is an archived owner's, not an active one's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from auth import idp_models
from auth.factor_cipher import Sealed
from auth.models import ClientInfo, Device, Role, SignIn, State, TokenOwner, User
from auth.stores.factor_store import ChallengeRecord, FactorStore, PendingPut, TotpRecord
from auth.stores.idp_store import IdpStore, StoredProvider, link_to_item, provider_to_item
from auth.stores.passkey_store import CeremonyKind, CeremonyRecord, PasskeyRecord, PasskeyStore
from auth.stores.pat_store import PatRecord, PatStore, pat_to_item
from auth.stores.refresh_family_store import RefreshFamily, RefreshFamilyStore
from auth.stores.session_store import SessionRecord, SessionStore
from auth.stores.settings_store import InstanceSettings, SettingsStore
from auth.stores.user_store import UserStore, user_from_item, user_to_item

OWNER = TokenOwner("alice", Role.ADMIN, State.NORMAL)
USER = User(7, "alice", Role.ADMIN, State.NORMAL, "$2b$hash", "Alice", "a@example.com", 100, 200, 150)
SEALED = Sealed("v1", b"\x00nonce-ciphertext-tag")


class Recorder:
    """A DynamoDB client that keeps every write's request and answers reads from `items`."""

    def __init__(self, items: dict[str, dict[str, Any]] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.items = items or {}

    def _answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((operation, request))
        return {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._answer("put_item", request)

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        return self._answer("transact_write_items", request)

    def get_item(self, **request: Any) -> dict[str, Any]:
        item = self.items.get(str(request["Key"]))
        return {"Item": item} if item is not None else {}

    def only_put(self) -> dict[str, Any]:
        [(operation, request)] = self.requests
        assert operation == "put_item"
        return dict(request["Item"])

    def only_checked_put(self, key: str) -> dict[str, Any]:
        """The item of the one write: a new item's Put (`key` not taken), in one transaction
        with a check that USER is still as read (a sign-in's session or refresh family)."""
        [(operation, request)] = self.requests
        assert operation == "transact_write_items"
        put, check = request["TransactItems"]
        assert put["Put"]["ConditionExpression"] == f"attribute_not_exists({key})"
        assert check == {
            "ConditionCheck": {
                "TableName": "Users",
                "Key": {"pk": {"S": "user#7"}},
                "ConditionExpression": "attribute_exists(pk) AND tokensNotBefore = :tokens_not_before",
                "ExpressionAttributeValues": {":tokens_not_before": {"N": "150"}},
            }
        }
        return dict(put["Put"]["Item"])


def _answering(key: dict[str, Any], item: dict[str, Any]) -> Recorder:
    return Recorder({str(key): {**key, **item}})


def _users() -> UserStore:
    return UserStore(Recorder(), "Users", "Settings")


def _families(client: Recorder) -> RefreshFamilyStore:
    return RefreshFamilyStore(client, "Families", _users())


# -- users -----------------------------------------------------------------------------------


def test_a_user_item_holds_every_field_under_its_prefixed_key() -> None:
    assert user_to_item(USER) == {
        "pk": {"S": "user#7"},
        "id": {"N": "7"},
        "username": {"S": "alice"},
        "role": {"S": "ADMIN"},
        "state": {"S": "NORMAL"},
        "passwordHash": {"S": "$2b$hash"},
        "displayName": {"S": "Alice"},
        "email": {"S": "a@example.com"},
        "createTime": {"N": "100"},
        "updateTime": {"N": "200"},
        "tokensNotBefore": {"N": "150"},
    }
    assert user_from_item(user_to_item(USER)) == USER


def test_an_imported_user_item_is_flagged_and_counts_its_tokens() -> None:
    user_put, username_put = _users().imported_items(USER, 2)
    assert user_put["Put"]["Item"] == {
        **user_to_item(USER),
        "imported": {"BOOL": True},
        "patCount": {"N": "2"},
    }
    assert username_put["Put"]["Item"] == {"pk": {"S": "username#alice"}, "userId": {"N": "7"}}


def test_a_user_item_without_role_or_state_reads_as_a_normal_user() -> None:
    user = user_from_item({"pk": {"S": "user#7"}, "id": {"N": "7"}})
    assert user == User(7, "", Role.USER, State.NORMAL, "", "", "", 0, 0, 0)


def test_a_user_item_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError):
        user_from_item({"pk": {"S": "user#7"}, "id": {"N": "7"}, "role": {"S": "ROOT"}})


# -- personal access tokens ------------------------------------------------------------------

PAT = PatRecord("hash", "tid", 7, "ci", 100, None, None, OWNER)


def test_a_token_item_omits_what_it_has_not_and_carries_its_owner() -> None:
    assert pat_to_item(PAT) == {
        "tokenHash": {"S": "hash"},
        "tokenId": {"S": "tid"},
        "userId": {"N": "7"},
        "description": {"S": "ci"},
        "createdAt": {"N": "100"},
        "ownerUsername": {"S": "alice"},
        "ownerRole": {"S": "ADMIN"},
        "ownerState": {"S": "NORMAL"},
    }
    full = PatRecord("hash", "tid", 7, "ci", 100, 900, 300, OWNER, imported=True)
    assert pat_to_item(full) == {
        **pat_to_item(PAT),
        "expiresAt": {"N": "900"},
        "lastUsedAt": {"N": "300"},
        "imported": {"BOOL": True},
    }


@pytest.mark.parametrize("record", [PAT, PatRecord("hash", "tid", 7, "ci", 100, 900, 300, OWNER, True)])
def test_a_token_reads_back_as_written(record: PatRecord) -> None:
    store = PatStore(_answering({"tokenHash": {"S": "hash"}}, pat_to_item(record)), "Pats", _users())
    assert store.get("hash") == record


def test_a_token_item_without_its_owner_copy_reads_as_an_archived_users() -> None:
    key = {"tokenHash": {"S": "hash"}}
    store = PatStore(_answering(key, {}), "Pats", _users())
    assert store.get("hash") == PatRecord(
        "hash", "", 0, "", 0, None, None, TokenOwner("", Role.USER, State.ARCHIVED)
    )


# -- refresh families ------------------------------------------------------------------------

SIGN_IN = SignIn(90, ("pwd", "otp", "mfa"))
FAMILY = RefreshFamily.begun("fam", 7, "tok", 100, 900, ClientInfo("curl", "203.0.113.7"), SIGN_IN)


def test_a_new_family_item_holds_its_first_token_and_sign_in() -> None:
    request = _families(Recorder()).put_new(FAMILY)
    assert request["ConditionExpression"] == "attribute_not_exists(familyId)"
    assert request["Item"] == {
        "familyId": {"S": "fam"},
        "userId": {"N": "7"},
        "currentTokenId": {"S": "tok"},
        "createdAt": {"N": "100"},
        "lastUsedAt": {"N": "100"},
        "expiresAt": {"N": "900"},
        "revoked": {"BOOL": False},
        "userAgent": {"S": "curl"},
        "ipAddress": {"S": "203.0.113.7"},
        "authTime": {"N": "90"},
        "amr": {"S": "pwd otp mfa"},
    }
    imported = RefreshFamily("fam", 7, "tok", 100, 100, 900, False, ClientInfo(), imported=True)
    assert _families(Recorder()).put_new(imported)["Item"]["imported"] == {"BOOL": True}


def test_a_sign_ins_family_is_its_new_item_stored_with_a_check_of_its_user() -> None:
    client = Recorder()
    _families(client).create(FAMILY, USER)
    new = _families(Recorder()).put_new(FAMILY)["Item"]
    assert client.only_checked_put("familyId") == new


def test_a_user_whose_cut_off_never_moved_is_checked_as_missing_or_zero() -> None:
    check = _users().unchanged_since(replace(USER, tokens_not_before=0))["ConditionCheck"]
    assert check["ConditionExpression"] == (
        "attribute_exists(pk) AND "
        "(attribute_not_exists(tokensNotBefore) OR tokensNotBefore = :tokens_not_before)"
    )
    # Exactly the values the expression uses: DynamoDB refuses any other (moto does not).
    assert check["ExpressionAttributeValues"] == {":tokens_not_before": {"N": "0"}}


def test_a_family_reads_its_rotation_and_first_use_from_what_rotate_wrote() -> None:
    item = {
        **_families(Recorder()).put_new(FAMILY)["Item"],
        "previousTokenId": {"S": "old"},
        "rotatedAt": {"N": "150"},
        "firstUsedAt": {"N": "150"},
    }
    store = _families(_answering({"familyId": {"S": "fam"}}, item))
    assert store.get("fam") == RefreshFamily(
        "fam",
        7,
        "tok",
        100,
        100,
        900,
        False,
        ClientInfo("curl", "203.0.113.7"),
        SIGN_IN,
        used=True,
        previous_token_id="old",
        rotated_at=150,
    )


def test_a_sparse_family_item_reads_as_never_used_and_no_sign_in() -> None:
    store = _families(_answering({"familyId": {"S": "fam"}}, {}))
    assert store.get("fam") == RefreshFamily("fam", 0, "", 0, 0, 0, False, ClientInfo(), SignIn(0, ()))


# -- sessions --------------------------------------------------------------------------------

SESSION = SessionRecord(
    "secret-hash",
    "sid",
    7,
    100,
    110,
    900,
    ClientInfo("Firefox", "203.0.113.7"),
    Device("Desktop", "Linux", "Firefox"),
    SIGN_IN,
)


def test_a_session_item_holds_its_client_device_and_sign_in() -> None:
    client = Recorder()
    SessionStore(client, "Sessions", _users()).create(SESSION, USER)
    assert client.only_checked_put("secretHash") == {
        "secretHash": {"S": "secret-hash"},
        "sessionId": {"S": "sid"},
        "userId": {"N": "7"},
        "createdAt": {"N": "100"},
        "lastAccessedAt": {"N": "110"},
        "expiresAt": {"N": "900"},
        "userAgent": {"S": "Firefox"},
        "ipAddress": {"S": "203.0.113.7"},
        "device": {"S": "Desktop"},
        "os": {"S": "Linux"},
        "browser": {"S": "Firefox"},
        "authTime": {"N": "90"},
        "amr": {"S": "pwd otp mfa"},
    }


def test_a_session_reads_back_as_written_and_as_used_once_touched() -> None:
    client = Recorder()
    SessionStore(client, "Sessions", _users()).create(SESSION, USER)
    item = client.only_checked_put("secretHash")
    key = {"secretHash": {"S": "secret-hash"}}
    assert SessionStore(_answering(key, item), "Sessions", _users()).get("secret-hash") == SESSION
    touched = SessionStore(_answering(key, {**item, "firstUsedAt": {"N": "120"}}), "Sessions", _users())
    record = touched.get("secret-hash")
    assert record is not None and record.used


# -- TOTP and second-step challenges ---------------------------------------------------------


def test_a_pending_totp_item_holds_the_sealed_secret_and_no_codes() -> None:
    client = Recorder()
    put = FactorStore(client, "Factors").put_pending(TotpRecord(7, "enrol", False, SEALED, 100))
    assert put == PendingPut(stored=True, replaced=None)
    assert client.only_put() == {
        "pk": {"S": "totp#7"},
        "userId": {"N": "7"},
        "enrolmentId": {"S": "enrol"},
        "enabled": {"BOOL": False},
        "secretKid": {"S": "v1"},
        "secret": {"B": SEALED.blob},
        "createdAt": {"N": "100"},
    }


def test_an_enabled_totp_item_reads_its_step_and_codes() -> None:
    item = {
        "userId": {"N": "7"},
        "enrolmentId": {"S": "enrol"},
        "enabled": {"BOOL": True},
        "secretKid": {"S": "v1"},
        "secret": {"B": SEALED.blob},
        "createdAt": {"N": "100"},
        "enabledAt": {"N": "110"},
        "totpLastStep": {"N": "42"},
        "recoveryCodes": {"SS": ["h1", "h2"]},
    }
    store = FactorStore(_answering({"pk": {"S": "totp#7"}}, item), "Factors")
    assert store.get_totp(7) == TotpRecord(7, "enrol", True, SEALED, 100, 110, 42, frozenset({"h1", "h2"}))
    pending = {name: value for name, value in item.items() if name not in ("enabledAt", "totpLastStep")}
    store = FactorStore(_answering({"pk": {"S": "totp#7"}}, {**pending, "enabled": {"BOOL": False}}), "F")
    assert store.get_totp(7) == TotpRecord(
        7, "enrol", False, SEALED, 100, None, None, frozenset({"h1", "h2"})
    )


def test_a_challenge_item_starts_with_no_failures_and_names_its_first_step() -> None:
    client = Recorder()
    challenge = ChallengeRecord(
        "challenge-hash", 7, "POST /api/v1/auth/signin", 100, 400, first_amr="fed", tokens_not_before=150
    )
    FactorStore(client, "Factors").create_challenge(challenge)
    item = client.only_put()
    assert item == {
        "pk": {"S": "mfa#challenge-hash"},
        "userId": {"N": "7"},
        "routeKey": {"S": "POST /api/v1/auth/signin"},
        "createdAt": {"N": "100"},
        "expiresAt": {"N": "400"},
        "failures": {"N": "0"},
        "firstAmr": {"S": "fed"},
        "tokensNotBefore": {"N": "150"},
    }
    key = {"pk": {"S": "mfa#challenge-hash"}}
    assert FactorStore(_answering(key, item), "Factors").get_challenge("challenge-hash") == challenge
    without_first_step = {name: value for name, value in item.items() if name != "firstAmr"}
    read = FactorStore(_answering(key, without_first_step), "Factors").get_challenge("challenge-hash")
    assert read is not None and read.first_amr == "pwd"


# -- passkeys and their ceremonies -----------------------------------------------------------

PASSKEY = PasskeyRecord("pid", 7, b"credential", b"cose-key", 5, ("usb", "nfc"), True, "Key", 100)
CEREMONY = CeremonyRecord("ceremony-hash", CeremonyKind.SECOND_STEP, 7, 100, 400, "mfa-hash")


def test_a_passkey_item_holds_its_credential_under_its_id() -> None:
    client = Recorder()
    store = PasskeyStore(client, "Factors", _users())
    assert store.add(PASSKEY, CEREMONY, 100, 10) is None
    [(_, request)] = client.requests
    item = request["TransactItems"][1]["Put"]["Item"]
    assert item == {
        "pk": {"S": "passkey#pid"},
        "userId": {"N": "7"},
        "credentialId": {"B": b"credential"},
        "publicKey": {"B": b"cose-key"},
        "signCount": {"N": "5"},
        "transports": {"L": [{"S": "usb"}, {"S": "nfc"}]},
        "backedUp": {"BOOL": True},
        "displayName": {"S": "Key"},
        "createdAt": {"N": "100"},
    }
    key = {"pk": {"S": "passkey#pid"}}
    users = _users()
    assert PasskeyStore(_answering(key, item), "Factors", users).get("pid") == PASSKEY
    used = {**item, "lastUsedAt": {"N": "300"}, "transports": {"L": []}}
    read = PasskeyStore(_answering(key, used), "Factors", users).get("pid")
    assert read is not None and (read.last_used_at, read.transports) == (300, ())


def test_a_ceremony_item_names_its_kind_user_and_mfa_challenge() -> None:
    client = Recorder()
    users = _users()
    PasskeyStore(client, "Factors", users).create_ceremony(CEREMONY)
    item = client.only_put()
    assert item == {
        "pk": {"S": "webauthn#ceremony-hash"},
        "kind": {"S": "second_step"},
        "userId": {"N": "7"},
        "createdAt": {"N": "100"},
        "expiresAt": {"N": "400"},
        "mfaChallenge": {"S": "mfa-hash"},
    }
    key = {"pk": {"S": "webauthn#ceremony-hash"}}
    assert PasskeyStore(_answering(key, item), "Factors", users).get_ceremony("ceremony-hash") == CEREMONY


@pytest.mark.parametrize("kind", [{"kind": {"S": "unknown"}}, {}])
def test_a_ceremony_of_no_known_kind_is_no_ceremony(kind: dict[str, Any]) -> None:
    item = {"userId": {"N": "7"}, "createdAt": {"N": "100"}, "expiresAt": {"N": "400"}, **kind}
    key = {"pk": {"S": "webauthn#ceremony-hash"}}
    store = PasskeyStore(_answering(key, item), "Factors", _users())
    assert store.get_ceremony("ceremony-hash") is None


# -- identity providers and links ------------------------------------------------------------

PROVIDER = idp_models.IdentityProvider(
    "github",
    "uid-1",
    idp_models.ProviderType.OAUTH2,
    "GitHub",
    "",
    idp_models.ProviderConfig(
        "client",
        ("read:user", "user:email"),
        idp_models.FieldMapping("login", "name", "email", ""),
        idp_models.AuthStyle.BASIC,
        "https://github.example/auth",
        "https://github.example/token",
        "https://github.example/user",
    ),
    100,
    200,
)


def test_a_provider_item_holds_its_config_as_json_and_its_secret_sealed() -> None:
    item = provider_to_item(StoredProvider(PROVIDER, SEALED))
    assert item == {
        "pk": {"S": "github"},
        "uid": {"S": "uid-1"},
        "type": {"S": "OAUTH2"},
        "title": {"S": "GitHub"},
        "identifierFilter": {"S": ""},
        "config": {
            "S": '{"authStyle": "client_secret_basic", "authUrl": "https://github.example/auth", '
            '"clientId": "client", "fieldMapping": {"avatarUrl": "", "displayName": "name", '
            '"email": "email", "identifier": "login"}, "issuer": "", "scopes": ["read:user", '
            '"user:email"], "tokenUrl": "https://github.example/token", '
            '"userInfoUrl": "https://github.example/user"}'
        },
        "secretKid": {"S": "v1"},
        "secret": {"B": SEALED.blob},
        "createTime": {"N": "100"},
        "updateTime": {"N": "200"},
    }
    store = IdpStore(_answering({"pk": {"S": "github"}}, item), "Providers", "Links")
    assert store.get_provider("github") == StoredProvider(PROVIDER, SEALED)


def test_a_provider_config_missing_its_optional_keys_reads_with_their_defaults() -> None:
    item = {**provider_to_item(StoredProvider(PROVIDER, SEALED)), "config": {"S": '{"clientId": "client"}'}}
    stored = IdpStore(_answering({"pk": {"S": "github"}}, item), "Providers", "Links").get_provider("github")
    assert stored is not None and stored.provider.config == idp_models.ProviderConfig(
        "client", (), idp_models.FieldMapping()
    )


def test_a_link_item_is_keyed_by_provider_and_external_identifier() -> None:
    link = idp_models.LinkRecord("github", "uid-1", "octocat", 7, "link-id", 100)
    item = link_to_item(link)
    assert item == {
        "pk": {"S": "github"},
        "externUid": {"S": "octocat"},
        "providerUid": {"S": "uid-1"},
        "userId": {"N": "7"},
        "linkId": {"S": "link-id"},
        "createTime": {"N": "100"},
    }
    key = {"pk": {"S": "github"}, "externUid": {"S": "octocat"}}
    assert IdpStore(_answering(key, item), "Providers", "Links").get_link("github", "octocat") == link


# -- instance settings -----------------------------------------------------------------------


def test_the_settings_item_holds_both_switches() -> None:
    client = Recorder()
    for settings in (InstanceSettings(True, False), InstanceSettings(False, True)):
        SettingsStore(client, "Settings").put_instance_if_absent(settings)
    items = [request["Item"] for _, request in client.requests]
    assert items == [
        {
            "pk": {"S": "instance"},
            "disallowUserRegistration": {"BOOL": True},
            "disallowPasswordAuth": {"BOOL": False},
        },
        {
            "pk": {"S": "instance"},
            "disallowUserRegistration": {"BOOL": False},
            "disallowPasswordAuth": {"BOOL": True},
        },
    ]
    key = {"pk": {"S": "instance"}}
    assert SettingsStore(_answering(key, items[0]), "Settings").get_instance() == InstanceSettings(
        True, False
    )


def test_no_settings_item_is_every_switch_off() -> None:
    assert SettingsStore(Recorder(), "Settings").get_instance() == InstanceSettings()
