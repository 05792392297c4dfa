"""The fuzz suites (tests/fuzz): every module here carries the `fuzz` marker.

Short form in the normal run; long form: `scripts/fuzz` (EASYFLOW_FUZZ=long, see profiles.py).
Hypothesis shrinks every failure and prints the minimal failing example (the OpenAPI suite also
prints the request as a curl command); the assertion message names the rule that broke.
"""

from __future__ import annotations

import pytest
import schemathesis.generation.hypothesis.builder  # noqa: F401 - applies its patch first
from hypothesis import core
from hypothesis.vendor import pretty

from fuzz.oracle import Target
from fuzz.profiles import fuzz_mode
from support.hub import Hub

# Importing schemathesis (its pytest plugin does, in every run) swaps Hypothesis' printer for
# one that prints nothing, for speed: a failure would then read `body=,`. Put it back, so
# every shrunk failing example is printed in full.
core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fuzz: property-based fuzzing (deselect with -m 'not fuzz'; long form: scripts/fuzz)",
    )
    try:
        fuzz_mode()  # a mistyped EASYFLOW_FUZZ fails the run at once, not after the suite
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def target(hub: Hub, db_backend: str) -> Target:
    return Target(hub, db_backend)
