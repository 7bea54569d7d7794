"""/api/v1/users*: sign-up, read, list, change and delete users."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import page_tokens, routes
from auth.models import Role, State
from auth.principal import Principal
from auth.user_admin import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, UserChanges, masked
from handlers.api_context import optional_principal, principal, services
from handlers.bodies import Empty, SignUpRequest, UserJson, UserList, UserUpdateRequest
from handlers.cookies import REFRESH_COOKIE, cookie_value
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import OPTIONALLY_SIGNED_IN, route

router = APIGatewayHttpRouter()
# Every path of Memos' User, comma-separated, is under 100 characters.
_MASK_CHARS = 256


def _sees_email(caller: Principal | None, user_id: int) -> bool:
    return caller is not None and (caller.user_id == user_id or caller.is_admin)


@route(router, routes.SIGN_UP, UserJson, 401, 403, 409, security=OPTIONALLY_SIGNED_IN)
def sign_up(body: Annotated[SignUpRequest, Body()]) -> JsonResponse:
    caller = optional_principal(router.current_event)
    new = body.user
    user = services().accounts.sign_up(
        new.username, new.password, display_name=new.displayName, email=new.email, caller=caller
    )
    return json_response(UserJson.of(user, include_email=True))


@route(router, routes.LIST_USERS, UserList, 401, 403)
def list_users(
    page_size: Annotated[
        int,
        Query(
            alias="pageSize",
            ge=1,
            le=MAX_PAGE_SIZE,
            description=f"Users per page: {DEFAULT_PAGE_SIZE} unless given, at most {MAX_PAGE_SIZE}.",
        ),
    ] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[
        str,
        Query(
            alias="pageToken",
            max_length=page_tokens.MAX_TOKEN_CHARS,
            description="The nextPageToken of the previous page; none for the first.",
        ),
    ] = "",
) -> JsonResponse:
    caller = principal(router.current_event)
    users, next_token = services().user_admin.list(caller, page_size, page_token)
    return json_response(
        UserList(users=[UserJson.of(user, include_email=True) for user in users], nextPageToken=next_token)
    )


@route(router, routes.GET_USER, UserJson, 401, 404, security=OPTIONALLY_SIGNED_IN)
def get_user(username: str) -> JsonResponse:
    caller = optional_principal(router.current_event)
    user = services().user_admin.get(username)
    return json_response(UserJson.of(user, include_email=_sees_email(caller, user.id)))


def _current_credential(caller: Principal) -> str:
    """The caller's own session or sign-in, which survives their password change."""
    if caller.credential_id:
        return caller.credential_id
    token = cookie_value(router.current_event.cookies, REFRESH_COOKIE)
    return (token and services().refresh_tokens.family_of(token, caller.user_id)) or ""


_MASK_DESCRIPTION = (
    "The fields to change, comma-separated, as Memos' UpdateUser takes them: display_name "
    "(or displayName), email, password, role, state; avatar_url and description are accepted "
    "and change nothing (memos-auth holds neither). Only these change: other fields of the "
    "body are ignored, and a named text field the body lacks is cleared. Without it, every "
    "field the body holds changes."
)


@route(router, routes.UPDATE_USER, UserJson, 401, 403, 404, recent_sign_in=True)
def update_user(
    username: str,
    body: Annotated[UserUpdateRequest, Body()],
    update_mask: Annotated[
        str, Query(alias="updateMask", max_length=_MASK_CHARS, description=_MASK_DESCRIPTION)
    ] = "",
    update_mask_by_proto_name: Annotated[
        str,
        Query(
            alias="update_mask",
            max_length=_MASK_CHARS,
            description="updateMask by its proto name, which gRPC-gateway (Memos) reads too.",
        ),
    ] = "",
) -> JsonResponse:
    caller = principal(router.current_event)
    given = UserChanges(
        password=body.password,
        current_password=body.currentPassword,
        display_name=body.displayName,
        email=body.email,
        role=Role(body.role) if body.role else None,
        state=State(body.state) if body.state else None,
    )
    changes = masked(given, ",".join(mask for mask in (update_mask, update_mask_by_proto_name) if mask))
    source_ip = router.current_event.request_context.http.source_ip
    user = services().user_admin.update(caller, username, changes, _current_credential(caller), source_ip)
    return json_response(UserJson.of(user, include_email=True))


@route(router, routes.DELETE_USER, Empty, 401, 403, 404, recent_sign_in=True)
def delete_user(username: str) -> JsonResponse:
    services().user_admin.delete(principal(router.current_event), username)
    return json_response(Empty())
