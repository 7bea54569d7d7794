"""Cross-site protection for cookie-authenticated state changes (SPEC §10).

The rule of Go 1.25's `net/http.CrossOriginProtection`, as one pure function: a request that
only reads (GET, HEAD, OPTIONS) always passes; otherwise the browser's `Sec-Fetch-Site`
decides (`same-origin` and `none`, a request the person typed or bookmarked, pass; anything
else, `same-site` included, is refused); a browser too old to send it is judged by `Origin`
(its host must be the request's own `Host`); a request with neither header (curl, a Memos
client) is not a browser's and passes, since SameSite=Lax already keeps browsers from
sending the cookie along. An origin the operator named in `AllowedOrigins` is trusted in
both branches, as Go's AddTrustedOrigin is: those are the CORS origins allowed credentials.

Plain Python without imports: the authorizer applies it on its hot path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values that mean the request did not come from another origin's page.
_NOT_CROSS_ORIGIN = frozenset({"same-origin", "none"})


def normalized_origin(origin: str) -> str:
    """An origin as compared: lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


def _origin_host(origin: str) -> str | None:
    """The host[:port] of `scheme://host[:port]`; None for `null` or anything else."""
    scheme, separator, rest = origin.partition("://")
    if not separator or not scheme or not rest or "/" in rest:
        return None
    return rest


def cross_origin_allowed(
    method: str, headers: Mapping[str, str], allowed_origins: Collection[str] = ()
) -> bool:
    """Whether a request that a cookie authenticates may go on.

    `headers` are the request's, with lower-case names (as API Gateway's payload 2.0 gives
    them); the request's own origin is its `host` header. `allowed_origins` are normalized
    (normalized_origin).
    """
    if method.upper() in SAFE_METHODS:
        return True
    origin = headers.get("origin")
    trusted = origin is not None and normalized_origin(origin) in allowed_origins
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip() != "":
        return fetch_site.strip().lower() in _NOT_CROSS_ORIGIN or trusted
    if origin is None or origin.strip() == "":
        return True
    host = headers.get("host")
    own = host is not None and _origin_host(normalized_origin(origin)) == host.strip().lower()
    return own or trusted
