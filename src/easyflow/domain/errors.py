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
├── TransientStorageError         the database was unreachable, dropped the connection or was
│                                 busy: the same work may succeed later (storage translates
│                                 driver errors into it at the unit of work's boundary)
├── NotFoundError                 a tenant-owned object does not exist (or belongs to another)
├── UnreadableSecretError         stored credentials the configured keys cannot decrypt (503)
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


class TransientStorageError(EasyFlowError):
    """The database failed for a passing reason (connection lost, server restarting, locked).

    Raised by the storage layer in place of the driver's error, so callers classify failures
    without knowing the database.
    """


class NotFoundError(EasyFlowError):
    """The object does not exist for this tenant."""


class UnreadableSecretError(EasyFlowError):
    """A stored credential or webhook secret cannot be decrypted with the configured keys.

    The operator's to fix (EASYFLOW_SECRET_KEYS lacks the key that encrypted it), not the
    caller's: answered 503, and work that needs the row waits for the key to come back.
    """


class InvalidRequestError(EasyFlowError):
    """The request breaks a rule; the message says which."""


class ConflictError(InvalidRequestError):
    """The request clashes with existing state (e.g. an account connected twice)."""


def is_transient(exc: BaseException) -> bool:
    """True when the same work may succeed later: retry it with backoff; else it is permanent.

    The one classification of failures for inbound processing and sending. Lower layers
    translate what they know into the tree first (PlatformClient: network errors and 5xx
    into RetryableError; the unit of work: database errors into TransientStorageError).
    """
    # An unreadable secret means a process runs with the wrong keys; once the keys are put
    # right the same work succeeds, so it waits instead of failing for good.
    return isinstance(exc, (RetryableError, TransientStorageError, UnreadableSecretError))


class OutcomeUnknownError(RetryableError):
    """The request may have reached the platform (timed out after it was written, or the
    connection dropped before the answer): repeating it is safe only with an idempotency key."""
