"""Chaos suite: the real processes (sandbox, API, workers, Redis, PostgreSQL) under faults.

See docs/testing.md ("Chaos"): a short form runs with the normal pytest run (marker `chaos`),
the long form is `scripts/chaos --long`.
"""
