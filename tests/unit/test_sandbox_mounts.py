"""The sandbox emulates every registered platform that has a host, where its SPEC says.

`EASYFLOW_SANDBOX_URL` points the hub at `<sandbox>/<SPEC.sandbox_mount>` for every platform
(config.Settings.base_url): a platform registered without an emulator, or an emulator
mounted elsewhere, would send the hub's calls nowhere.
"""

from __future__ import annotations

from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox.server import create_sandbox_app


async def test_every_registered_platform_is_emulated_at_its_sandbox_mount() -> None:
    sandbox = create_sandbox_app()
    try:
        mounts = {entry["platform"]: entry["mount"] for entry in sandbox.catalog()}
        for definition in PlatformRegistry().definitions():
            if not definition.spec.base_url:  # answers in process (the local responder)
                continue
            assert definition.name in mounts, f"no emulator for {definition.name}"
            mount = mounts[definition.name]
            assert definition.spec.sandbox_mount.startswith(mount), definition.name
    finally:
        await sandbox.aclose()
