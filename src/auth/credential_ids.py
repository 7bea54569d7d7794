"""The shape of every credential id: a canonical lowercase UUIDv4, as this service mints them
(uuid.uuid4) and as Memos does (its util.GenUUID). The routes refuse any other id before a
lookup, and the importer any other Memos token id, so that no credential is stored that no
route could name to revoke it."""

from __future__ import annotations

import re

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_CREDENTIAL_ID = re.compile(UUID4)


def is_credential_id(value: object) -> bool:
    return isinstance(value, str) and _CREDENTIAL_ID.fullmatch(value) is not None
