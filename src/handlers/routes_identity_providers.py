"""/api/v1/identity-providers and /api/v1/users/{username}/linkedIdentities (SPEC §8)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from handlers.api_context import client_info, principal, services
from handlers.bodies import (
    Empty,
    IdentityProviderJson,
    IdentityProviderList,
    IdentityProviderRequest,
    IdentityProviderUpdateRequest,
    LinkedIdentityJson,
    LinkedIdentityList,
    SsoCredentials,
)
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import route
from handlers.owners import caller_and_owner, credential_id_param

router = APIGatewayHttpRouter()


@route(router, routes.LIST_IDENTITY_PROVIDERS, IdentityProviderList)
def list_identity_providers() -> JsonResponse:
    providers = services().identity_providers.list()
    return json_response(
        IdentityProviderList(identityProviders=[IdentityProviderJson.of(p) for p in providers])
    )


@route(router, routes.GET_IDENTITY_PROVIDER, IdentityProviderJson, 404)
def get_identity_provider(id: str) -> JsonResponse:
    return json_response(IdentityProviderJson.of(services().identity_providers.get(id)))


@route(router, routes.CREATE_IDENTITY_PROVIDER, IdentityProviderJson, 401, 409, recent_sign_in=True)
def create_identity_provider(
    body: Annotated[IdentityProviderRequest, Body()],
    identityProviderId: Annotated[str, Query(max_length=64)] = "",
) -> JsonResponse:
    caller = principal(router.current_event)
    created = services().identity_providers.create(caller, body.domain(), identityProviderId)
    return json_response(IdentityProviderJson.of(created))


@route(router, routes.UPDATE_IDENTITY_PROVIDER, IdentityProviderJson, 401, 404, recent_sign_in=True)
def update_identity_provider(id: str, body: Annotated[IdentityProviderUpdateRequest, Body()]) -> JsonResponse:
    caller = principal(router.current_event)
    providers = services().identity_providers
    current = providers.get(id)
    return json_response(IdentityProviderJson.of(providers.update(caller, id, body.domain(current.type))))


@route(router, routes.DELETE_IDENTITY_PROVIDER, Empty, 404)
def delete_identity_provider(id: str) -> JsonResponse:
    services().identity_providers.delete(principal(router.current_event), id)
    return json_response(Empty())


@route(router, routes.LIST_LINKED_IDENTITIES, LinkedIdentityList, 401, 403, 404)
def list_linked_identities(username: str) -> JsonResponse:
    _, owner = caller_and_owner(router.current_event, username, routes.LIST_LINKED_IDENTITIES)
    links = services().linked_identities.list(owner)
    return json_response(
        LinkedIdentityList(linkedIdentities=[LinkedIdentityJson.of(owner.username, link) for link in links])
    )


@route(router, routes.LINK_IDENTITY, LinkedIdentityJson, 401, 403, 404, 409, 429, recent_sign_in=True)
def link_identity(username: str, body: Annotated[SsoCredentials, Body()]) -> JsonResponse:
    caller, owner = caller_and_owner(router.current_event, username, routes.LINK_IDENTITY)
    source_ip = client_info(router.current_event).ip_address
    link = services().linked_identities.link(caller, owner, body.domain(), source_ip)
    return json_response(LinkedIdentityJson.of(owner.username, link))


@route(router, routes.UNLINK_IDENTITY, Empty, 401, 403, 404, recent_sign_in=True)
def unlink_identity(username: str, id: str) -> JsonResponse:
    link_id = credential_id_param(id, "id")
    caller, owner = caller_and_owner(router.current_event, username, routes.UNLINK_IDENTITY)
    services().linked_identities.unlink(caller, owner, link_id)
    return json_response(Empty())
