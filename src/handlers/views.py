"""JSON shapes of SPEC §3 (camelCase, Memos-compatible)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auth.logins import Login
from auth.models import User
from auth.stores.personal_access_tokens import PatRecord


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


def pat_view(username: str, record: PatRecord) -> dict[str, Any]:
    """A token's metadata; never the token or its hash."""
    view: dict[str, Any] = {
        "name": f"users/{username}/personalAccessTokens/{record.token_id}",
        "description": record.description,
        "createdAt": timestamp(record.created_at),
    }
    if record.expires_at is not None:
        view["expiresAt"] = timestamp(record.expires_at)
    if record.last_used_at is not None:
        view["lastUsedAt"] = timestamp(record.last_used_at)
    return view


def login_view(username: str, login: Login) -> dict[str, Any]:
    return {
        "name": f"users/{username}/sessions/{login.id}",
        "id": login.id,
        "kind": login.kind.value,
        "createdAt": timestamp(login.created_at),
        "lastAccessedAt": timestamp(login.last_accessed_at),
        "expiresAt": timestamp(login.expires_at),
        "clientInfo": {
            "userAgent": login.client.user_agent,
            "ipAddress": login.client.ip_address,
            "device": login.device.device,
            "os": login.device.os,
            "browser": login.device.browser,
        },
    }
