"""`easyflow integrations add yandexgpt|anthropic` against the sandbox on a real port, a model
the provider does not have refused at add time, and `easyflow ai budget|costs`."""

from __future__ import annotations

import re

from easyflow.sandbox.anthropic import DEMO_ANTHROPIC_KEY
from easyflow.sandbox.openai import DEMO_OPENAI_KEY
from easyflow.sandbox.yandexgpt import DEMO_YANDEXGPT_FOLDER, DEMO_YANDEXGPT_KEY

from .conftest import CliEnv
from .test_cli import create_tenant, easyflow, ok, words


def test_add_the_ai_providers_and_refuse_unknown_models(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = str(create_tenant("My Shop"))
    yandex = ("--api-key", DEMO_YANDEXGPT_KEY, "--folder-id", DEMO_YANDEXGPT_FOLDER)
    output = ok("integrations", "add", "yandexgpt", "--tenant", tenant, *yandex)
    assert re.search(r"yandexgpt integration \d+ connected", output)
    [check] = cli_env.sandbox.yandexgpt.requests("/foundationModels/v1/tokenize")
    assert check.authorization == f"Api-Key {DEMO_YANDEXGPT_KEY}"
    output = ok(
        "integrations", "add", "anthropic", "--tenant", tenant, "--api-key", DEMO_ANTHROPIC_KEY
    )
    assert re.search(r"anthropic integration \d+ connected", output)

    for args in (
        ("yandexgpt", *yandex, "--model", "yandexgpt-typo"),
        ("anthropic", "--api-key", DEMO_ANTHROPIC_KEY, "--model", "claude-typo"),
        ("openai", "--api-key", DEMO_OPENAI_KEY, "--model", "gpt-4.1-typo"),
    ):
        refused = easyflow("integrations", "add", args[0], "--tenant", tenant, *args[1:])
        assert refused.exit_code == 1, refused.output
        assert f"error: {args[0]} refused the integration:" in words(refused.output)
        assert "Traceback" not in refused.output
    wrong_folder = easyflow(
        "integrations", "add", "yandexgpt", "--tenant", tenant,
        "--api-key", DEMO_YANDEXGPT_KEY, "--folder-id", "b1gnotmyfolder000000",
    )  # fmt: skip
    assert "denied" in words(wrong_folder.output)
    chain = ok("ai", "providers", "--tenant", tenant, "anthropic", "yandexgpt")
    assert "anthropic -> yandexgpt -> local" in chain
    unknown = easyflow("ai", "providers", "--tenant", tenant, "gigachat")
    assert unknown.exit_code == 1 and "unknown platform 'gigachat'" in words(unknown.output)
    not_ai = easyflow("ai", "providers", "--tenant", tenant, "telegram")
    assert "'telegram' is not an AI provider" in words(not_ai.output)
    listed = ok("integrations", "list", "--tenant", tenant)
    assert len(re.findall(r"│\s*(yandexgpt|anthropic|openai)\s*│\s*\1\s*│", listed)) == 2
    assert DEMO_YANDEXGPT_KEY not in listed and DEMO_ANTHROPIC_KEY not in listed


def test_budget_and_costs(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = str(create_tenant("My Shop"))
    assert "20 USD a month" in ok(
        "ai", "budget", "--tenant", tenant, "--currency", "usd", "--limit", "20"
    )
    costs = words(ok("ai", "costs", "--tenant", tenant))
    assert "budget USD: 0 of 20.00 this month" in costs
    refused = easyflow("ai", "budget", "--tenant", tenant, "--currency", "dollars", "--limit", "5")
    assert refused.exit_code == 1 and "ISO 4217" in words(refused.output)
    assert "removed" in ok("ai", "budget", "--tenant", tenant, "--currency", "USD")
    assert "budget" not in ok("ai", "costs", "--tenant", tenant)
