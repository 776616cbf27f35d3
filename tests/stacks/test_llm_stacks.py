"""The shipped large-language-model environments: llm (Llama-3-8B, TGI, real-time on
ml.g5.2xlarge) and llm-large (Llama-3-70B AWQ, LMI with vLLM, async on ml.g5.12xlarge)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SynthesizedEnvironment, synthesize

TGI = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
    "2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04"
)
LMI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.38.0-lmi29.0.0-cu130"


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("llm", tmp_path_factory.mktemp("llm"), "realtime")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("llm-large", tmp_path_factory.mktemp("llm-large"), "async")


def _only(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    found = env.template(env.endpoint_type).find_resources(type_name)
    assert len(found) == 1, found
    properties: dict[str, Any] = next(iter(found.values()))["Properties"]
    return properties


def test_tgi_serves_the_uncompressed_weights_from_opt_ml_model_on_the_instances_gpu(
    llm: SynthesizedEnvironment,
) -> None:
    model = _only(llm, "AWS::SageMaker::Model")
    container = model["PrimaryContainer"]
    assert container["Image"] == TGI
    assert container["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": "s3://llm-chat-models-example/meta-llama-3-8b-instruct/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }
    assert container["Environment"] == {
        "HF_MODEL_ID": "/opt/ml/model",
        "SM_NUM_GPUS": "1",
        "MAX_INPUT_TOKENS": "1536",
        "MAX_TOTAL_TOKENS": "2048",
        "MAX_CONCURRENT_REQUESTS": "8",
    }
    assert model["EnableNetworkIsolation"] is True


def test_the_variant_waits_for_the_weights_and_stores_them_without_a_key_on_nvme(
    llm: SynthesizedEnvironment,
) -> None:
    config = _only(llm, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    # 16.06 GB of bf16 weights: 120 s + 161 s at 100 MB/s, 300 s + 81 s at 200 MB/s
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 281
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 381
    assert variant["InstanceType"] == "ml.g5.2xlarge"
    # g5 keeps the model on its NVMe instance storage: no volume to size, and no key (SageMaker refuses one)
    assert "VolumeSizeInGB" not in variant
    assert "KmsKeyId" not in config


def test_lmi_shards_the_awq_model_over_four_gpus_and_scales_to_zero(large: SynthesizedEnvironment) -> None:
    container = _only(large, "AWS::SageMaker::Model")["PrimaryContainer"]
    assert container["Image"] == LMI
    assert container["Environment"] == {
        "OPTION_ROLLING_BATCH": "vllm",
        "TENSOR_PARALLEL_DEGREE": "4",
        "OPTION_MAX_MODEL_LEN": "4096",
        "OPTION_MAX_ROLLING_BATCH_SIZE": "4",
        "OPTION_QUANTIZE": "awq",
    }
    (variant,) = _only(large, "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
    # 39.77 GB of AWQ weights
    assert (
        variant["ModelDataDownloadTimeoutInSeconds"],
        variant["ContainerStartupHealthCheckTimeoutInSeconds"],
    ) == (
        518,
        499,
    )
    target = _only(large, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
