"""Faults from the shared engine (sandbox/faults.py), applied to one call of an emulator.

The engine decides which fault hits; the emulator says how its platform shows it (a Graph
error, a VK error inside HTTP 200, a Viber status) through a `FaultRenderer`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from easyflow.sandbox.base import SandboxContext
from easyflow.sandbox.faults import Fault, stall

FaultRenderer = Callable[[Fault], Response]
MALFORMED_BODY = b'{"status":0,"result":{"id":'


async def apply_fault(
    ctx: SandboxContext, slug: str, method: str, path: str, render: FaultRenderer
) -> Response | None:
    """The response a matching fault gives this call (after its wait), or None to go on."""
    fault = await stall(ctx.faults.pick(slug, method, path))
    if fault is None:
        return None
    if fault.kind == "malformed":
        return Response(MALFORMED_BODY, media_type="application/json")
    return render(fault)
