"""Shared state behind ports: locks and rate-limit budgets, in-process or in Redis."""
