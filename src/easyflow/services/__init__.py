"""Use cases. Services depend on `ports` and `domain` only; bootstrap hands them adapters."""
