"""The one outbound path: every call to a platform goes through `PlatformClient`."""

from easyflow.http.client import BodyStream, PlatformClient, RawResponse, RetryPolicy
from easyflow.http.ratelimit import InMemoryRateLimiter, RateLimiter
from easyflow.http.spec import Auth, AuthStyle, PlatformSpec, RateLimit

__all__ = [
    "Auth",
    "AuthStyle",
    "BodyStream",
    "InMemoryRateLimiter",
    "PlatformClient",
    "PlatformSpec",
    "RateLimit",
    "RateLimiter",
    "RawResponse",
    "RetryPolicy",
]
