"""RQ job functions: thin wrappers that open a session and call a domain service.

Jobs carry ids only, never objects or card data. One module per domain.
"""
