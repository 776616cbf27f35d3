"""Eligibility exactly at each service limit: at the limit is allowed, just over is refused."""

from __future__ import annotations

from typing import Any

import pytest

from cost_advisor import AdvisorError, ModelSize, evaluate_options
from cost_advisor.model_size import MIB, ProcessingTime
from cost_advisor.options import common_reasons, serverless_options, time_reasons
from endpoint_configs.cost import TrafficProfile
from tests.cost_advisor.fakes import REGION, FakeCatalog

SMALL = ModelSize.from_parameters(22_700_000, "fp32")


def _profile(**changes: Any) -> TrafficProfile:
    values: dict[str, Any] = {"requests_per_day": 1000, "peak_requests_per_second": 1, "payload_kb": 1}
    return TrafficProfile(**{**values, **changes})


@pytest.mark.parametrize(
    ("kind", "limit_kb"),
    [("realtime", 6_000), ("serverless", 4_000), ("async", 1_024_000), ("batch", 100_000)],
)
def test_payload_at_the_limit_is_eligible_and_just_over_is_refused(kind: str, limit_kb: float) -> None:
    assert common_reasons(kind, _profile(payload_kb=limit_kb)) == []

    reasons = common_reasons(kind, _profile(payload_kb=limit_kb + 0.001))

    assert len(reasons) == 1
    assert f"over the {limit_kb / 1000:g} MB limit" in reasons[0]


@pytest.mark.parametrize(
    ("kind", "limit_s"), [("realtime", 60), ("serverless", 60), ("async", 3600), ("batch", 3600)]
)
def test_processing_time_at_the_limit_is_eligible_and_just_over_is_refused(kind: str, limit_s: int) -> None:
    at = ProcessingTime(limit_s * 1000, estimated=False, basis="given")
    over = ProcessingTime(limit_s * 1000 + 0.001, estimated=False, basis="given")

    assert time_reasons(kind, at, _profile()) == []
    assert f"over the {limit_s} s limit" in time_reasons(kind, over, _profile())[0]


def _needing(megabytes: int) -> ModelSize:
    return ModelSize(
        parameters=1, dtype="fp32", weights_bytes=1, runtime="torch", source="test",
        serving_memory_bytes=megabytes * MIB,
    )  # fmt: skip


def test_serverless_takes_a_model_of_exactly_6144_mb_and_refuses_one_mb_more() -> None:
    fits = serverless_options(
        _profile(processing_ms=100), _needing(6144), region=REGION, catalog=FakeCatalog()
    )
    assert [o.memory_size_mb for o in fits] == [6144, 6144]
    assert all(o.eligible for o in fits)

    refused = serverless_options(
        _profile(processing_ms=100), _needing(6145), region=REGION, catalog=FakeCatalog()
    )

    assert len(refused) == 1
    assert not refused[0].eligible
    assert "needs about 6145 MB" in refused[0].reasons[0]


def test_serverless_offers_only_the_memory_sizes_that_hold_the_model() -> None:
    options = serverless_options(
        _profile(processing_ms=100), _needing(2048), region=REGION, catalog=FakeCatalog()
    )

    assert sorted({o.memory_size_mb or 0 for o in options}) == [2048, 3072, 4096, 5120, 6144]


@pytest.mark.parametrize(("kind", "least_ms"), [("async", 300_000), ("batch", 300_000)])
def test_queue_based_options_meet_a_latency_target_only_down_to_their_start_up_time(
    kind: str, least_ms: int
) -> None:
    assert common_reasons(kind, _profile(latency_target_ms=least_ms)) == []

    reasons = common_reasons(kind, _profile(latency_target_ms=least_ms - 1))

    assert len(reasons) == 1
    assert f"below {least_ms / 1000:g} s" in reasons[0]


def test_on_demand_serverless_is_refused_when_a_cold_start_breaks_the_latency_target() -> None:
    # processing 100 ms + a 10 s cold start
    at = serverless_options(
        _profile(processing_ms=100, latency_target_ms=10_100), SMALL, region=REGION, catalog=FakeCatalog()
    )
    over = serverless_options(
        _profile(processing_ms=100, latency_target_ms=10_099), SMALL, region=REGION, catalog=FakeCatalog()
    )

    assert all(o.eligible for o in at)
    on_demand = [o for o in over if o.provisioned_concurrency is None]
    provisioned = [o for o in over if o.provisioned_concurrency is not None]
    assert not any(o.eligible for o in on_demand)
    assert "cold starts" in on_demand[0].reasons[0]
    assert all(o.eligible for o in provisioned)


def test_processing_over_the_latency_target_refuses_real_time_and_serverless() -> None:
    profile = _profile(processing_ms=500, latency_target_ms=499)

    options = evaluate_options(profile, SMALL, region=REGION, catalog=FakeCatalog())

    assert not any(o.eligible for o in options if o.kind in ("realtime", "serverless"))


def test_a_model_larger_than_every_instance_is_not_eligible_anywhere() -> None:
    options = evaluate_options(
        _profile(processing_ms=100), _needing(300 * 1024), region=REGION, catalog=FakeCatalog()
    )

    assert not any(o.eligible for o in options)
    assert "more than every instance type holds" in options[0].reasons[0]


def test_a_payload_over_every_limit_is_bad_input() -> None:
    # GIVEN a request of 1,024,001 KB, over async's 1 GB (and every other option's limit)
    profile = _profile(payload_kb=1_024_001)
    # WHEN the options are priced
    # THEN one message names the payload and every limit
    with pytest.raises(AdvisorError, match=r"payload_kb 1024001: 1024.001 MB is over every option.s limit"):
        evaluate_options(profile, SMALL, region=REGION, catalog=FakeCatalog())


def test_a_region_without_any_price_is_bad_input() -> None:
    # GIVEN a region the catalog has no price for
    # WHEN the options are priced there
    # THEN the message names the region and how to refresh prices
    with pytest.raises(
        AdvisorError, match="region 'xx-nowhere-1': the instance catalog has no SageMaker price"
    ):
        evaluate_options(_profile(processing_ms=100), SMALL, region="xx-nowhere-1", catalog=FakeCatalog())
