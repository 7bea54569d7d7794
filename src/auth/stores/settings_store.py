"""The Settings table's instance settings item (Memos' general workspace settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth.stores import dynamo, schema
from auth.stores.dynamo import Item

INSTANCE_SETTINGS = "instance"


@dataclass(frozen=True)
class InstanceSettings:
    disallow_user_registration: bool = False
    disallow_password_auth: bool = False


SETTINGS = schema.ItemCodec(
    InstanceSettings,
    disallow_user_registration=schema.boolean("disallowUserRegistration"),
    disallow_password_auth=schema.boolean("disallowPasswordAuth"),
)
_KEY = {"pk": dynamo.s(INSTANCE_SETTINGS)}


def _from_item(item: Item | None) -> InstanceSettings:
    # No item yet: every switch is off, as on a new Memos instance.
    return SETTINGS.from_item(item or {})


class SettingsStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get_instance(self) -> InstanceSettings:
        return _from_item(dynamo.get_one(self._client, self._table, _KEY, consistent=True))

    def update_instance(
        self, disallow_user_registration: bool | None = None, disallow_password_auth: bool | None = None
    ) -> InstanceSettings:
        """Change only the settings given, so two admins changing different ones lose nothing."""
        changes = {
            "disallow_user_registration": disallow_user_registration,
            "disallow_password_auth": disallow_password_auth,
        }
        given = {name: value for name, value in changes.items() if value is not None}
        if not given:
            return self.get_instance()
        with dynamo.translated_errors():
            response = self._client.update_item(
                TableName=self._table,
                Key=_KEY,
                **dynamo.set_attributes(SETTINGS.attributes(**given)),
                ReturnValues="ALL_NEW",
            )
        return _from_item(response.get("Attributes"))

    def put_instance_if_absent(self, settings: InstanceSettings) -> bool:
        """Store the settings unless the instance has its own already; whether they were stored."""
        return dynamo.put_new(self._client, self._table, {**_KEY, **SETTINGS.to_item(settings)})
