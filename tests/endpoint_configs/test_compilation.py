"""``model.compilation`` (SageMaker Neo): one failing input per rule, each asserting the one message.

Every case starts from the shipped ``neo.yaml`` (PyTorch 2.0 traced from a build block, compiled
for ml_c5, served on ml.c5 real-time and async endpoints), changes one thing, and checks the path,
the value and what is allowed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from endpoint_configs import CONFIG_DIR, ConfigError, parse_config
from endpoint_configs.images import image_uri
from tests.endpoint_configs.test_validation import DELETE, _set

BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "neo.yaml").read_text())
C = "model.compilation"
SERVERLESS_BLOCK = {
    "type": "serverless",
    "memory_size_mb": 2048,
    "max_concurrency": 5,
    "network_isolation": False,
}


def parse(**changes: Any) -> Any:
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        _set(data, path.replace("__", "."), value)
    return parse_config(
        yaml.safe_dump(data, sort_keys=False), source="endpoint_configs/neo.yaml", expected_env="neo"
    )


def only_problem(error: ConfigError) -> str:
    assert len(error.problems) == 1, str(error)
    return error.problems[0].render()


def test_the_worked_example_compiles_for_ml_c5_and_serves_with_neos_pytorch_image() -> None:
    config = parse()
    compilation = config.model.compilation
    assert compilation is not None
    assert compilation.data_input_config() == '{"input_ids":[1,128],"attention_mask":[1,128]}'
    assert compilation.compiler_options_text() == '{"dtype":"int64"}'
    assert image_uri(config.model, region="us-east-1", instance_type="ml.c5.large") == (
        "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:2.0-cpu-py3"
    )


def test_input_shapes_may_be_given_as_json_text() -> None:
    config = parse(model__compilation__input_shapes='{"input_ids": [2, 64], "attention_mask": [2, 64]}')
    assert config.model.compilation is not None
    assert config.model.compilation.input_shapes == {"input_ids": [2, 64], "attention_mask": [2, 64]}


def test_an_instance_family_with_local_storage_runs_what_its_base_family_compiles() -> None:
    config = parse(**{"endpoints[0].variants[0].instance_type": "ml.c5d.xlarge"})
    assert config.model.compilation is not None


def test_a_target_platform_of_linux_x86_64_runs_on_cpu_instances() -> None:
    config = parse(
        model__compilation__target_device=DELETE,
        model__compilation__target_platform={"os": "LINUX", "arch": "X86_64"},
    )
    assert config.model.compilation is not None
    assert config.model.compilation.target_label() == "LINUX/X86_64"


CASES = [
    pytest.param(
        {f"{C}.framework": "CAFFE"},
        f"{C}.framework = 'CAFFE'",
        "unknown framework; allowed: TENSORFLOW, KERAS",
        id="framework",
    ),
    pytest.param(
        {f"{C}.target_device": "ml_r5"},
        f"{C}.target_device = 'ml_r5'",
        "unknown Neo target device; allowed: lambda, ml_m4",
        id="device",
    ),
    pytest.param(
        {f"{C}.target_device": DELETE, f"{C}.target_platform": {"os": "WINDOWS", "arch": "X86_64"}},
        f"{C}.target_platform.os = 'WINDOWS'",
        "unknown operating system; allowed: ANDROID, LINUX",
        id="platform-os",
    ),
    pytest.param(
        {f"{C}.target_device": DELETE, f"{C}.target_platform": {"os": "LINUX", "arch": "RISCV"}},
        f"{C}.target_platform.arch = 'RISCV'",
        "unknown architecture; allowed: X86_64, X86, ARM64",
        id="platform-arch",
    ),
    pytest.param(
        {f"{C}.target_platform": {"os": "LINUX", "arch": "X86_64"}},
        C,
        "give exactly one of target_device (e.g. ml_c5) or target_platform",
        id="device-and-platform",
    ),
    pytest.param(
        {
            f"{C}.target_device": DELETE,
            f"{C}.target_platform": {"os": "LINUX", "arch": "X86_64", "accelerator": "NVIDIA"},
        },
        C,
        "an NVIDIA target platform needs compiler_options gpu-code, trt-ver, cuda-ver",
        id="nvidia-options",
    ),
    pytest.param(
        {f"{C}.input_shapes": "{input_ids: [1, 128]"},
        f"{C}.input_shapes",
        "is not JSON",
        id="shapes-not-json",
    ),
    pytest.param(
        {f"{C}.input_shapes": "[[1, 128]]"}, f"{C}.input_shapes", "valid dictionary", id="shapes-a-list"
    ),
    pytest.param(
        {f"{C}.input_shapes": {"input_ids": [1, 0]}},
        f"{C}.input_shapes",
        "positive integers, got [1, 0]",
        id="shape-zero",
    ),
    pytest.param(
        {f"{C}.input_shapes": {"input ids": [1, 8]}},
        f"{C}.input_shapes",
        "must be an identifier",
        id="shape-name",
    ),
    pytest.param(
        {f"{C}.framework_version": "2"}, f"{C}.framework_version = '2'", "should match pattern", id="version"
    ),
    pytest.param(
        {f"{C}.framework_version": DELETE}, C, "framework PYTORCH needs framework_version", id="no-version"
    ),
    pytest.param(
        {f"{C}.max_runtime_seconds": 7200},
        f"{C}.max_runtime_seconds = 7200",
        "less than or equal to 6600",
        id="runtime",
    ),
    pytest.param(
        {f"{C}.compiler_options": {"dtype": "int32"}},
        f"{C}.compiler_options",
        "dtype 'int32' is not one Neo takes; allowed: float, float32, int64, long",
        id="dtype",
    ),
    pytest.param(
        {"endpoints[0].variants[0].instance_type": "ml.g5.xlarge"},
        "endpoints[0].variants[0].instance_type = 'ml.g5.xlarge'",
        "is compiled for ml_c5 (ml.c5.* instances) and cannot run on ml.g5.xlarge",
        id="family-mismatch",
    ),
    pytest.param(
        {"endpoints[1].instance_type": "ml.m5.large"},
        "endpoints[1].instance_type = 'ml.m5.large'",
        "compile for ml_m5 if Neo offers it",
        id="async-family-mismatch",
    ),
    pytest.param(
        {f"{C}.target_device": "jetson_nano"},
        f"{C}.target_device = 'jetson_nano'",
        "is not a SageMaker instance target; hosting targets: ml_m4, ml_m5",
        id="edge-device",
    ),
    pytest.param(
        {
            f"{C}.target_device": DELETE,
            f"{C}.target_platform": {"os": "LINUX", "arch": "ARM64"},
            "endpoints[1]": DELETE,
        },
        "endpoints[0].variants[0].instance_type = 'ml.c5.large'",
        "compiled for LINUX/ARM64 (graviton instances) and cannot run on ml.c5.large (x86)",
        id="platform-mismatch",
    ),
    pytest.param(
        {f"{C}.target_device": DELETE, f"{C}.target_platform": {"os": "ANDROID", "arch": "ARM64"}},
        f"{C}.target_platform",
        "ANDROID/ARM64 matches no SageMaker instance",
        id="platform-not-hosting",
    ),
    pytest.param(
        {"endpoints[1]": SERVERLESS_BLOCK},
        "endpoints[1]",
        "serverless endpoints have no instance family to compile for",
        id="serverless",
    ),
    pytest.param(
        {"model.artifact": {"s3_prefix": "s3://models-bucket/minilm/"}},
        "model.artifact.s3_prefix = 's3://models-bucket/minilm/'",
        "Neo reads one .tar.gz",
        id="uncompressed",
    ),
    pytest.param(
        {"model.artifact": {"s3_uri": "s3://models-bucket/minilm/model.zip"}},
        "model.artifact.s3_uri = 's3://models-bucket/minilm/model.zip'",
        "key ends in .tar.gz",
        id="not-tar-gz",
    ),
    pytest.param(
        {f"{C}.framework": "TENSORFLOW"},
        f"{C}.framework = 'TENSORFLOW'",
        "only PYTORCH",
        id="build-not-pytorch",
    ),
    pytest.param(
        {f"{C}.input_shapes": DELETE},
        f"{C}.input_shapes",
        "required with a build block",
        id="build-no-shapes",
    ),
    pytest.param(
        {f"{C}.compiler_options": DELETE},
        f"{C}.compiler_options = None",
        "add dtype: int64",
        id="build-no-dtype",
    ),
    pytest.param(
        {"model.image": {"framework": "pytorch", "framework_version": "2.6"}},
        "model.image",
        "served by Neo's image for the target",
        id="framework-image",
    ),
    pytest.param(
        {f"{C}.framework_version": "1.9"}, C, "no Neo PYTORCH 1.9 serving image for ml_c5", id="no-image"
    ),
    pytest.param(
        {"model.compilation": DELETE},
        "model",
        "give model.image (or model.compilation",
        id="no-image-nor-compilation",
    ),
]


@pytest.mark.parametrize(("changes", "where", "fragment"), CASES)
def test_each_bad_compilation_setting_is_one_clear_problem(
    changes: dict[str, Any], where: str, fragment: str
) -> None:
    # GIVEN neo.yaml with one bad setting, WHEN parsed, THEN one problem names it and what is allowed
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        _set(data, path, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(
            yaml.safe_dump(data, sort_keys=False), source="endpoint_configs/neo.yaml", expected_env="neo"
        )
    rendered = only_problem(caught.value)
    assert rendered.startswith(where), rendered
    assert fragment in rendered, rendered
