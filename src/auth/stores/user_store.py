"""The Users table: a user item per id and a username item that keeps names unique.

Both items are written in one transaction, so there is never a user without its username
record or the reverse. The Settings table's owner marker makes the first user the only ADMIN
created by sign-up, however many sign-ups race.
"""

from __future__ import annotations

from typing import Any

from auth.errors import AlreadyExists, NotFound, Unavailable
from auth.models import Role, State, TokenOwner, User
from auth.stores import dynamo, schema
from auth.usernames import username_key

USER_PREFIX = "user#"
USERNAME_PREFIX = "username#"
# Settings-table items this store owns.
OWNER_MARKER = "owner"
USER_ID_COUNTER = "counter#users"
# The user's number of personal access tokens, kept by the same transactions that store and
# delete them: it proves that a listing of the tokens (through an index that may lag) is whole.
TOKEN_COUNT = "patCount"
# Marks a user item written by tools/memos_import: an import may find its own users again,
# never take over one memos-auth created.
IMPORTED = "imported"
# Access tokens issued before this second stop passing; sign-ins check it (`unchanged_since`).
TOKENS_NOT_BEFORE = "tokensNotBefore"
# The attributes of a user item that a change may write.
_CHANGEABLE = ("role", "state", "passwordHash", "displayName", "email", "updateTime", TOKENS_NOT_BEFORE)


class OwnerTaken(Exception):
    """Another sign-up became the first user while this one was in flight."""


class CutOffPassed(Unavailable):
    """Another change moved the user's cut-off (`tokensNotBefore`) to this one's or past it
    meanwhile: the change is not written, and its cut-off must be worked out again. Where
    nothing does, a 503 the client may retry."""

    def __init__(self) -> None:
        super().__init__("the user changed meanwhile; try again")

    @classmethod
    def check(cls, current: User | None, cut_off: int) -> None:
        """Raised when `current` (the user read after a write was refused) holds `cut_off`
        or a later one already: the refusal was the cut-off's."""
        if current is not None and current.tokens_not_before >= cut_off:
            raise cls()


class OwnerChanged(Exception):
    """The user's role or state changed since it was read: re-read it and apply again."""


class TokensRemain(Exception):
    """A user cannot be deleted while personal access tokens of theirs exist."""


def _role_and_state_are(owner: TokenOwner) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that the user still has this role and state (what their tokens copy)."""
    return (
        "#role = :was_role AND #state = :was_state",
        {"#role": "role", "#state": "state"},
        dynamo.expression_values({":was_role": owner.role.value, ":was_state": owner.state.value}),
    )


def _number_is(name: str, value: int, placeholder: str) -> tuple[str, dict[str, Any]]:
    """A condition that the item's number `name` is `value`, a missing one counting as 0."""
    values = dynamo.expression_values({placeholder: value})
    if value == 0:
        return f"(attribute_not_exists({name}) OR {name} = {placeholder})", values
    return f"{name} = {placeholder}", values


def _token_count_is(count: int) -> tuple[str, dict[str, Any]]:
    """A condition that the user has exactly `count` tokens."""
    return _number_is(TOKEN_COUNT, count, ":count")


def _user_key(user_id: int) -> dict[str, Any]:
    return dynamo.prefixed_key(USER_PREFIX, user_id)


def _username_key(username: str) -> dict[str, Any]:
    return dynamo.prefixed_key(USERNAME_PREFIX, username_key(username))


def _owner_item(user_id: int) -> dict[str, Any]:
    return {"pk": dynamo.s(OWNER_MARKER), "userId": dynamo.n(user_id)}


USER = schema.ItemCodec(
    User,
    id=schema.number("id"),
    username=schema.string("username"),
    role=schema.enum("role", Role, default=Role.USER),
    state=schema.enum("state", State, default=State.NORMAL),
    password_hash=schema.string("passwordHash"),
    display_name=schema.string("displayName"),
    email=schema.string("email"),
    create_time=schema.number("createTime"),
    update_time=schema.number("updateTime"),
    tokens_not_before=schema.number(TOKENS_NOT_BEFORE),
)
user_from_item = USER.from_item


def user_to_item(user: User) -> dict[str, Any]:
    return {**_user_key(user.id), **USER.to_item(user)}


class UserStore:
    def __init__(self, client: Any, table: str, settings_table: str) -> None:
        self._client = client
        self._table = table
        self._settings_table = settings_table

    def next_user_id(self) -> int:
        """A new id from an atomic counter; a failed sign-up leaves a gap, never a reuse."""
        with dynamo.translated_errors():
            response = self._client.update_item(
                TableName=self._settings_table,
                Key={"pk": dynamo.s(USER_ID_COUNTER)},
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues=dynamo.expression_values({":one": 1}),
                ReturnValues="UPDATED_NEW",
            )
        return dynamo.get_n(response["Attributes"], "value")

    def raise_user_id_counter(self, at_least: int) -> None:
        """Move the id counter up to `at_least` (never down), so new ids follow imported ones."""
        dynamo.update_if(
            self._client.update_item,
            self._settings_table,
            {"pk": dynamo.s(USER_ID_COUNTER)},
            "SET #v = :at_least",
            "attribute_not_exists(#v) OR #v < :at_least",
            {":at_least": at_least},
            names={"#v": "value"},
        )

    def claim_owner(self, user_id: int) -> bool:
        """Name the instance's owner unless one is named: sign-up then makes no more ADMINs."""
        return dynamo.put_new(self._client, self._settings_table, _owner_item(user_id))

    def imported_items(self, user: User, token_count: int) -> list[dict[str, Any]]:
        """Transaction items writing an imported user (flagged, counting `token_count` tokens
        written in the same transaction) and its username record, where neither exists."""
        item = {**user_to_item(user), IMPORTED: dynamo.boolean(True), TOKEN_COUNT: dynamo.n(token_count)}
        return [dynamo.new_item(self._table, item), self._new_username(user)]

    def get_imported(self, user_id: int) -> User | None:
        """The user with this id if an import wrote it, else None (absent, or memos-auth's own)."""
        item = dynamo.get_one(self._client, self._table, _user_key(user_id), consistent=True)
        if not item or not dynamo.get_bool(item, IMPORTED):
            return None
        return user_from_item(item)

    def imported_or_own(self, user_ids: list[int]) -> dict[int, User | None]:
        """Which of these ids have a user, in consistent batch reads: the user if an import
        wrote it, None if memos-auth created it. Absent ids are left out."""
        keys = [_user_key(user_id) for user_id in user_ids]
        return {
            dynamo.get_n(item, "id"): user_from_item(item) if dynamo.get_bool(item, IMPORTED) else None
            for item in dynamo.get_many(self._client, self._table, keys, consistent=True)
        }

    def has_users(self) -> bool:
        """Whether the table holds any user, made here or imported. A Scan."""
        found = dynamo.pages(
            self._client,
            "scan",
            TableName=self._table,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues=dynamo.expression_values({":prefix": USER_PREFIX}),
            ProjectionExpression="pk",
        )
        # The first page with a user will do; a Scan's pages before it may hold none.
        return any(items for items in found)

    def owner_exists(self) -> bool:
        return (
            dynamo.get_one(
                self._client, self._settings_table, {"pk": dynamo.s(OWNER_MARKER)}, consistent=True
            )
            is not None
        )

    def create(self, user: User, claim_owner: bool) -> None:
        """Write the user and its username record together.

        Raises AlreadyExists when the username is taken, OwnerTaken when `claim_owner` was
        asked and another user claimed it first.
        """
        items = self.creation_items(user)
        if claim_owner:
            items.append(dynamo.new_item(self._settings_table, _owner_item(user.id)))
        codes = dynamo.write_transaction(self._client, items)
        if codes is None:
            return
        if codes[1:2] == [dynamo.ITEM_CONDITION_FAILED]:
            raise AlreadyExists(f"user {user.username} already exists")
        if claim_owner and codes[2:3] == [dynamo.ITEM_CONDITION_FAILED]:
            raise OwnerTaken
        raise Unavailable("storage unavailable")

    def creation_items(self, user: User) -> list[dict[str, Any]]:
        """Transaction items writing a new user and then its username record, where neither
        exists (a first sign-in with an identity provider adds its link: auth.stores.idp_store)."""
        return [dynamo.new_item(self._table, user_to_item(user)), self._new_username(user)]

    def _new_username(self, user: User) -> dict[str, Any]:
        """The username record that keeps the name unique, where none has it."""
        return dynamo.new_item(self._table, {**_username_key(user.username), "userId": dynamo.n(user.id)})

    def update(self, before: User, after: User) -> None:
        """Write what changed from `before` to `after`, and nothing else: a change another
        request made to other fields meanwhile is kept. The username never changes.

        Role and state are copied onto the user's tokens: `PatStore.update_owner` changes them.
        """
        if after.as_owner != before.as_owner:
            raise ValueError("role and state change with PatStore.update_owner")
        if dynamo.conditional_write(self._client.update_item, **self._update_request(before, after)) is None:
            if self.get(after.id, consistent=True) is None:
                raise NotFound("user not found")
            raise CutOffPassed()

    def update_item(self, before: User, after: User) -> dict[str, Any]:
        """`update` as a transaction item, for a change that must be stored together with
        another item's (a factor an admin removes, with the cut-off that ends the logins)."""
        if after.as_owner != before.as_owner:
            raise ValueError("role and state change with PatStore.update_owner")
        return {"Update": self._update_request(before, after)}

    def update_with_tokens(self, before: User, after: User, token_count: int) -> dict[str, Any]:
        """The update as a transaction item, which holds only while the user's role and state
        are still `before`'s and they have exactly `token_count` personal access tokens (the
        ones the transaction rewrites)."""
        request = self._update_request(before, after)
        owner_is, owner_names, owner_values = _role_and_state_are(before.as_owner)
        count_is, count_values = _token_count_is(token_count)
        request["ConditionExpression"] += f" AND {owner_is} AND {count_is}"
        request["ExpressionAttributeNames"].update(owner_names)
        request["ExpressionAttributeValues"].update({**owner_values, **count_values})
        return {"Update": request}

    def _update_request(self, before: User, after: User) -> dict[str, Any]:
        old, new = user_to_item(before), user_to_item(after)
        # What differs only: `before` may be older than the item (a change stored meanwhile),
        # and an attribute written back as it was read would undo that change.
        written = {name: new[name] for name in _CHANGEABLE if new[name] != old[name]}
        if not written:
            # Nothing to change; an update still needs an attribute to set, and still checks
            # that the user exists.
            written = {"updateTime": new["updateTime"]}
        condition = "attribute_exists(pk)"
        if TOKENS_NOT_BEFORE in written:
            # A cut-off only ever moves on: one worked out from a read that another change
            # has overtaken since must not be stored over that change's.
            name, value = f"#{TOKENS_NOT_BEFORE}", f":{TOKENS_NOT_BEFORE}"
            condition += f" AND (attribute_not_exists({name}) OR {name} < {value})"
        return {
            "TableName": self._table,
            "Key": _user_key(after.id),
            **dynamo.set_attributes(written),
            "ConditionExpression": condition,
        }

    def unchanged_since(self, user: User) -> dict[str, Any]:
        """A transaction item that holds only while the user exists with the `tokensNotBefore`
        of `user`, the record a sign-in verified. Every change that must end sign-ins (a new
        password, a factor removed by an admin) moves it, so a session or refresh family
        stored with this check never outlives a change that the sign-in's own read predates.
        """
        condition, values = _number_is(TOKENS_NOT_BEFORE, user.tokens_not_before, ":tokens_not_before")
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": _user_key(user.id),
                "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                "ExpressionAttributeValues": values,
            }
        }

    def token_added(self, user_id: int, owner: TokenOwner, max_tokens: int) -> dict[str, Any]:
        """A transaction item counting one more token of the user: it holds only while the
        user exists with the role and state copied onto the token, and has room for it."""
        owner_is, owner_names, owner_values = _role_and_state_are(owner)
        return {
            "Update": {
                "TableName": self._table,
                "Key": _user_key(user_id),
                "UpdateExpression": f"ADD {TOKEN_COUNT} :one",
                "ConditionExpression": (
                    f"attribute_exists(pk) AND {owner_is} "
                    f"AND (attribute_not_exists({TOKEN_COUNT}) OR {TOKEN_COUNT} < :max)"
                ),
                "ExpressionAttributeNames": owner_names,
                "ExpressionAttributeValues": {
                    **owner_values,
                    **dynamo.expression_values({":one": 1, ":max": max_tokens}),
                },
            }
        }

    def token_removed(self, user_id: int) -> dict[str, Any]:
        """A transaction item counting one token of the user fewer."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": _user_key(user_id),
                "UpdateExpression": f"ADD {TOKEN_COUNT} :minus_one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": dynamo.expression_values({":minus_one": -1}),
            }
        }

    def get_counted(self, user_id: int) -> tuple[User, int] | None:
        """The user and how many personal access tokens they have, in one consistent read."""
        item = dynamo.get_one(self._client, self._table, _user_key(user_id), consistent=True)
        return (user_from_item(item), dynamo.get_n(item, TOKEN_COUNT)) if item else None

    def delete(self, user: User) -> None:
        """Remove the user and its username record together.

        Raises TokensRemain while the user still has personal access tokens: a token is
        never left without its user (the copy of the owner it carries would outlive them).
        """
        condition, values = _token_count_is(0)
        codes = dynamo.write_transaction(
            self._client,
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _user_key(user.id),
                        "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _username_key(user.username),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ],
        )
        if codes is None:
            return
        if codes[:1] == [dynamo.ITEM_CONDITION_FAILED] and self.get(user.id, consistent=True) is not None:
            raise TokensRemain
        if dynamo.ITEM_CONDITION_FAILED in codes:
            raise NotFound("user not found")
        raise Unavailable("storage unavailable")

    def key_of(self, user_id: int) -> dynamo.TableKey:
        return self._table, _user_key(user_id)

    def get(self, user_id: int, consistent: bool = False) -> User | None:
        return USER.get(self._client, self._table, _user_key(user_id), consistent)

    def get_by_username(self, username: str, consistent: bool = False) -> User | None:
        item = dynamo.get_one(self._client, self._table, _username_key(username), consistent)
        if not item:
            return None
        return self.get(dynamo.get_n(item, "userId"), consistent=consistent)

    def page(self, size: int, after_id: int | None = None) -> tuple[list[User], int | None]:
        """Up to `size` users, starting after the user `after_id` (None: from the start), and
        the id to start the next page after (None when the table has no more).

        A Scan, so only the admin-only listing route calls it. It reads in the table's own
        order (by the hash of the key, not by id), which is the same on every walk, so a walk
        returns every user present throughout it exactly once. Username items share the
        table and are filtered out after the read, so one Scan call may hold fewer users than
        asked: the loop reads on until the page is full or the table ends. A page that stops
        inside a call's answer resumes after its last user's key, which DynamoDB accepts as
        an ExclusiveStartKey like any LastEvaluatedKey.
        """
        users: list[User] = []
        start = _user_key(after_id) if after_id is not None else None
        while True:
            # About half the items are users; reading twice the users still wanted (plus one
            # to see past the last) fills most pages in one call without reading far beyond.
            request: dict[str, Any] = {
                "TableName": self._table,
                "FilterExpression": "begins_with(pk, :prefix)",
                "ExpressionAttributeValues": dynamo.expression_values({":prefix": USER_PREFIX}),
                "Limit": 2 * (size - len(users)) + 1,
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            with dynamo.translated_errors(reading=True):
                response = self._client.scan(**request)
            items = response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                users.append(user_from_item(item))
                if len(users) == size:
                    at_end = start is None and index == len(items) - 1
                    return users, None if at_end else users[-1].id
            if start is None:
                return users, None
