"""/api/v1/users/{username}/personalAccessTokens: list, create, delete (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from auth.errors import NotFound
from handlers.api_context import services
from handlers.bodies import (
    CreatedPersonalAccessToken,
    CreatePersonalAccessTokenRequest,
    Empty,
    PersonalAccessTokenJson,
    PersonalAccessTokenList,
)
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import route
from handlers.owners import caller_and_owner, credential_id_param

router = APIGatewayHttpRouter()


@route(router, routes.LIST_PATS, PersonalAccessTokenList, 401, 403, 404)
def list_tokens(username: str) -> JsonResponse:
    _, owner = caller_and_owner(router.current_event, username, routes.LIST_PATS)
    records = services().pats.list_for_user(owner.id)
    tokens = [PersonalAccessTokenJson.of(owner.username, record) for record in records]
    return json_response(PersonalAccessTokenList(personalAccessTokens=tokens))


@route(router, routes.CREATE_PAT, CreatedPersonalAccessToken, 401, 403, 404, recent_sign_in=True)
def create_token(username: str, body: Annotated[CreatePersonalAccessTokenRequest, Body()]) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.CREATE_PAT)
    app = services()
    record, token = app.pats.create_for(
        caller, owner, body.description, body.expiresInDays, app.recent_sign_in
    )
    created = CreatedPersonalAccessToken(
        personalAccessToken=PersonalAccessTokenJson.of(owner.username, record), token=token
    )
    return json_response(created)


@route(router, routes.DELETE_PAT, Empty, 401, 404)
def delete_token(username: str, tokenId: str) -> JsonResponse:
    token_id = credential_id_param(tokenId, "tokenId")
    # Someone else's token answers as if it did not exist, whoever owns it.
    hidden = NotFound("personal access token not found")
    _, owner = caller_and_owner(router.current_event, username, routes.DELETE_PAT, denied=hidden)
    services().pats.delete(owner.id, token_id)
    return json_response(Empty())
