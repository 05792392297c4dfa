"""What the messenger emulators share instead of copying each other (docs/messengers.md).

- `delivery`: webhook delivery with the platform's retry schedule, one chat at a time in
  order, each body signed by the production scheme's `sign()`; every attempt in an
  `AttemptLog`;
- `accounts`: the credential registry (which tokens open which account), with demo accounts;
- `faults`: the shared fault engine (sandbox/faults.py) applied to a call and rendered in the
  platform's own envelope;
- `limits`: sliding-window rate limits on the emulator's side.
"""

from easyflow.sandbox.kit.accounts import Accounts, SendingAccounts
from easyflow.sandbox.kit.delivery import (
    Attempt,
    AttemptLog,
    RetrySchedule,
    WebhookSender,
)
from easyflow.sandbox.kit.faults import FaultRenderer, apply_fault
from easyflow.sandbox.kit.limits import Window

__all__ = [
    "Accounts",
    "Attempt",
    "AttemptLog",
    "FaultRenderer",
    "RetrySchedule",
    "SendingAccounts",
    "WebhookSender",
    "Window",
    "apply_fault",
]
