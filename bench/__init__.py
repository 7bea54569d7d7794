"""`make bench`: what one authorizer request costs on each credential path (issue 6).

Run as `python -m bench` from the repository root; prints a table and writes
bench/results.json. Nothing here is part of `make test`.
"""
