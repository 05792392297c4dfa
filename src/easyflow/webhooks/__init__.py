"""Webhook authenticity schemes and the intake pipeline (verify -> parse -> dedupe -> store)."""
