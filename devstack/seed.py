"""Load a seed file (items in DynamoDB JSON, by table logical id) into the local tables.

`events/seed.json` holds the users and sign-in that the sample events of `events/` refer
to, so `make invoke` answers them as a stack holding that data would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.template import Template


def load_seed(dynamodb: Any, template: Template, path: Path) -> int:
    """Put every item of the seed file; returns how many were written."""
    seed: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    written = 0
    for logical_id, items in seed.items():
        table = template.tables[logical_id]
        for item in items:
            dynamodb.put_item(TableName=table.name, Item=item)
            written += 1
    return written
