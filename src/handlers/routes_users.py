"""/api/v1/users*: sign-up."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from handlers.api_context import optional_principal, services
from handlers.json_response import json_response
from handlers.requests import SignUpRequest
from handlers.views import user_view

router = APIGatewayHttpRouter()


@router.post("/api/v1/users")
def sign_up(body: Annotated[SignUpRequest, Body()]) -> Response[str]:
    caller = optional_principal(router.current_event)
    new = body.user
    user = services().accounts.sign_up(
        new.username, new.password, display_name=new.displayName, email=new.email, caller=caller
    )
    return json_response(user_view(user, include_email=True))
