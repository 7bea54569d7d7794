"""/api/v1/users/{username}/passkeys and /api/v1/auth/passkeys/options: a user's passkeys
and the options of a passkey sign-in (SPEC §7)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from handlers.api_context import services
from handlers.bodies import (
    Empty,
    PasskeyCreated,
    PasskeyCreationOptions,
    PasskeyJson,
    PasskeyList,
    PasskeyOptionsRequest,
    PasskeyRequestOptions,
    RegisterPasskeyRequest,
)
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import route
from handlers.owners import caller_and_owner

router = APIGatewayHttpRouter()


@route(router, routes.PASSKEY_REGISTRATION, PasskeyCreationOptions, 401, 403, 404, recent_sign_in=True)
def passkey_registration(username: str) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.PASSKEY_REGISTRATION)
    options = services().passkeys.registration_options(caller, owner)
    return json_response(PasskeyCreationOptions(options=options))


@route(router, routes.REGISTER_PASSKEY, PasskeyCreated, 401, 403, 404, 409, recent_sign_in=True)
def register_passkey(username: str, body: Annotated[RegisterPasskeyRequest, Body()]) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.REGISTER_PASSKEY)
    record = services().passkeys.register(caller, owner, body.credential, body.displayName)
    return json_response(PasskeyCreated(passkey=PasskeyJson.of(owner.username, record)))


@route(router, routes.LIST_PASSKEYS, PasskeyList, 401, 403, 404)
def list_passkeys(username: str) -> JsonResponse:
    _, owner = caller_and_owner(router.current_event, username, routes.LIST_PASSKEYS)
    records = services().passkeys.list(owner)
    return json_response(PasskeyList(passkeys=[PasskeyJson.of(owner.username, r) for r in records]))


@route(router, routes.REMOVE_PASSKEY, Empty, 401, 403, 404, recent_sign_in=True)
def remove_passkey(username: str, id: str) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.REMOVE_PASSKEY)
    services().passkeys.remove(caller, owner, id)
    return json_response(Empty())


@route(router, routes.PASSKEY_OPTIONS, PasskeyRequestOptions)
def passkey_options(body: Annotated[PasskeyOptionsRequest, Body()]) -> JsonResponse:
    app = services()
    if body.mfaChallenge is None:
        options = app.passkeys.sign_in_options()
    else:
        options = app.mfa_sign_in.passkey_options(body.mfaChallenge)
    return json_response(PasskeyRequestOptions(options=options))
