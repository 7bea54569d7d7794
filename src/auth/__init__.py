"""memos-auth domain: credentials, keys, users and the rules that bind them.

Nothing in this package knows about API Gateway events; `handlers` translates.
"""
