"""/api/v1/instance/settings: Memos' registration and password-auth switches."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from auth.errors import PermissionDenied
from handlers.api_context import principal, services
from handlers.bodies import InstanceSettingsJson, InstanceSettingsRequest
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import route

router = APIGatewayHttpRouter()


@route(router, routes.GET_SETTINGS, InstanceSettingsJson)
def get_settings() -> JsonResponse:
    return json_response(InstanceSettingsJson.of(services().settings.get_instance()))


@route(router, routes.UPDATE_SETTINGS, InstanceSettingsJson, 401, 403)
def update_settings(body: Annotated[InstanceSettingsRequest, Body()]) -> JsonResponse:
    # The authorizer already refuses non-admins; checked again so a template slip cannot open
    # it, and against the caller's own record (an admin demoted within the revocation lag).
    caller = principal(router.current_event)
    if not services().user_admin.may_act_for(caller, 0, routes.UPDATE_SETTINGS.access):
        raise PermissionDenied("only an admin may change instance settings")
    settings = services().settings.update_instance(
        disallow_user_registration=body.disallowUserRegistration,
        disallow_password_auth=body.disallowPasswordAuth,
    )
    return json_response(InstanceSettingsJson.of(settings))
