"""Reference workloads, each with its expected monthly cost computed by hand from the fake
catalog's prices (730 hours a month; 730 / 24 = 30.4167 days)."""

from __future__ import annotations

import pytest

from cost_advisor import ModelSize, advise
from cost_advisor.model_size import GIB, MIB
from cost_advisor.options import realtime_on
from endpoint_configs.cost import TrafficProfile
from tests.cost_advisor.fakes import INSTANCES, REGION, FakeCatalog, ServerlessPrices

DAYS = 730 / 24
MINILM = ModelSize.from_parameters(22_700_000, "fp32")
"""all-MiniLM-L6-v2 in fp32: 90.8 MB of weights x 1.2 + 1 GiB of torch runtime = about 1,128 MiB."""


def _instance(name: str) -> object:
    return next(i for i in INSTANCES if i.name == name)


def test_minilm_needs_2048_mb_serverless_the_smallest_size_above_its_1128_mib() -> None:
    assert MINILM.serving_memory_bytes == int(90_800_000 * 1.2) + GIB
    assert 1024 < MINILM.serving_memory_mb <= 2048


def test_2000_requests_a_day_at_200_ms_cost_cents_on_serverless_2gb_against_an_always_on_c5_xlarge() -> None:
    profile = TrafficProfile(
        requests_per_day=2000, peak_requests_per_second=1, payload_kb=2, response_kb=4, processing_ms=200
    )
    catalog = FakeCatalog()
    prices = ServerlessPrices()

    advice = advise(profile, MINILM, region=REGION, catalog=catalog)

    requests = 2000 * DAYS  # 60,833 a month
    compute = requests * 0.2 * 2 * prices.compute_usd_per_gb_second  # 0.4867
    data = requests * 6000 / GIB * prices.data_usd_per_gb  # 0.0054
    chosen = advice.recommendation
    assert chosen is not None
    assert chosen.label == "serverless 2048 MB"
    assert chosen.monthly_usd == pytest.approx(compute + data)
    assert chosen.monthly_usd == pytest.approx(0.4921, abs=1e-4)
    # the always-on ml.c5.xlarge: 1 instance (1 request/s is 20 % of its 5/s), 730 hours
    c5 = realtime_on(_instance("ml.c5.xlarge"), profile, MINILM, region=REGION, catalog=catalog)  # type: ignore[arg-type]
    assert c5.instance_count == 1
    assert c5.monthly_usd == pytest.approx(730 * 0.204)  # 148.92
    # 1 provisioned concurrency around the clock: 730 h x 3600 s x 2 GB held, plus its inference rate
    provisioned = next(o for o in advice.options if o.label == "serverless 2048 MB, 1 provisioned")
    held = 730 * 3600 * 2 * 0.000004646  # the fake catalog's rates
    inference = requests * 0.2 * 2 * 0.000013
    assert provisioned.monthly_usd == pytest.approx(held + inference + data)  # 24.73


def test_7b_fp16_model_fits_no_serverless_size_and_is_served_by_a_24_gb_gpu_g5_xlarge() -> None:
    model = ModelSize.from_parameters(7_000_000_000, "fp16")
    profile = TrafficProfile(
        requests_per_day=20_000, peak_requests_per_second=2, payload_kb=4, latency_target_ms=2000
    )

    advice = advise(profile, model, region=REGION, catalog=FakeCatalog())

    # 14 GB of weights x 1.2 = 15.6 GiB: over a 16 GiB T4 less 1 GiB for CUDA, under a 24 GiB A10G
    assert model.accelerator_memory_bytes == 16_800_000_000
    assert not model.fits(_instance("ml.g4dn.xlarge"))  # type: ignore[arg-type]
    assert model.fits(_instance("ml.g5.xlarge"))  # type: ignore[arg-type]
    serverless = [o for o in advice.options if o.kind == "serverless"]
    assert len(serverless) == 1
    assert not serverless[0].eligible
    assert "serverless offers at most 6144 MB and no GPU" in serverless[0].reasons[0]
    # 2 x 7e9 x 128 tokens = 1.79e12 FLOPs at 14 TFLOP/s (A10G) = 128 ms, an estimate; on the
    # 8-vCPU ml.m5.2xlarge at 80 GFLOP/s it is 22.4 s, over the 2 s latency target
    chosen = advice.recommendation
    assert chosen is not None
    assert chosen.instance_type == "ml.g5.xlarge"
    assert chosen.processing is not None
    assert chosen.processing.estimated
    assert chosen.processing.ms == pytest.approx(2 * 7e9 * 128 / 14e12 * 1000)
    # 2 requests/s against 7.8/s x 70 % per instance: 1 instance around the clock
    assert chosen.instance_count == 1
    assert chosen.monthly_usd == pytest.approx(730 * 1.408)  # 1,027.84
    by_kind = {o.kind: o for o in advice.options}
    assert any("queue-based" in r for r in by_kind["async"].reasons)
    assert any("offline job" in r for r in by_kind["batch"].reasons)


def test_nightly_10_gb_of_text_is_cheaper_as_a_batch_job_than_on_a_scale_to_zero_async_endpoint() -> None:
    # 10 GB a night in 10 KB documents: 1,000,000 requests of 20 ms arriving within one hour
    profile = TrafficProfile(
        requests_per_day=1_000_000,
        peak_requests_per_second=1_000_000 / 3600,
        active_hours_per_day=1,
        payload_kb=10,
        processing_ms=20,
    )

    advice = advise(profile, MINILM, region=REGION, catalog=FakeCatalog())

    work_seconds = 1_000_000 * 0.020  # 20,000 s on one instance
    batch = next(o for o in advice.options if o.kind == "batch")
    asynchronous = next(o for o in advice.options if o.kind == "async")
    # batch: the work plus 300 s to start the job, per second, on the cheapest transform instance
    assert batch.instance_type == "ml.m5.large"
    assert batch.monthly_usd == pytest.approx((work_seconds + 300) / 3600 * DAYS * 0.115)  # 19.72
    # async: the work (5.56 h > the 1 h window) plus 20 min to start and to scale in
    assert asynchronous.instance_type == "ml.m5.large"
    assert asynchronous.monthly_usd == pytest.approx((work_seconds + 1200) / 3600 * DAYS * 0.115)  # 20.60
    chosen = advice.recommendation
    assert chosen is not None
    assert chosen.kind == "batch"
    # serverless for the hour: 277.8 requests/s x 20 ms = 6 concurrent, 1e6 x 0.02 s x 2 GB a day
    serverless = next(o for o in advice.options if o.label == "serverless 2048 MB")
    compute = 1_000_000 * DAYS * 0.02 * 2 * 0.00002
    data = 1_000_000 * DAYS * 14_000 / GIB * 0.016
    assert serverless.monthly_usd == pytest.approx(compute + data)  # 24.34 + 6.35
    assert (serverless.monthly_usd or 0.0) > (batch.monthly_usd or 0.0)


def test_real_time_fleet_follows_the_peak_in_active_hours_and_keeps_one_instance_off_hours() -> None:
    profile = TrafficProfile(
        requests_per_day=100_000,
        peak_requests_per_second=20,
        active_hours_per_day=10,
        active_days_per_week=5,
        payload_kb=1,
        processing_ms=100,
    )
    catalog = FakeCatalog()

    option = realtime_on(_instance("ml.c5.xlarge"), profile, MINILM, region=REGION, catalog=catalog)  # type: ignore[arg-type]

    # 20 requests/s over 10/s x 0.7 = 2.86: 3 instances for 10 h on 5 of 7 days, 1 the rest
    active_hours = 730 * 5 / 7 * 10 / 24
    assert option.instance_count == 3
    assert option.monthly_usd == pytest.approx((3 * active_hours + (730 - active_hours)) * 0.204)
    assert any("1 instance off-hours" in note for note in option.notes)


def test_estimated_processing_time_on_cpu_uses_ten_gflops_per_vcpu_and_says_estimate() -> None:
    time = MINILM.processing_time(given_ms=None, tokens=128, instance=_instance("ml.c5.xlarge"))  # type: ignore[arg-type]

    assert time.ms == pytest.approx(2 * 22_700_000 * 128 / 40e9 * 1000)  # 145 ms
    assert time.describe().endswith("(estimate)")


def test_serving_memory_from_parameters_adds_torch_runtime_to_weights_times_1_2() -> None:
    model = ModelSize.from_parameters(1_000_000_000, "int8")

    assert model.weights_bytes == 1_000_000_000
    assert model.serving_memory_bytes == 1_200_000_000 + 1024 * MIB
