"""What an integration can do is what its platform offers, asked of the adapters port.

An integration row keeps one `kind` (its platform's first capability: how it is listed), but a
platform may offer several (a marketplace with buyer chat is also a messenger). Services decide
with `require_capability`, never with `integration.kind`.
"""

from __future__ import annotations

from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.tenancy import Capability, Integration
from easyflow.ports import Adapters


def offers(adapters: Adapters, integration: Integration, capability: Capability) -> bool:
    """Whether the integration's platform offers `capability`."""
    return adapters.offers(integration.platform, capability)


def require_capability(
    adapters: Adapters, integration: Integration, capability: Capability
) -> None:
    """InvalidRequestError naming the integration unless its platform offers `capability`."""
    if not offers(adapters, integration, capability):
        what = capability.value.replace("_", " ")
        raise InvalidRequestError(
            f"integration {integration.id} ({integration.platform}) is not a {what}"
        )
