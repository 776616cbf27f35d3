"""``model.serving``: the TGI and LMI presets as container settings, and what they refuse."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from endpoint_configs import CONFIG_DIR, ConfigError, EnvironmentConfig, parse_config
from endpoint_configs.serving import LmiServing, TgiServing


def _llm(**serving: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "llm.yaml").read_text(encoding="utf-8"))
    data["model"]["serving"].update(serving)
    return data


def _parse(data: dict[str, Any]) -> EnvironmentConfig:
    return parse_config(yaml.safe_dump(data, sort_keys=False), source="llm.yaml", expected_env="llm")


def _problem(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ConfigError) as caught:
        _parse(data)
    (problem,) = caught.value.problems
    return problem.path, problem.message


def test_tgi_preset_is_the_containers_environment_with_the_weights_in_opt_ml_model() -> None:
    serving = _parse(_llm(quantize="eetq", dtype="bfloat16", max_batch_prefill_tokens=4096)).model.serving
    assert isinstance(serving, TgiServing)
    assert serving.environment(gpus=1) == {
        "HF_MODEL_ID": "/opt/ml/model",
        "SM_NUM_GPUS": "1",
        "MAX_INPUT_TOKENS": "1536",
        "MAX_TOTAL_TOKENS": "2048",
        "MAX_CONCURRENT_REQUESTS": "8",
        "MAX_BATCH_PREFILL_TOKENS": "4096",
        "DTYPE": "bfloat16",
        "HF_MODEL_QUANTIZE": "eetq",
    }


def test_lmi_preset_names_the_backend_and_shards_across_every_gpu_by_default() -> None:
    data: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "llm-large.yaml").read_text(encoding="utf-8"))
    serving = parse_config(
        yaml.safe_dump(data), source="llm-large.yaml", expected_env="llm-large"
    ).model.serving
    assert isinstance(serving, LmiServing)
    assert serving.environment(gpus=4) == {
        "OPTION_ROLLING_BATCH": "vllm",
        "TENSOR_PARALLEL_DEGREE": "4",
        "OPTION_MAX_MODEL_LEN": "4096",
        "OPTION_MAX_ROLLING_BATCH_SIZE": "4",
        "OPTION_QUANTIZE": "awq",
    }
    assert (
        serving.model_copy(update={"tensor_parallel_degree": None}).environment(gpus=4)[
            "TENSOR_PARALLEL_DEGREE"
        ]
        == "max"
    )


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"max_input_tokens": 2048},
            "model.serving.tgi",
            "max_input_tokens 2048 must be below max_total_tokens 2048",
        ),
        ({"quantize": "int4"}, "model.serving.tgi.quantize", "Input should be 'bitsandbytes'"),
        ({"num_gpus": 9}, "model.serving.tgi.num_gpus", "less than or equal to 8"),
        (
            {"model_id": "meta-llama/Meta-Llama-3-8B-Instruct"},
            "model.serving.tgi",
            "model_id: weights from the Hugging Face Hub would download at every instance start",
        ),
    ],
    ids=["input-not-below-total", "unknown-quantization", "more-gpus-than-any-instance", "hub-model-id"],
)
def test_a_bad_preset_field_is_one_problem_at_its_path(
    change: dict[str, Any], path: str, message: str
) -> None:
    # GIVEN llm.yaml with one bad serving field, WHEN parsed, THEN one problem names it
    where, text = _problem(_llm(**change))
    assert where == path
    assert message in text


def test_weights_must_be_an_uncompressed_prefix() -> None:
    data = _llm()
    data["model"]["artifact"] = {"s3_uri": "s3://llm-chat-models-example/model.tar.gz"}
    where, text = _problem(data)
    assert where == "model"
    assert "serving.type tgi reads uncompressed weights: give artifact.s3_prefix" in text


def test_the_preset_picks_the_container_unless_a_uri_overrides_it() -> None:
    data = _llm()
    data["model"]["image"] = {"framework": "pytorch", "framework_version": "2.6", "py_version": "py312"}
    assert "serving.type tgi picks its container" in _problem(data)[1]
    data["model"]["image"] = {"uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-tgi:1"}
    assert _parse(data).model.image is not None
