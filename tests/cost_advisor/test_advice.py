"""The recommended block pastes into an environment file and validates; the configured block's
estimate (synth's budget guard)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cost_advisor import AdvisorError, ModelSize, advise, estimate_deployed
from cost_advisor.advice import block_for
from cost_advisor.options import Option, async_option, realtime_option
from endpoint_configs import CONFIG_DIR, EnvironmentConfig, parse_config
from endpoint_configs.cost import TrafficProfile
from tests.cost_advisor.fakes import REGION, FakeCatalog, ServerlessPrices

DEV_YAML = CONFIG_DIR / "dev.yaml"
DAYS = 730 / 24
MINILM = ModelSize.from_parameters(22_700_000, "fp32")
NIGHTLY = TrafficProfile(
    requests_per_day=1_000_000, peak_requests_per_second=1_000_000 / 3600, active_hours_per_day=1,
    active_days_per_week=5, payload_kb=10, processing_ms=20,
)  # fmt: skip


def _dev(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEV_YAML.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def _pasted(block_text: str, kind: str) -> EnvironmentConfig:
    """dev.yaml with its ``kind`` block replaced by the pasted block, as default."""
    (block,) = yaml.safe_load(block_text)
    data = _dev(default_endpoint_type=kind)
    data["endpoints"] = [block if e["type"] == kind else e for e in data["endpoints"]]
    return parse_config(yaml.safe_dump(data, sort_keys=False), source="dev.yaml", expected_env="dev")


def _config_of(option: Option, profile: TrafficProfile) -> EnvironmentConfig:
    return _pasted(yaml.safe_dump([block_for(option, profile, MINILM)], sort_keys=False), option.kind)


def test_recommended_serverless_block_parses_when_pasted_into_dev_yaml() -> None:
    profile = TrafficProfile(
        requests_per_day=2000, peak_requests_per_second=1, payload_kb=2, processing_ms=200
    )
    advice = advise(profile, MINILM, region=REGION, catalog=FakeCatalog(), environment="dev")

    text = advice.config_block()

    assert text is not None
    assert text.startswith("# serverless 2048 MB: about $0.49/month")
    assert "endpoint_configs/dev.yaml" in text
    config = _pasted(text, "serverless")
    block = config.workload("serverless")
    assert block.model_dump()["memory_size_mb"] == 2048


def test_recommended_batch_block_with_a_weekday_schedule_parses() -> None:
    advice = advise(NIGHTLY, MINILM, region=REGION, catalog=FakeCatalog(), environment="dev")
    assert advice.recommendation is not None
    assert advice.recommendation.kind == "batch"
    text = advice.config_block()
    assert text is not None

    config = _pasted(text, "batch")

    dumped = config.workload("batch").model_dump()
    assert dumped["instance_type"] == "ml.m5.large"
    assert dumped["schedule"]["cron"] == "0 2 ? * MON-FRI *"


def test_real_time_block_with_scheduled_scaling_and_async_block_parse() -> None:
    catalog = FakeCatalog()
    realtime = realtime_option(NIGHTLY, MINILM, region=REGION, catalog=catalog)
    asynchronous = async_option(NIGHTLY, MINILM, region=REGION, catalog=catalog)

    realtime_config = _config_of(realtime, NIGHTLY)
    async_config = _config_of(asynchronous, NIGHTLY)

    # 277.8 requests/s over 50/s x 0.7 per ml.m5.large: 8 instances 08:00-09:00 on weekdays, 1 after
    scaling = realtime_config.workload("realtime").model_dump()["variants"][0]["autoscaling"]
    assert scaling["max_capacity"] == 8
    assert [(s["cron"], s["min_capacity"]) for s in scaling["schedules"]] == [
        ("0 8 ? * MON-FRI *", 8),
        ("0 9 ? * MON-FRI *", 1),
    ]
    assert async_config.workload("async").model_dump()["autoscaling"]["min_capacity"] == 0


def test_recommended_gpu_block_parses() -> None:
    model = ModelSize.from_parameters(7_000_000_000, "fp16")
    profile = TrafficProfile(
        requests_per_day=20_000, peak_requests_per_second=2, payload_kb=4, latency_target_ms=2000
    )
    advice = advise(profile, model, region=REGION, catalog=FakeCatalog(), environment="dev")
    text = advice.config_block()
    assert text is not None

    config = _pasted(text, "realtime")

    assert config.workload("realtime").instance_types() == ["ml.g5.xlarge"]


def _dev_with_traffic(budget: float | None = None) -> EnvironmentConfig:
    data = _dev(
        traffic={
            "requests_per_day": 2000,
            "peak_requests_per_second": 1,
            "payload_kb": 2,
            "processing_ms": 200,
        }
    )
    if budget is not None:
        data["budget"] = {"monthly_limit_usd": budget}
    return parse_config(yaml.safe_dump(data, sort_keys=False), source="dev.yaml", expected_env="dev")


def test_deployed_real_time_estimate_is_dev_m5_large_around_the_clock_with_cheaper_serverless() -> None:
    config = _dev_with_traffic(budget=50)

    estimate = estimate_deployed(config, "realtime", model=MINILM, catalog=FakeCatalog())

    # autoscaling 1-2 at 40 requests/s x 0.7 per instance: 1 request/s keeps 1 instance
    assert estimate.monthly_usd == pytest.approx(730 * 0.115)  # 83.95
    assert estimate.over_budget
    assert estimate.cheaper[0].label == "serverless 2048 MB"
    line = estimate.describe()
    assert line.startswith("dev realtime (real-time ml.m5.large x1): about $83.95/month")
    assert "(budget $50.00)" in line
    assert "cheaper: serverless 2048 MB $0.49" in line


def test_deployed_serverless_estimate_is_compute_and_data_at_the_configured_memory() -> None:
    config = _dev_with_traffic()
    onnx = ModelSize.from_parameters(22_700_000, "int8", runtime="onnxruntime")
    prices = ServerlessPrices()

    estimate = estimate_deployed(config, "serverless", model=onnx, catalog=FakeCatalog())

    requests = 2000 * DAYS
    expected = requests * 0.2 * 1 * prices.compute_usd_per_gb_second + requests * 6000 / 1024**3 * 0.016
    assert estimate.monthly_usd == pytest.approx(expected)
    assert not estimate.over_budget


def test_deployed_async_estimate_counts_work_and_start_allowance_only() -> None:
    config = _dev_with_traffic()

    estimate = estimate_deployed(config, "async", model=MINILM, catalog=FakeCatalog())

    # 2000 requests over 24 h: one every 43 s, too often to scale in: up all day (capped at 24 h)
    assert estimate.monthly_usd == pytest.approx(24 * DAYS * 0.115)


def test_estimate_of_an_instance_type_missing_from_the_catalog_is_refused() -> None:
    # GIVEN a catalog without dev's ml.m5.large
    catalog = FakeCatalog(instances=tuple(i for i in FakeCatalog().instances if i.name != "ml.m5.large"))
    # WHEN synth estimates the real-time block
    # THEN the message names the field and the unknown type
    with pytest.raises(
        AdvisorError, match=r"endpoints\[0\]\.variants\[0\]\.instance_type = 'ml.m5.large': unknown"
    ):
        estimate_deployed(_dev_with_traffic(), "realtime", model=MINILM, catalog=catalog)


def test_estimate_without_a_traffic_block_is_refused() -> None:
    # GIVEN dev.yaml without its traffic: block
    data = _dev()
    del data["traffic"]
    config = parse_config(yaml.safe_dump(data, sort_keys=False), source="dev.yaml", expected_env="dev")
    # WHEN synth asks for an estimate
    # THEN it says there is nothing to estimate
    with pytest.raises(AdvisorError, match="no traffic: block"):
        estimate_deployed(config, "realtime", model=MINILM, catalog=FakeCatalog())


def test_estimate_in_a_region_without_a_price_is_refused() -> None:
    # GIVEN prices for us-east-1 only and dev moved to eu-west-1
    config = _dev_with_traffic().model_copy(update={"region": "eu-west-1"})
    # WHEN synth estimates
    # THEN the message names the instance type and region
    with pytest.raises(AdvisorError, match=r"no price for ml\.m5\.large in eu-west-1"):
        estimate_deployed(config, "realtime", model=MINILM, catalog=FakeCatalog())


def test_provisioned_concurrency_without_its_price_is_not_priced() -> None:
    # GIVEN serverless prices without the provisioned concurrency rates (the shipped catalog's state)
    catalog = FakeCatalog(
        serverless=ServerlessPrices(
            provisioned_usd_per_gb_second=None, provisioned_inference_usd_per_gb_second=None
        )
    )
    profile = _dev_with_traffic().traffic
    assert profile is not None
    # WHEN every option is priced
    options = [
        o for o in advise(profile, MINILM, region=REGION, catalog=catalog).options if o.kind == "serverless"
    ]
    # THEN on-demand sizes are priced, and one row says why provisioned concurrency is not
    priced = [o for o in options if o.label != "serverless, provisioned"]
    assert [o.memory_size_mb for o in priced] == [2048, 3072, 4096, 5120, 6144]
    assert all(o.eligible and o.provisioned_concurrency is None for o in priced)
    (unpriced,) = [o for o in options if o.label == "serverless, provisioned"]
    assert not unpriced.eligible
    assert unpriced.reasons == ("no provisioned concurrency price in the instance catalog for the region",)
