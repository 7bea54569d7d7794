"""HTTP API route selection: the most specific matching route wins, as in API Gateway."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from devstack.template import Route

DEFAULT_ROUTE = "$default"
_VARIABLE = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")

# How specific a path segment is: a literal beats {param}, which beats {proxy+}.
_LITERAL, _PARAMETER, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str] | None
    names: tuple[str, ...]
    rank: tuple[tuple[int, ...], int]


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [_compile(route) for route in routes]
        self.stages = sorted({compiled.route.stage for compiled in self._routes})

    def match(self, method: str, raw_path: str) -> Match | None:
        found = self._match(method, raw_path)
        if found is None and len(raw_path) > 1 and raw_path.endswith("/"):
            # API Gateway routes `/account/` as `/account` (the function's rawPath keeps the
            # slash, which is how the pages' function tells the two apart).
            found = self._match(method, raw_path[:-1])
        return found

    def _match(self, method: str, raw_path: str) -> Match | None:
        candidates: list[tuple[_CompiledRoute, dict[str, str]]] = []
        for compiled in self._routes:
            if compiled.route.method not in (method.upper(), "ANY"):
                continue
            if compiled.pattern is None:
                candidates.append((compiled, {}))
                continue
            found = compiled.pattern.fullmatch(raw_path)
            if found is not None:
                values = {
                    name: urllib.parse.unquote(value)
                    for name, value in zip(compiled.names, found.groups(), strict=True)
                }
                candidates.append((compiled, values))
        if not candidates:
            return None
        best, parameters = min(candidates, key=lambda candidate: candidate[0].rank)
        return Match(best.route, parameters)


def _compile(route: Route) -> _CompiledRoute:
    method_rank = 1 if route.method == "ANY" else 0
    if route.path == DEFAULT_ROUTE:
        # $default catches whatever no other route matched.
        return _CompiledRoute(route, None, (), ((_GREEDY + 1,), method_rank))
    parts, names, ranks = [], [], []
    for segment in route.path.strip("/").split("/"):
        variable = _VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            ranks.append(_LITERAL)
        elif variable.group(2):
            parts.append("(.+)")
            names.append(variable.group(1))
            ranks.append(_GREEDY)
        else:
            parts.append("([^/]+)")
            names.append(variable.group(1))
            ranks.append(_PARAMETER)
    pattern = re.compile("/" + "/".join(parts))
    return _CompiledRoute(route, pattern, tuple(names), (tuple(ranks), method_rank))
