"""The one outbound path: every call to a platform goes through `PlatformClient`."""

from easyflow.http.client import PlatformClient, RawResponse, RetryPolicy
from easyflow.http.ratelimit import InMemoryRateLimiter, RateLimiter
from easyflow.http.spec import Auth, AuthStyle, PlatformSpec, RateLimit

__all__ = [
    "Auth",
    "AuthStyle",
    "InMemoryRateLimiter",
    "PlatformClient",
    "PlatformSpec",
    "RateLimit",
    "RateLimiter",
    "RawResponse",
    "RetryPolicy",
]
