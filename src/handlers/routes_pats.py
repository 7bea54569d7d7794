"""/api/v1/users/{username}/personalAccessTokens: list, create, delete (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth.access import ROUTE_ACCESS
from auth.errors import NotFound
from handlers.api_context import principal, services
from handlers.json_response import JsonResponse, json_response
from handlers.openapi_document import documented
from handlers.owners import credential_id_param, owner_for
from handlers.requests import CreatePersonalAccessTokenRequest
from handlers.response_bodies import CreatedPersonalAccessToken, Empty, PersonalAccessTokenList
from handlers.views import pat_view

router = APIGatewayHttpRouter()

LIST = "GET /api/v1/users/{username}/personalAccessTokens"
CREATE = "POST /api/v1/users/{username}/personalAccessTokens"
DELETE = "DELETE /api/v1/users/{username}/personalAccessTokens/{tokenId}"


@router.get(
    "/api/v1/users/<username>/personalAccessTokens",
    **documented(LIST, PersonalAccessTokenList, 401, 403, 404),
)
def list_tokens(username: str) -> JsonResponse:
    owner = owner_for(username, principal(router.current_event), ROUTE_ACCESS[LIST])
    records = services().pats.list_for_user(owner.id)
    return json_response({"personalAccessTokens": [pat_view(owner.username, record) for record in records]})


@router.post(
    "/api/v1/users/<username>/personalAccessTokens",
    **documented(CREATE, CreatedPersonalAccessToken, 401, 403, 404),
)
def create_token(username: str, body: Annotated[CreatePersonalAccessTokenRequest, Body()]) -> JsonResponse:
    owner = owner_for(username, principal(router.current_event), ROUTE_ACCESS[CREATE])
    record, token = services().pats.create(owner, body.description, body.expiresInDays)
    return json_response({"personalAccessToken": pat_view(owner.username, record), "token": token})


@router.delete(
    "/api/v1/users/<username>/personalAccessTokens/<tokenId>", **documented(DELETE, Empty, 401, 404)
)
def delete_token(username: str, tokenId: str) -> JsonResponse:
    token_id = credential_id_param(tokenId, "tokenId")
    # Someone else's token answers as if it did not exist, whoever owns it.
    hidden = NotFound("personal access token not found")
    owner = owner_for(username, principal(router.current_event), ROUTE_ACCESS[DELETE], denied=hidden)
    services().pats.delete(owner.id, token_id)
    return json_response({})
