"""Path parameters checked before any work: the owner a path names, with the caller who acts
for them, and the credential ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auth.credential_ids import is_credential_id
from auth.errors import InvalidArgument, PermissionDenied
from auth.models import User
from auth.principal import Principal
from auth.routes import Route
from handlers.api_context import principal, services

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2


def credential_id_param(value: str, name: str) -> str:
    if not is_credential_id(value):
        raise InvalidArgument(f"{name} must be a lowercase UUID")
    return value


def caller_and_owner(
    event: APIGatewayProxyEventV2, username: str, route: Route, denied: Exception | None = None
) -> tuple[Principal, User]:
    """The verified caller and the user the path names (400 for a malformed name, 404 for
    none), once the caller may act for them under the route's access.

    `denied` replaces the 403 where even a refusal would tell the caller too much.
    """
    caller = principal(event)
    admin = services().user_admin
    owner = admin.get(username)
    if not admin.may_act_for(caller, owner.id, route.access):
        raise denied or PermissionDenied("permission denied")
    return caller, owner
