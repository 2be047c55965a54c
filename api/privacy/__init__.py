"""Privacy (GDPR and CCPA): data subject access export and erasure across every store.

:mod:`api.privacy.export` gathers everything held on one customer (operational database,
lakehouse, counts in the warehouse, landing files naming them); :mod:`api.privacy.erase`
removes it, time travel included, and records the fact in the erasure ledger
(:mod:`api.privacy.ledger`). Both are blocking: the API runs them in a worker thread, and
never starts Spark (delta-rs and DuckDB do the work).
"""
