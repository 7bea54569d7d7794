"""The item codec: one declaration per record of the DynamoDB item it is stored as.

Every store declares once which attribute holds each field of its record, and of what kind
(`schema.ItemCodec(PatRecord, token_hash=schema.string("tokenHash"), ...)`): users, PATs,
refresh families, sessions, TOTP factors, challenges, passkeys, ceremonies, identity
providers, links and the instance settings. `to_item` and `from_item` both come from that
declaration, so what is written and what is read back cannot drift apart, and every field
must be declared (a new one cannot go unstored unnoticed). What a kind reads from an item
that lacks its attribute is part of the declaration: those defaults are security decisions
(a token item without its owner's state is an archived owner's), pinned with the
attributes each store writes by tests/unit/test_stored_items.py.

Each kind is a pair of small functions made when the codec is declared, at import: reading
an item is one call per field, with no reflection (the authorizer reads a PAT or a session
item on every request). Keys stay with their stores (a record does not say its table's
key layout); ExpressionAttributeValues are auth.stores.dynamo.expression_values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from enum import Enum
from functools import partial
from itertools import repeat
from operator import attrgetter, call
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from auth.models import ClientInfo, SignIn
from auth.stores import dynamo
from auth.stores.dynamo import Item

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")
K = TypeVar("K")

# An item being written.
Written = dict[str, Any]


class Kind:
    """How one field is stored: read from an item, and written into one (None: never
    written by the record's Put; another write sets the attribute)."""

    # A plain class: @dataclass would cost the authorizer's cold start a millisecond.
    __slots__ = ("read", "write")

    def __init__(self, read: Callable[[Item], Any], write: Callable[[Any, Written], None] | None) -> None:
        self.read = read
        self.write = write


class ItemCodec(Generic[R]):
    """A record's item: each field of the dataclass `record` by its Kind, in the order given."""

    def __init__(self, record: type[R], **fields: Kind) -> None:
        declared = [field.name for field in dataclasses.fields(record)]
        if sorted(declared) != sorted(fields):
            raise TypeError(f"{record.__name__}: declare exactly the fields {declared}, not {list(fields)}")
        self._make = record
        # In the dataclass's order, so that a record is made with positional arguments.
        self._readers = tuple(fields[name].read for name in declared)
        self._write_field = {name: kind.write for name, kind in fields.items() if kind.write is not None}
        self._writers = tuple((attrgetter(name), write) for name, write in self._write_field.items())

    def from_item(self, item: Item) -> R:
        return self._make(*map(call, self._readers, repeat(item)))

    def to_item(self, record: R) -> Written:
        item: Written = {}
        self.write(record, item)
        return item

    def write(self, record: R, item: Written) -> None:
        """Add the record's attributes to `item`."""
        for value_of, write in self._writers:
            write(value_of(record), item)

    def attributes(self, **values: Any) -> Written:
        """The attributes of just these fields, by field name: what an update of part of the
        item sets (auth.stores.dynamo.set_attributes)."""
        item: Written = {}
        for name, value in values.items():
            self._write_field[name](value, item)
        return item

    def get(self, client: Any, table: str, key: dict[str, Any], consistent: bool) -> R | None:
        """The record of this key, None when there is no item (auth.stores.dynamo.get_one)."""
        item = dynamo.get_one(client, table, key, consistent)
        return self.from_item(item) if item else None

    def get_many(
        self, client: Any, table: str, keys: Sequence[dict[str, Any]], by: Callable[[R], K]
    ) -> dict[K, R]:
        """The records of these keys that exist, by `by` of each, in consistent batch reads
        (auth.stores.dynamo.get_many)."""
        items = dynamo.get_many(client, table, keys, consistent=True)
        return {by(record): record for record in map(self.from_item, items)}


# Readers are auth.stores.dynamo's getters bound to their attribute by functools.partial
# (made in C: one call per field on the authorizer's path); writers use dynamo's s, n,
# boolean and binary, so each attribute form is written down once.


def string(name: str, default: str = "") -> Kind:
    def write(value: str, item: Written) -> None:
        item[name] = dynamo.s(value)

    return Kind(partial(dynamo.get_s, name=name, default=default), write)


def number(name: str) -> Kind:
    """An int; 0 when absent."""

    def write(value: int, item: Written) -> None:
        item[name] = dynamo.n(value)

    return Kind(partial(dynamo.get_n, name=name), write)


def optional_number(name: str) -> Kind:
    """An int, or None: then the attribute is left out (and absent reads as None)."""
    read_number = partial(dynamo.get_n, name=name)

    def write(value: int | None, item: Written) -> None:
        if value is not None:
            item[name] = dynamo.n(value)

    return Kind(lambda item: read_number(item) if name in item else None, write)


def boolean(name: str) -> Kind:
    """A bool, always written; False when absent."""

    def write(value: bool, item: Written) -> None:
        item[name] = dynamo.boolean(value)

    return Kind(partial(dynamo.get_bool, name=name), write)


def flag(name: str) -> Kind:
    """A bool written only when True (an item that is not flagged has no such attribute)."""

    def write(value: bool, item: Written) -> None:
        if value:
            item[name] = dynamo.boolean(True)

    return Kind(partial(dynamo.get_bool, name=name), write)


def text(name: str, encode: Callable[[Any], str], decode: Callable[[str], Any], missing: str = "") -> Kind:
    """A value stored as a string: `decode` of the attribute (of `missing` when absent)."""

    read_string = string(name, missing).read

    def write(value: Any, item: Written) -> None:
        item[name] = dynamo.s(encode(value))

    return Kind(lambda item: decode(read_string(item)), write)


def enum(name: str, of: type[Enum], default: Enum | None = None) -> Kind:
    """An enum member by its value. Absent: `default`; with none, or for a value that is no
    member, reading fails (ValueError) rather than guess."""
    return text(name, attrgetter("value"), of, "" if default is None else default.value)


def binary(name: str) -> Kind:
    """Bytes; the attribute must be there (reading an item without it fails)."""

    def write(value: bytes, item: Written) -> None:
        item[name] = dynamo.binary(value)

    return Kind(lambda item: bytes(item[name]["B"]), write)


def string_set(name: str) -> Kind:
    """A frozenset of strings; left out when empty (DynamoDB has no empty set)."""

    def read(item: Item) -> frozenset[str]:
        value = item.get(name)
        return frozenset(value["SS"]) if value and "SS" in value else frozenset()

    def write(value: frozenset[str], item: Written) -> None:
        if value:
            item[name] = {"SS": sorted(value)}

    return Kind(read, write)


def string_list(name: str) -> Kind:
    """A tuple of strings, as a list (written even when empty)."""

    def read(item: Item) -> tuple[str, ...]:
        value = item.get(name)
        return tuple(entry["S"] for entry in value["L"]) if value else ()

    def write(value: tuple[str, ...], item: Written) -> None:
        item[name] = {"L": [{"S": entry} for entry in value]}

    return Kind(read, write)


def prefixed(prefix: str) -> Kind:
    """A string stored after a prefix as the `pk` of a table that keeps several kinds of
    item under it (auth.stores.dynamo.prefixed_key, which forms it for every key)."""

    read_key = partial(dynamo.get_s, name="pk")

    def write(value: str, item: Written) -> None:
        item.update(dynamo.prefixed_key(prefix, value))

    return Kind(lambda item: read_key(item).removeprefix(prefix), write)


def nested(codec: ItemCodec[Any]) -> Kind:
    """A record held inside another, its attributes beside the outer record's."""
    return Kind(codec.from_item, codec.write)


def present(name: str) -> Kind:
    """Whether the item has the attribute, which another write sets (never the Put)."""
    return Kind(lambda item: name in item, None)


def read_only(kind: Kind) -> Kind:
    """`kind`, read but never written by the record's Put: another write sets it."""
    return Kind(kind.read, None)


# -- records that several items hold ---------------------------------------------------------

CLIENT_INFO = ItemCodec(ClientInfo, user_agent=string("userAgent"), ip_address=string("ipAddress"))
SIGN_IN = ItemCodec(
    SignIn,
    auth_time=number("authTime"),
    amr=text("amr", " ".join, lambda words: tuple(words.split())),
)
