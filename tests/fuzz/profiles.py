"""Hypothesis profiles of the fuzz suites: `ci` (short, derandomized) and `long`.

EASYFLOW_FUZZ=ci (the default) runs a few thousand cases in all, derandomized: the same cases
on every run, so CI never flakes and a failure reproduces by re-running the test.
EASYFLOW_FUZZ=long multiplies every test's examples (EASYFLOW_FUZZ_SCALE, default 20) with a
random seed, keeping failures in `.pytest_cache/hypothesis-fuzz/` so the next run replays them
first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

MODE_ENV = "EASYFLOW_FUZZ"
SCALE_ENV = "EASYFLOW_FUZZ_SCALE"

_COMMON = {
    "deadline": None,  # a request may hit a cold cache or a slow disk; no timings in tests
    # One hub per test, shared by its examples, is the point: state builds up across requests.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
    "print_blob": True,
}
settings.register_profile(
    "easyflow-fuzz-ci",
    derandomize=True,
    database=None,
    # Explain needs extra runs per failure; the minimal example is printed without it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    **_COMMON,
)
settings.register_profile(
    "easyflow-fuzz-long",
    # Under .pytest_cache (ignored by git): failures found here are replayed first next time.
    database=DirectoryBasedExampleDatabase(".pytest_cache/hypothesis-fuzz"),
    **_COMMON,
)


def fuzz_mode() -> str:
    mode = os.environ.get(MODE_ENV, "ci")
    if mode not in ("ci", "long"):
        raise ValueError(f"{MODE_ENV} must be 'ci' or 'long', not {mode!r}")
    return mode


def fuzz_settings(examples: int) -> settings:
    """The active profile with `examples` cases in CI, scaled up in the long form."""
    mode = fuzz_mode()
    scale = int(os.environ.get(SCALE_ENV, "20")) if mode == "long" else 1
    return settings(settings.get_profile(f"easyflow-fuzz-{mode}"), max_examples=examples * scale)
