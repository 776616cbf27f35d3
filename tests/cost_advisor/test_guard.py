"""Synth's cost guard: the deployed option's estimate is reported, and over the budget it stops
synth unless the config acknowledges it; what cannot be estimated never stops a deployment."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cost_advisor import ModelSize
from cost_advisor.guard import check_deployed_cost
from endpoint_configs import CONFIG_DIR, ConfigError, EnvironmentConfig, parse_config
from tests.cost_advisor.fakes import FakeCatalog

MINILM = ModelSize.from_parameters(22_700_000, "fp32")
SOURCE = "endpoint_configs/dev.yaml"
TRAFFIC = {"requests_per_day": 2000, "peak_requests_per_second": 1, "payload_kb": 2, "processing_ms": 200}
ALWAYS_ON_M5_LARGE = 730 * 0.115  # dev's real-time block: one ml.m5.large around the clock


def _dev(budget: dict[str, Any] | None, traffic: dict[str, Any] | None = TRAFFIC) -> EnvironmentConfig:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text(encoding="utf-8"))
    data.pop("budget", None)
    data.pop("traffic", None)
    if traffic is not None:
        data["traffic"] = traffic
    if budget is not None:
        data["budget"] = budget
    return parse_config(yaml.safe_dump(data, sort_keys=False), source="dev.yaml", expected_env="dev")


def test_estimate_over_the_budget_stops_synth_naming_estimate_limit_and_cheaper_options() -> None:
    # GIVEN dev's always-on ml.m5.large ($83.95 a month) and a $50 budget
    config = _dev({"monthly_limit_usd": 50})
    # WHEN synth checks the real-time block
    with pytest.raises(ConfigError) as raised:
        check_deployed_cost(config, "realtime", model=MINILM, source=SOURCE, catalog=FakeCatalog())
    # THEN one problem at budget.monthly_limit_usd names the estimate, the limit and a cheaper option
    (problem,) = raised.value.problems
    assert raised.value.source == SOURCE
    assert problem.path == "budget.monthly_limit_usd"
    assert problem.value == 50
    assert f"estimated at ${ALWAYS_ON_M5_LARGE:,.2f}/month" in problem.message
    assert "cheaper options: serverless 2048 MB $0.49" in problem.message
    assert "budget.acknowledge_over_budget" in problem.message


def test_acknowledged_overrun_is_reported_and_not_refused() -> None:
    config = _dev({"monthly_limit_usd": 50, "acknowledge_over_budget": "latency target rules out serverless"})

    check = check_deployed_cost(config, "realtime", model=MINILM, source=SOURCE, catalog=FakeCatalog())

    assert check.estimate is not None
    assert check.estimate.over_budget
    assert check.describe().startswith("cost estimate: dev realtime (real-time ml.m5.large x1): about $83.95")


def test_estimate_exactly_at_the_budget_passes() -> None:
    # the budget is a limit: spending exactly it is not over it
    config = _dev({"monthly_limit_usd": round(ALWAYS_ON_M5_LARGE, 10)})

    check = check_deployed_cost(config, "realtime", model=MINILM, source=SOURCE, catalog=FakeCatalog())

    assert check.estimate is not None
    assert not check.estimate.over_budget


def test_without_a_budget_the_estimate_is_only_reported() -> None:
    check = check_deployed_cost(_dev(None), "batch", model=MINILM, source=SOURCE, catalog=FakeCatalog())

    assert check.estimate is not None
    assert check.estimate.budget_usd is None
    assert check.skipped is None


@pytest.mark.parametrize(
    ("config", "model", "catalog", "reason"),
    [
        (
            _dev({"monthly_limit_usd": 1}, traffic=None),
            MINILM,
            FakeCatalog(),
            "dev.yaml has no traffic: block",
        ),
        (_dev({"monthly_limit_usd": 1}), None, FakeCatalog(), "the model's size is unknown"),
        (
            _dev({"monthly_limit_usd": 1}),
            MINILM,
            FakeCatalog(regions=("eu-west-1",)),
            "no price for ml.m5.large in us-east-1; run `python -m cost_advisor refresh-prices`",
        ),
    ],
    ids=["no-traffic-block", "artifact-in-s3", "no-price-in-region"],
)
def test_what_cannot_be_estimated_is_said_and_never_stops_synth(
    config: EnvironmentConfig, model: ModelSize | None, catalog: FakeCatalog, reason: str
) -> None:
    # GIVEN a $1 budget that any estimate would exceed, WHEN there is no estimate
    check = check_deployed_cost(config, "realtime", model=model, source=SOURCE, catalog=catalog)
    # THEN synth goes on and says why there is no estimate
    assert check.estimate is None
    assert reason in check.describe()
