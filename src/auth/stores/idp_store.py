"""Two tables of SPEC §8, the API function's alone:

- IdentityProviders, one item per provider (`pk` = its id): the resource as JSON, and the
  client secret sealed (auth.factor_cipher), never in plain text. Few items, so the public
  listing is a Scan.
- LinkedIdentities, one item per link, keyed by provider id (`pk`) and external identifier
  (`externUid`), so an identity has at most one user, and a provider's links are one Query;
  a user's links through the `byUser` index.

A first sign-in writes the new user, its username record and its link in one transaction
(`create_user_with_link`): of two first sign-ins of one identity, exactly one user is made.
`put_provider` and `put_link` write only where nothing is (attribute_not_exists), for the
services and for tools/memos_import alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from auth import idp_models
from auth.errors import Unavailable
from auth.factor_cipher import Sealed
from auth.idp_models import IdentityProvider, LinkRecord
from auth.stores import dynamo, schema
from auth.stores.factor_store import SEALED_SECRET


@dataclass(frozen=True)
class StoredProvider:
    provider: IdentityProvider
    sealed_secret: Sealed = field(repr=False)


class KeptLinkGone(Exception):
    """The other link that an unlinking was to leave the user is gone: nothing was removed."""


class Created(Enum):
    """How a first sign-in's transaction ended."""

    DONE = "done"
    USERNAME_TAKEN = "username taken"
    # Another first sign-in of the same identity won: read its link.
    LINK_TAKEN = "link taken"


def _config_json(config: idp_models.ProviderConfig) -> str:
    mapping = config.field_mapping
    return json.dumps(
        {
            "clientId": config.client_id,
            "scopes": list(config.scopes),
            "fieldMapping": {
                "identifier": mapping.identifier,
                "displayName": mapping.display_name,
                "email": mapping.email,
                "avatarUrl": mapping.avatar_url,
            },
            "authStyle": config.auth_style.value,
            "authUrl": config.auth_url,
            "tokenUrl": config.token_url,
            "userInfoUrl": config.user_info_url,
            "issuer": config.issuer,
        },
        sort_keys=True,
    )


def _config_from(text: str) -> idp_models.ProviderConfig:
    value = json.loads(text)
    mapping = value.get("fieldMapping", {})
    return idp_models.ProviderConfig(
        client_id=value["clientId"],
        scopes=tuple(value.get("scopes", ())),
        field_mapping=idp_models.FieldMapping(
            identifier=mapping.get("identifier", ""),
            display_name=mapping.get("displayName", ""),
            email=mapping.get("email", ""),
            avatar_url=mapping.get("avatarUrl", ""),
        ),
        auth_style=idp_models.AuthStyle(value.get("authStyle", idp_models.AuthStyle.POST.value)),
        auth_url=value.get("authUrl", ""),
        token_url=value.get("tokenUrl", ""),
        user_info_url=value.get("userInfoUrl", ""),
        issuer=value.get("issuer", ""),
    )


PROVIDER = schema.ItemCodec(
    IdentityProvider,
    id=schema.string("pk"),
    uid=schema.string("uid"),
    type=schema.enum("type", idp_models.ProviderType),
    title=schema.string("title"),
    identifier_filter=schema.string("identifierFilter"),
    # One JSON document, so that a change of provider replaces all of it.
    config=schema.text("config", _config_json, _config_from),
    create_time=schema.number("createTime"),
    update_time=schema.number("updateTime"),
)
STORED_PROVIDER = schema.ItemCodec(
    StoredProvider, provider=schema.nested(PROVIDER), sealed_secret=schema.nested(SEALED_SECRET)
)
provider_to_item = STORED_PROVIDER.to_item
LINK = schema.ItemCodec(
    LinkRecord,
    provider_id=schema.string("pk"),
    extern_uid=schema.string("externUid"),
    provider_uid=schema.string("providerUid"),
    user_id=schema.number("userId"),
    link_id=schema.string("linkId"),
    create_time=schema.number("createTime"),
)
link_to_item = LINK.to_item


def _link_key(provider_id: str, extern_uid: str) -> dict[str, Any]:
    return {"pk": dynamo.s(provider_id), "externUid": dynamo.s(extern_uid)}


def _this_link(link: LinkRecord) -> dict[str, Any]:
    """Key and condition of a write that holds only on this very link (same user and id)."""
    return {
        "Key": _link_key(link.provider_id, link.extern_uid),
        "ConditionExpression": "userId = :user AND linkId = :link",
        "ExpressionAttributeValues": dynamo.expression_values({":user": link.user_id, ":link": link.link_id}),
    }


class IdpStore:
    def __init__(self, client: Any, providers_table: str, links_table: str) -> None:
        self._client = client
        self._providers = providers_table
        self._links = links_table

    # -- providers -------------------------------------------------------------------------

    def list_providers(self) -> list[StoredProvider]:
        pages = dynamo.pages(self._client, "scan", TableName=self._providers, ConsistentRead=True)
        return [STORED_PROVIDER.from_item(item) for items in pages for item in items]

    def get_provider(self, provider_id: str) -> StoredProvider | None:
        return STORED_PROVIDER.get(
            self._client, self._providers, {"pk": dynamo.s(provider_id)}, consistent=True
        )

    def put_provider(self, stored: StoredProvider) -> bool:
        """Store a provider under its id where none is; False when the id is taken.

        Also tools/memos_import's way in: a Memos `idp` row with the id (Memos' uid) and
        a uid of its own choosing, its client secret sealed like any other.
        """
        return dynamo.put_new(self._client, self._providers, provider_to_item(stored))

    def replace_provider(self, stored: StoredProvider, was_updated_at: int) -> bool:
        """Store a changed provider over the one read (same uid, not changed since)."""
        return (
            dynamo.conditional_write(
                self._client.put_item,
                TableName=self._providers,
                Item=provider_to_item(stored),
                ConditionExpression=(
                    condition := "attribute_exists(pk) AND #uid = :uid AND updateTime = :was"
                ),
                ExpressionAttributeNames={"#uid": "uid"},
                ExpressionAttributeValues=dynamo.expression_values(
                    {":uid": stored.provider.uid, ":was": was_updated_at}, condition
                ),
            )
            is not None
        )

    def delete_provider(self, provider_id: str) -> StoredProvider | None:
        with dynamo.translated_errors():
            response = self._client.delete_item(
                TableName=self._providers, Key={"pk": dynamo.s(provider_id)}, ReturnValues="ALL_OLD"
            )
        old = dynamo.removed_item(response)
        return STORED_PROVIDER.from_item(old) if old else None

    # -- links -------------------------------------------------------------------------------

    def get_link(self, provider_id: str, extern_uid: str) -> LinkRecord | None:
        return LINK.get(self._client, self._links, _link_key(provider_id, extern_uid), consistent=True)

    def get_links(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LinkRecord]:
        """The links of these (provider id, external identifier) pairs that exist, in consistent
        batch reads (tools/memos_import: a second run finds its links without writing)."""
        return LINK.get_many(
            self._client,
            self._links,
            [_link_key(*key) for key in keys],
            by=lambda link: (link.provider_id, link.extern_uid),
        )

    def links_of_user(self, user_id: int) -> list[LinkRecord]:
        return [LINK.from_item(item) for item in dynamo.items_of_user(self._client, self._links, user_id)]

    def put_link(self, link: LinkRecord) -> bool:
        """A link where the identity has none; False when it is linked already.

        tools/memos_import's way in for Memos' `user_identity` rows (provider = the idp's
        id here, provider_uid = the uid put_provider stored, extern_uid, user_id).
        """
        return dynamo.put_new(self._client, self._links, link_to_item(link))

    def link_existing_user(self, link: LinkRecord, user_key: dynamo.TableKey) -> bool | None:
        """Link an identity to a user who must still exist, in one transaction: True when
        linked, False when the identity is linked already, None when the user is gone."""
        codes = dynamo.write_transaction(
            self._client, [dynamo.still_exists(user_key), dynamo.new_item(self._links, link_to_item(link))]
        )
        if codes is None:
            return True
        if codes[1:2] == [dynamo.ITEM_CONDITION_FAILED]:
            return False
        if codes[:1] == [dynamo.ITEM_CONDITION_FAILED]:
            return None
        raise Unavailable("storage unavailable")

    def create_user_with_link(self, user_items: Sequence[dict[str, Any]], link: LinkRecord) -> Created:
        """A first sign-in: the user's items (auth.stores.user_store.creation_items: the user,
        then its username record) and the link, all or none."""
        link_put = dynamo.new_item(self._links, link_to_item(link))
        codes = dynamo.write_transaction(self._client, [*user_items, link_put])
        if codes is None:
            return Created.DONE
        if codes[len(user_items) : len(user_items) + 1] == [dynamo.ITEM_CONDITION_FAILED]:
            return Created.LINK_TAKEN
        if codes[1:2] == [dynamo.ITEM_CONDITION_FAILED]:
            return Created.USERNAME_TAKEN
        raise Unavailable("storage unavailable")

    def delete_link(
        self, link: LinkRecord, also: dict[str, Any] | None = None, keeping: LinkRecord | None = None
    ) -> bool:
        """Remove this very link (same user and id), with `also` (another transaction item)
        in the same transaction when given; False when it is gone or was replaced, or
        `also`'s condition failed.

        `keeping`: another link that must still be there, checked in the same transaction,
        so that of two unlinkings racing for a user's last two links one fails
        (auth.linked_identities); KeptLinkGone when it is not there."""
        delete: dict[str, Any] = {"TableName": self._links, **_this_link(link)}
        if keeping is None:
            return dynamo.delete_with(self._client, delete, also)
        kept = {"ConditionCheck": {"TableName": self._links, **_this_link(keeping)}}
        failed = dynamo.write_with(self._client, [{"Delete": delete}, kept], also)
        if failed is None:
            return True
        link_gone, _, also_failed = failed
        if link_gone or also_failed:
            return False
        # write_with answered: a condition failed, so it was the kept link's.
        raise KeptLinkGone()

    def links_of_provider(self, provider_id: str) -> list[LinkRecord]:
        """Every link of a provider (its links share its partition key), read consistently."""
        return list(self._links_of_provider(provider_id))

    def _links_of_provider(self, provider_id: str) -> Iterator[LinkRecord]:
        for items in dynamo.pages(
            self._client,
            "query",
            TableName=self._links,
            KeyConditionExpression="pk = :provider",
            ExpressionAttributeValues=dynamo.expression_values({":provider": provider_id}),
            ConsistentRead=True,
        ):
            yield from (LINK.from_item(item) for item in items)
