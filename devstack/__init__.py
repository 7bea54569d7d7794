"""A Docker-free local stand-in for API Gateway, Lambda, DynamoDB and Secrets Manager.

Everything is read from ``template.yaml`` so the local stack cannot drift from what
``sam deploy`` creates. Entry points:

- ``python -m devstack``: serve the HTTP API (``make run``).
- ``python -m devstack.invoke FN EVENT_FILE``: invoke one function once (``make invoke``).
- :class:`devstack.stack.LocalStack`: start and stop a stack from tests.
"""
