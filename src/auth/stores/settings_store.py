"""The Settings table's instance settings item (Memos' general workspace settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth.stores.dynamo import Item, boolean, get_bool, get_one, put_new, s, translated_errors

INSTANCE_SETTINGS = "instance"


@dataclass(frozen=True)
class InstanceSettings:
    disallow_user_registration: bool = False
    disallow_password_auth: bool = False


def _from_item(item: Item | None) -> InstanceSettings:
    # No item yet: every switch is off, as on a new Memos instance.
    item = item or {}
    return InstanceSettings(
        disallow_user_registration=get_bool(item, "disallowUserRegistration"),
        disallow_password_auth=get_bool(item, "disallowPasswordAuth"),
    )


class SettingsStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get_instance(self) -> InstanceSettings:
        return _from_item(get_one(self._client, self._table, {"pk": s(INSTANCE_SETTINGS)}, consistent=True))

    def update_instance(
        self, disallow_user_registration: bool | None = None, disallow_password_auth: bool | None = None
    ) -> InstanceSettings:
        """Change only the settings given, so two admins changing different ones lose nothing."""
        changes = {
            "disallowUserRegistration": disallow_user_registration,
            "disallowPasswordAuth": disallow_password_auth,
        }
        given = {name: value for name, value in changes.items() if value is not None}
        if not given:
            return self.get_instance()
        with translated_errors():
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": s(INSTANCE_SETTINGS)},
                UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in given),
                ExpressionAttributeValues={f":{name}": boolean(value) for name, value in given.items()},
                ReturnValues="ALL_NEW",
            )
        return _from_item(response.get("Attributes"))

    def put_instance(self, settings: InstanceSettings) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": s(INSTANCE_SETTINGS),
                    "disallowUserRegistration": boolean(settings.disallow_user_registration),
                    "disallowPasswordAuth": boolean(settings.disallow_password_auth),
                },
            )

    def put_instance_if_absent(self, settings: InstanceSettings) -> bool:
        """Store the settings unless the instance has its own already; whether they were stored."""
        item: Item = {
            "pk": s(INSTANCE_SETTINGS),
            "disallowUserRegistration": boolean(settings.disallow_user_registration),
            "disallowPasswordAuth": boolean(settings.disallow_password_auth),
        }
        return put_new(self._client, self._table, item)
