"""``python -m cost_advisor``, run in-process: JSON, the table, the plot, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cost_advisor.__main__ import main
from endpoint_configs import CONFIG_DIR
from tests.cost_advisor.fakes import FakeCatalog

MINILM = ["--parameters", "22.7e6", "--dtype", "fp32"]
TRAFFIC = ["--requests-per-day", "2000", "--peak-rps", "1", "--payload-kb", "2", "--processing-ms", "200"]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["advise", *args], catalog=FakeCatalog())
    out, err = capsys.readouterr()
    return code, out, err


def test_json_names_the_recommendation_every_option_and_the_block(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*MINILM, *TRAFFIC, "--json"], capsys)

    assert code == 0
    data = json.loads(out)
    assert data["recommendation"]["label"] == "serverless 2048 MB"
    assert data["recommendation"]["monthly_usd"] == 0.49
    assert {o["kind"] for o in data["options"]} == {"realtime", "serverless", "async", "batch"}
    assert "- type: serverless" in data["config_block"]
    assert data["model"]["parameters"] == 22_700_000


def test_table_and_plot_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "cost.png"

    code, out, _ = _run([*MINILM, *TRAFFIC, "--plot", str(png)], capsys)

    assert code == 0
    assert "Recommended: serverless 2048 MB, about $0.49/month" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_env_traffic_block_is_overridden_by_flags_and_the_configured_block_is_estimated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text(encoding="utf-8"))
    data["traffic"] = {
        "requests_per_day": 50,
        "peak_requests_per_second": 1,
        "payload_kb": 2,
        "processing_ms": 200,
    }
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")

    code, out, _ = _run(
        ["--env", "dev", "--config-dir", str(tmp_path), *MINILM, "--requests-per-day", "2000", "--json"],
        capsys,
    )

    assert code == 0
    result = json.loads(out)
    assert result["traffic"]["requests_per_day"] == 2000
    assert result["configured"]["monthly_usd"] == 83.95  # dev's ml.m5.large, 730 h
    assert "endpoint_configs/dev.yaml" in result["config_block"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--requests-per-day", "0"],
            "--requests-per-day (traffic.requests_per_day) = 0.0: Input should be greater than 0",
        ),
        (
            ["--peak-rps", "-1"],
            "--peak-rps (traffic.peak_requests_per_second) = -1.0: Input should be greater than 0",
        ),
    ],
)
def test_zero_or_negative_traffic_is_one_message_per_flag(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN traffic flags of zero or below
    # WHEN advice is asked for
    code, out, err = _run([*MINILM, *TRAFFIC, *flags], capsys)
    # THEN it exits 1 with the flag, the value and the rule, and no traceback
    assert code == 1
    assert out == ""
    assert message in err
    assert "1 problem" in err
    assert "Traceback" not in err


def test_missing_traffic_names_the_flags_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a model and no traffic at all
    # WHEN advice is asked for
    code, _, err = _run(MINILM, capsys)
    # THEN every required figure is named by its flag
    assert code == 1
    assert "3 problems" in err
    assert "--requests-per-day (traffic.requests_per_day): required" in err
    assert "--payload-kb (traffic.payload_kb): required" in err


def test_payload_over_every_limit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a 2 GB request
    # WHEN advice is asked for
    code, _, err = _run([*MINILM, *TRAFFIC, "--payload-kb", "2000000"], capsys)
    # THEN one message says no option takes it
    assert code == 1
    assert err.strip().startswith("payload_kb 2000000: 2000 MB is over every option's limit")


def test_region_without_prices_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a region the catalog has no price for
    # WHEN advice is asked for there
    code, _, err = _run([*MINILM, *TRAFFIC, "--region", "xx-nowhere-1"], capsys)
    # THEN the message names the region
    assert code == 1
    assert "region 'xx-nowhere-1': the instance catalog has no SageMaker price there" in err


def test_manifest_without_weights_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # GIVEN a manifest that records no weights
    manifest = tmp_path / "model.manifest.json"
    manifest.write_text(
        json.dumps({
            "artifact": "model.tar.gz", "format": "tar.gz", "sha256": "0", "size": 1, "files": [],
            "model": {"parameter_count": None, "dtypes": {}, "weights_bytes": 0, "runtime": "torch"},
        }),
        encoding="utf-8",
    )  # fmt: skip
    # WHEN advice is asked for that model
    code, _, err = _run(["--manifest", str(manifest), *TRAFFIC], capsys)
    # THEN it says the size is unknown and what to give instead
    assert code == 1
    assert "records no weights" in err
    assert "--parameters N --dtype D" in err


def test_no_model_at_all_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN traffic but no model
    # WHEN advice is asked for
    code, _, err = _run(TRAFFIC, capsys)
    # THEN it lists the three ways to give one
    assert code == 1
    assert err.strip() == "no model: give --env ENV, --manifest FILE, or --parameters N --dtype D"


def test_budget_below_zero_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a negative budget
    # WHEN advice is asked for
    code, _, err = _run([*MINILM, *TRAFFIC, "--budget", "-5"], capsys)
    # THEN the budget rule is named
    assert code == 1
    assert "--budget (budget.monthly_limit_usd) = -5.0: Input should be greater than 0" in err


def test_no_eligible_option_exits_1_after_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a model larger than every instance
    # WHEN advice is asked for
    code, out, err = _run(["--parameters", "2e12", "--dtype", "fp32", *TRAFFIC], capsys)
    # THEN the table shows why and the command fails
    assert code == 1
    assert "not eligible" in out
    assert "no option meets this workload" in err


LLAMA_3_8B = Path(__file__).parents[2] / "examples" / "llm" / "meta-llama-3-8b-instruct" / "config.json"
LLM_TRAFFIC = [
    "--requests-per-day",
    "5000",
    "--peak-rps",
    "2",
    "--payload-kb",
    "4",
    "--processing-ms",
    "2000",
]


def test_a_generative_model_is_sized_for_gpus_with_its_kv_cache(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN Llama-3-8B in bf16 with 8 sequences of 4096 tokens in its KV cache
    config = LLAMA_3_8B
    # WHEN advised
    code, out, _ = _run(["--model-config", str(config), *LLM_TRAFFIC, "--json"], capsys)
    # THEN only the 24 GiB A10G instances hold it (16 GiB T4 and CPU instances do not): 14.96 GiB of
    # weights + 2 x 2 bytes x 32 layers x 8 KV heads x 128 x 4096 tokens x 8 sequences = 4.00 GiB of
    # KV cache + 1.85 GiB overhead = 20.81 GiB, against 24 GiB x 0.9 = 21.6 GiB
    assert code == 0
    data = json.loads(out)
    realtime = next(o for o in data["options"] if o["kind"] == "realtime")
    assert realtime["label"] == "real-time ml.g5.xlarge"
    # continuous batching: 8 sequences of 2 s each per instance, 4 requests/s x 0.7 > the 2/s peak
    assert realtime["monthly_usd"] == round(730 * 1.408, 2)
    assert "20.81 GiB per GPU" in data["model"]["describe"]
    serverless = next(o for o in data["options"] if o["kind"] == "serverless")
    assert "no GPU" in " ".join(serverless["reasons"])


def test_awq_on_a_model_without_awq_weights_is_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    config = LLAMA_3_8B
    code, out, err = _run(["--model-config", str(config), "--weights", "awq", *LLM_TRAFFIC], capsys)
    assert code == 1
    assert out == ""
    assert "awq needs pre-quantized weights" in err
    assert "Traceback" not in err
