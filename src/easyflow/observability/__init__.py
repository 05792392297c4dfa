"""Metrics (defined once, in `metrics.py`) and structured logging with secret redaction."""
