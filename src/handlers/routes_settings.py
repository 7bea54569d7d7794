"""/api/v1/instance/settings: Memos' registration and password-auth switches."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth.access import Access, may_act_for
from auth.errors import PermissionDenied
from auth.stores.settings import InstanceSettings
from handlers import response_bodies
from handlers.api_context import principal, services
from handlers.json_response import JsonResponse, json_response
from handlers.openapi_document import documented
from handlers.requests import InstanceSettingsUpdate

router = APIGatewayHttpRouter()

GET = "GET /api/v1/instance/settings"
UPDATE = "PATCH /api/v1/instance/settings"


def _view(settings: InstanceSettings) -> dict[str, bool]:
    return {
        "disallowUserRegistration": settings.disallow_user_registration,
        "disallowPasswordAuth": settings.disallow_password_auth,
    }


@router.get("/api/v1/instance/settings", **documented(GET, response_bodies.InstanceSettings))
def get_settings() -> JsonResponse:
    return json_response(_view(services().settings.get_instance()))


@router.patch("/api/v1/instance/settings", **documented(UPDATE, response_bodies.InstanceSettings, 401, 403))
def update_settings(body: Annotated[InstanceSettingsUpdate, Body()]) -> JsonResponse:
    # The authorizer already refuses non-admins; checked again so a template slip cannot open it.
    if not may_act_for(principal(router.current_event), 0, Access.ADMIN):
        raise PermissionDenied("only an admin may change instance settings")
    settings = services().settings.update_instance(
        disallow_user_registration=body.disallowUserRegistration,
        disallow_password_auth=body.disallowPasswordAuth,
    )
    return json_response(_view(settings))
