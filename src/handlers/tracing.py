"""Powertools Tracer (X-Ray subsegments) for the API and rotation functions.

Kept apart from handlers.observability because importing the X-Ray SDK adds about 300 ms
to a cold start (make bench): the authorizer, which makes at most one AWS call per request,
is traced by Lambda's active tracing alone and never imports it.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

from handlers.observability import SERVICE

tracer = Tracer(service=SERVICE)
