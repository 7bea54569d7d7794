"""JSON shapes of SPEC §3 (camelCase, Memos-compatible)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auth.models import User


def timestamp(epoch_seconds: int) -> str:
    """RFC 3339 in UTC, as Memos' protobuf Timestamps are rendered."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_view(user: User, include_email: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": f"users/{user.username}",
        "username": user.username,
        "role": user.role.value,
        "state": user.state.value,
        "displayName": user.display_name,
        "createTime": timestamp(user.create_time),
        "updateTime": timestamp(user.update_time),
    }
    if include_email:
        view["email"] = user.email
    return view
