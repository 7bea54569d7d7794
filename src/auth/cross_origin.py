"""Cross-site protection for cookie-authenticated state changes (SPEC §10).

The rule of Go 1.25's `net/http.CrossOriginProtection`, as one pure function: a request that
only reads (GET, HEAD, OPTIONS) always passes; otherwise the browser's `Sec-Fetch-Site`
decides (`same-origin` and `none`, a request the person typed or bookmarked, pass;
`cross-site` is refused whatever its Origin, as SPEC §10 says; `same-site`, a sibling
subdomain, is refused as Go refuses it unless its Origin is one the operator named in
`AllowedOrigins`, as Go's AddTrustedOrigin trusts it: such an app gets the SameSite=Lax
cookie, so it can use it); a browser too old to send it is judged by `Origin` (the
request's own `Host`, or one of `AllowedOrigins`); a request with neither header (curl, a
Memos client) is not a browser's and passes, since SameSite=Lax already keeps browsers from
sending the cookie along. A cross-site app loses nothing by the refusal: its browser would
not send a Lax cookie with the request anyway.

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
        site = fetch_site.strip().lower()
        return site in _NOT_CROSS_ORIGIN or (site == "same-site" and trusted)
    if origin is None or origin.strip() == "":
        return True
    host = headers.get("host")
    own = host is not None and _origin_host(normalized_origin(origin)) == host.strip().lower()
    return own or trusted
