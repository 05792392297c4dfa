"""The import contracts are real: a violation planted against each one makes lint-imports fail.

A copy of the package gets one forbidden import per contract; lint-imports then runs on the
copy with the project's own configuration and must report every contract broken (and the
untouched tree must keep them all, which `scripts/test` checks before pytest runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# contract name -> (module file under src/easyflow, the forbidden import planted in it)
PLANTS = {
    "Layers point inward": ("storage/codecs.py", "import easyflow.services.retries"),
    "Platforms know no storage, services, api or settings": (
        "platforms/grounding.py",
        "import easyflow.config",
    ),
    "HTTP clients only in http, the sandboxes and the composition root": (
        "api/errors.py",
        "import aiohttp",
    ),
    "Services know the domain and the ports, not what implements them": (
        "services/retries.py",
        "import sqlalchemy",
    ),
    "The API reaches data through services only": ("api/deps.py", "import easyflow.storage.codecs"),
    "Domain and ports stand on the standard library alone": (
        "domain/phones.py",
        "import structlog",
    ),
    "No platform imports another": (
        "platforms/local/responder.py",
        "import easyflow.platforms.openai",
    ),
    "Only the composition root knows the sandboxes": ("jobs/queue.py", "import easyflow.sandbox"),
}


def _contract_names() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"] for c in config["tool"]["importlinter"]["contracts"]}


def test_every_contract_has_a_planted_violation() -> None:
    assert set(PLANTS) == _contract_names()


def test_a_planted_violation_breaks_each_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "easyflow", tmp_path / "src" / "easyflow")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in PLANTS.values():
        path = tmp_path / "src" / "easyflow" / module
        path.write_text(path.read_text() + f"\n{line}  # planted by the test\n")
    env = os.environ | {"PYTHONPATH": str(tmp_path / "src")}
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603
        [str(lint_imports), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    broken = set(re.findall(r"^(.+) BROKEN$", result.stdout, flags=re.MULTILINE))
    assert broken == set(PLANTS), result.stdout


def _imported(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_domain_and_ports_import_the_standard_library_and_the_domain_only() -> None:
    # The contract above names the libraries the project uses; this allows, rather than
    # forbids, so a library added later cannot slip in either.
    package = ROOT / "src" / "easyflow"
    for path in [*sorted((package / "domain").glob("*.py")), package / "ports.py"]:
        for name in _imported(path):
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or name.startswith("easyflow.domain")
            assert allowed or top == "__future__", f"{path.name} imports {name}"
