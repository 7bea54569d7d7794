"""/api/v1/users/{username}/totp and /recoveryCodes: a user's second factors (SPEC §7)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from handlers.api_context import services
from handlers.bodies import ConfirmTotpRequest, Empty, RecoveryCodes, TotpEnrolmentJson, TotpStatusJson
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import route
from handlers.owners import caller_and_owner

router = APIGatewayHttpRouter()


@route(router, routes.ENROL_TOTP, TotpEnrolmentJson, 401, 403, 404, recent_sign_in=True)
def enrol_totp(username: str) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.ENROL_TOTP)
    return json_response(TotpEnrolmentJson.of(services().factors.enrol(caller, owner)))


@route(router, routes.CONFIRM_TOTP, RecoveryCodes, 401, 403, 404, recent_sign_in=True)
def confirm_totp(username: str, body: Annotated[ConfirmTotpRequest, Body()]) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.CONFIRM_TOTP)
    return json_response(RecoveryCodes(recoveryCodes=services().factors.confirm(caller, owner, body.code)))


@route(router, routes.GET_TOTP, TotpStatusJson, 401, 403, 404)
def get_totp(username: str) -> JsonResponse:
    _, owner = caller_and_owner(router.current_event, username, routes.GET_TOTP)
    return json_response(TotpStatusJson.of(services().factors.status(owner)))


@route(router, routes.REMOVE_TOTP, Empty, 401, 403, 404, recent_sign_in=True)
def remove_totp(username: str) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.REMOVE_TOTP)
    services().factors.remove(caller, owner)
    return json_response(Empty())


@route(router, routes.REGENERATE_RECOVERY_CODES, RecoveryCodes, 401, 403, 404, recent_sign_in=True)
def regenerate_recovery_codes(username: str) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.REGENERATE_RECOVERY_CODES)
    codes = services().factors.regenerate_recovery_codes(caller, owner)
    return json_response(RecoveryCodes(recoveryCodes=codes))
