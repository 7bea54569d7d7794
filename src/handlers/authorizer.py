"""The HTTP API Lambda authorizer (SPEC §4), payload 2.0 with simple responses.

Lean on purpose: no event handler, no event data classes, no pydantic, no bcrypt. The
services are built once per container, on the first invocation, so an import never touches
AWS.
"""

from __future__ import annotations

# First: it pauses the garbage collector until init_pause.end() below ends this init.
from handlers import init_pause

# isort: split
from typing import Any

from auth.cross_origin import cross_origin_allowed
from auth.errors import Unauthenticated
from auth.principal import Principal
from auth.routes import may_enter
from auth.tokens import load_pyjwt
from auth.wiring import AuthorizerServices, build_authorizer_services
from handlers import authorizer_event
from handlers.audit_log import LoggerAudit
from handlers.cookies import SESSION_COOKIE, cookie_value
from handlers.denials import RefusalLog, count_denial
from handlers.lazy import Lazy
from handlers.observability import DenialReason, logger
from handlers.snapshots import forget_after_restore

# Most requests bring an access token: PyJWT is loaded at init (into a SnapStart snapshot
# too), not on the first one; the API function, whose callers are verified already, waits.
load_pyjwt()
services: Lazy[AuthorizerServices] = Lazy(lambda: build_authorizer_services(audit=LoggerAudit(logger)))
forget_after_restore(services)
refusals = RefusalLog()


def authorizer_context(principal: Principal) -> dict[str, str]:
    # API Gateway passes context values through as flat strings.
    return {
        "userId": str(principal.user_id),
        "username": principal.username,
        "role": principal.role.value,
        "authMethod": principal.auth_method.value,
        "credentialId": principal.credential_id,
        # SPEC §4: when the sign-in was ("0" for a PAT) and how, for routes that need it recent.
        "authTime": str(principal.sign_in.auth_time),
        "amr": " ".join(principal.sign_in.amr),
    }


def _same_origin_enough(event: dict[str, Any]) -> bool:
    # Lower-cased for hand-made events (tests, `sam local`); API Gateway already sends them so.
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return cross_origin_allowed(authorizer_event.method(event), headers, services().config.allowed_origins)


# The event is never logged: it holds the caller's credential. Denials write their own
# metric line (handlers.denials), so Powertools' log_metrics, which costs every
# invocation, is not used here.
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Set directly rather than by a JMESPath correlation path: a third of the decorator's cost.
    logger.set_correlation_id(authorizer_event.request_id(event))
    route = authorizer_event.route_key(event)
    authorization = authorizer_event.header(event, authorizer_event.AUTHORIZATION)
    session: str | None = None
    # A cookie sent twice is refused before `session` is set; it was presented all the same.
    cookie_sent_twice = False
    try:
        try:
            session = cookie_value(authorizer_event.cookies(event), SESSION_COOKIE)
        except Unauthenticated:
            cookie_sent_twice = True
            raise
        if not authorization and session is not None and not _same_origin_enough(event):
            # SPEC §10: a cookie rides along on another site's request; refused before the
            # session is even read, so such a request touches nothing.
            count_denial(DenialReason.CROSS_SITE)
            logger.info("cross-site request refused", route=route)
            return authorizer_event.deny()
        principal = services().authenticator.authenticate(authorization, session)
    except Unauthenticated as refused:
        presented = authorization is not None or session is not None or cookie_sent_twice
        count_denial(DenialReason.INVALID_CREDENTIAL if presented else DenialReason.NO_CREDENTIAL)
        refusals.refused(refused.message, route)
        # The exact message API Gateway turns into a 401.
        raise Exception("Unauthorized") from None
    except Exception:
        # A dependency failed: never allow. A non-'Unauthorized' error makes API Gateway
        # answer 500, so clients retry instead of discarding a good credential.
        count_denial(DenialReason.FAILED_CLOSED)
        logger.exception("authorizer failed closed", route=route)
        raise
    if not may_enter(route, principal):
        count_denial(DenialReason.ROUTE_FORBIDDEN)
        logger.info("route refused", route=route, user_id=principal.user_id)
        return authorizer_event.deny()
    # Allowed requests publish no metric: an EMF line per request would be most of the warm
    # cost; API Gateway's own Count metric already counts them.
    return authorizer_event.allow(authorizer_context(principal))


init_pause.end()
