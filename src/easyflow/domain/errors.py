"""Every error Easy Flow raises, grouped by what the caller should do about it.

EasyFlowError
├── PlatformError                 a call to a platform did not succeed
│   ├── ConfigurationError        wrong setup (bad token): don't retry, tell the tenant
│   │   └── AuthenticationError   the platform rejected our credentials
│   ├── RejectedError             the platform refused this request (4xx): never retried
│   └── RetryableError            5xx, timeouts, connection errors: try again later
│       └── RateLimitedError      429 / flood control, with the wait the platform asked for
├── UnauthenticatedError          a request carried no valid credentials (401, no detail)
│   └── WebhookSignatureError     an inbound webhook failed its platform's check
├── MalformedPayloadError         an inbound body could not be understood (400 with the reason)
├── NotFoundError                 a tenant-owned object does not exist (or belongs to another)
└── InvalidRequestError           a caller's request breaks a rule (400 with the reason)
    └── ConflictError             it clashes with what exists (409)
"""

from __future__ import annotations


class EasyFlowError(Exception):
    """Root of the tree."""


class PlatformError(EasyFlowError):
    """A call to an external platform failed."""

    def __init__(self, message: str, *, platform: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.platform = platform
        self.status = status


class ConfigurationError(PlatformError):
    """The integration is set up wrongly; retrying will not help."""


class AuthenticationError(ConfigurationError):
    """The platform rejected the credentials."""


class RejectedError(PlatformError):
    """The platform refused this particular request."""


class RetryableError(PlatformError):
    """A transient failure: the same request may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, platform=platform, status=status)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The platform asked us to slow down (retry_after seconds, when it said)."""


class UnauthenticatedError(EasyFlowError):
    """No valid credentials. The message is logged, never shown to the caller."""


class WebhookSignatureError(UnauthenticatedError):
    """An inbound webhook failed its platform's authenticity check."""


class MalformedPayloadError(EasyFlowError):
    """An inbound body is not what the platform sends; the message says why."""


class NotFoundError(EasyFlowError):
    """The object does not exist for this tenant."""


class InvalidRequestError(EasyFlowError):
    """The request breaks a rule; the message says which."""


class ConflictError(InvalidRequestError):
    """The request clashes with existing state (e.g. an account connected twice)."""
