"""Control routes shared by all emulators, mounted at `/_sandbox` (docs/sandbox.md):
faults, reset, waiting for webhook deliveries to settle, and the list of platforms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from easyflow.sandbox.base import ControlError, UnknownObject
from easyflow.sandbox.faults import FaultSpec

if TYPE_CHECKING:
    from easyflow.sandbox.server import Sandbox


def control_router(sandbox: Sandbox) -> APIRouter:
    api = APIRouter(tags=["sandbox"])

    @api.get("")
    async def index() -> dict[str, Any]:
        return {
            "platforms": sorted(sandbox.emulators),
            "emulators": sandbox.catalog(),
            "faults": len(sandbox.faults.installed()),
            "busy": sandbox.busy(),
        }

    @api.post("/faults", status_code=201)
    async def add_fault(spec: FaultSpec) -> dict[str, Any]:
        if spec.platform not in sandbox.emulators:
            raise ControlError(
                f"unknown platform {spec.platform!r}; this sandbox has {sorted(sandbox.emulators)}"
            )
        return sandbox.faults.add(spec).to_dict()

    @api.get("/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in sandbox.faults.installed()]}

    @api.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        removed = len(sandbox.faults.installed())
        sandbox.faults.clear()
        return {"removed": removed}

    @api.delete("/faults/{fault_id}")
    async def remove_fault(fault_id: str) -> dict[str, Any]:
        if not sandbox.faults.remove(fault_id):
            raise UnknownObject(f"no fault {fault_id}")
        return {"removed": 1}

    @api.post("/reset")
    async def reset() -> dict[str, Any]:
        await sandbox.reset()
        return {"reset": True}

    @api.post("/wait-idle", response_model=None)
    async def wait_idle(seconds: float = Query(5.0, gt=0, le=60, alias="timeout")) -> Any:
        try:
            await sandbox.wait_idle(seconds)
        except TimeoutError as exc:
            return JSONResponse({"detail": str(exc), "idle": False}, status_code=408)
        return {"idle": True}

    return api
