"""Move a running Memos over (SPEC §9): `python -m tools.memos_import --db memos_prod.db`.

Outside src/ on purpose: the Lambda functions' package never carries it. One module reads
the database (memos_sqlite; MySQL and PostgreSQL would each be another reader of the same
rows), one turns the rows into memos-auth's records (mapping), one writes them (writer).
"""
