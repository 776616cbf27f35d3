"""Synth's GPU check of ``model.serving`` and the load timeouts it derives, on the shipped LLM
environments and variations of them (sizes computed by hand in test_llm_memory.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cost_advisor.llm_check import check_llm_serving, load_timeouts, volume_size_gb
from endpoint_configs import CONFIG_DIR, ConfigError, EnvironmentConfig, parse_config

PROJECT = CONFIG_DIR.parent
SOURCE = "endpoint_configs/llm.yaml"


def _config(
    name: str = "llm", *, serving: dict[str, Any] | None = None, instance: str | None = None
) -> EnvironmentConfig:
    data: dict[str, Any] = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    data["model"]["serving"].update(serving or {})
    if instance is not None:
        block = data["endpoints"][0]
        if "variants" in block:
            block["variants"][0]["instance_type"] = instance
        else:
            block["instance_type"] = instance
    return parse_config(yaml.safe_dump(data, sort_keys=False), source=f"{name}.yaml", expected_env=name)


def _problems(config: EnvironmentConfig) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        check_llm_serving(config, list(config.offered_endpoint_types), project_root=PROJECT, source=SOURCE)
    assert caught.value.source == SOURCE
    return [(p.path, p.message) for p in caught.value.problems]


def test_the_shipped_models_fit_and_the_check_says_how() -> None:
    (eight_b,) = check_llm_serving(_config(), ["realtime"], project_root=PROJECT, source=SOURCE)
    assert eight_b.startswith("realtime ml.g5.2xlarge: tensor-parallel degree 1")
    assert eight_b.endswith("= 18.81 GiB per GPU")
    large = _config("llm-large")
    (awq,) = check_llm_serving(large, ["async"], project_root=PROJECT, source=SOURCE)
    assert awq.startswith("async ml.g5.12xlarge: tensor-parallel degree 4")
    assert awq.endswith("= 12.70 GiB per GPU")


def test_a_model_that_does_not_fit_names_the_cheapest_instance_that_does() -> None:
    # GIVEN Llama-3-70B in bf16 on dev's one-A10G ml.g5.2xlarge
    config = _config(
        serving={"model_config_file": "tests/cost_advisor/llm_configs/meta-llama-3-70b-instruct.json"}
    )
    # WHEN synth checks it, THEN the variant's instance type is the problem, with the way out
    ((path, message),) = _problems(config)
    assert path == "endpoints[0].variants[0].instance_type"
    assert message.startswith("the model does not fit:")
    assert "against 21.60 GiB usable per GPU" in message
    assert "the cheapest that does: ml.g6.48xlarge at tensor-parallel degree 8" in message


def test_a_tensor_parallel_degree_above_the_instances_gpus_is_refused() -> None:
    config = _config("llm-large", serving={"tensor_parallel_degree": 8})
    ((path, message),) = _problems(config)
    assert path == "model.serving.tensor_parallel_degree"
    assert (
        message == "tensor-parallel degree above the 4 GPU(s) of ml.g5.12xlarge (endpoints[0].instance_type)"
    )


def test_awq_needs_weights_quantized_so() -> None:
    # GIVEN TGI told to serve Llama-3-8B as awq, whose config.json has no quantization_config
    ((path, message),) = _problems(_config(serving={"quantize": "awq"}))
    assert path == "model.serving.quantize"
    assert "awq needs pre-quantized weights: config.json has no quantization_config" in message


def test_a_cpu_instance_is_refused_before_sizing_since_no_container_runs_there() -> None:
    with pytest.raises(ConfigError) as caught:
        _config(instance="ml.c5.xlarge")
    ((problem),) = caught.value.problems
    assert problem.path == "model.serving"
    assert "no tgi container for ml.c5.xlarge in us-east-1 (endpoints[0])" in problem.message
    assert "needs NVIDIA GPUs" in problem.message


def test_load_timeouts_follow_the_weights_size() -> None:
    # Llama-3-8B bf16: 16,060,522,496 bytes; 120 s + 100 MB/s to download, 300 s + 200 MB/s to load
    assert load_timeouts(_config(), project_root=PROJECT) == (120 + 161, 300 + 81)
    # the 70B AWQ checkpoint: 39,767,785,472 bytes
    assert load_timeouts(_config("llm-large"), project_root=PROJECT) == (120 + 398, 300 + 199)


def test_a_volume_is_sized_only_where_the_instance_has_no_nvme_storage() -> None:
    config = _config()
    # ml.p3.2xlarge is EBS only: 16.06 GB of weights x 1.2, rounded up, + 10 GB
    assert volume_size_gb(config, "ml.p3.2xlarge", project_root=PROJECT) == 20 + 10
    # g5 keeps the model on its NVMe instance storage; SageMaker attaches no volume to size
    assert volume_size_gb(config, "ml.g5.2xlarge", project_root=PROJECT) is None
