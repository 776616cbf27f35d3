"""SageMaker Neo compilation of the model, declared in the config: ``model.compilation``.

Neo compiles a trained model for the hardware that serves it (``ml_c5``, ``ml_g4dn``, ``ml_inf1``
...). The stacks run the compilation job at deploy time and serve its output with the image AWS
publishes for the target. The checks here catch before deploy what would fail or waste money
later: a target the workload's instances are not (compiling for ``ml_c5`` and serving on ml.g5),
a workload with no instance family (serverless), an artifact Neo cannot read (an uncompressed S3
prefix), shapes that are not a JSON object of input name to shape.

The enums (frameworks, target devices, platform OS, architecture and accelerator) are botocore's,
from ``service_tables.json``; the serving image comes from ``image_catalog``.
https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from endpoint_configs import limits
from endpoint_configs.common import StrictModel
from endpoint_configs.errors import Problem
from endpoint_configs.service_catalog import neo_enum

if TYPE_CHECKING:
    from endpoint_configs.environment import EnvironmentConfig

MAX_RUNTIME_SECONDS = (60, 6600)
"""The deployment waits for the job (CDK Provider framework: at most 2 hours in all); 10 minutes of
that are kept for queueing and for adding the inference code to the compiled archive."""
DATA_INPUT_CONFIG_MAX_CHARS = 16384
COMPILER_OPTIONS_CHARS = (3, 1024)
"""``InputConfig.DataInputConfig`` and ``OutputConfig.CompilerOptions`` lengths (botocore)."""
INPUT_DTYPES = ("float", "float32", "int64", "long")
"""``CompilerOptions`` ``dtype`` values Neo takes for PyTorch on ml_* targets."""
NVIDIA_PLATFORM_OPTIONS = ("gpu-code", "trt-ver", "cuda-ver")
"""Compiler options an NVIDIA target platform requires (OutputConfig.CompilerOptions)."""
NOT_HOSTING_TARGETS = ("lambda", "ml_eia2")
"""ml_eia2 is Elastic Inference (an accelerator attached to an instance, retired); lambda is not SageMaker."""
_STORAGE_OR_NETWORK_SUFFIX = re.compile(r"(dn|d|n)$")


def _enum_check(name: str, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        allowed = neo_enum(name)
        if value not in allowed:
            raise ValueError(f"unknown {what}; allowed: {', '.join(allowed)}")
        return value

    return check


def _parse_json_text(value: Any) -> Any:
    """A JSON string becomes what it encodes; anything else is left to the field's type."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"is not JSON: {error.msg} at character {error.pos}") from None
    return value


def _check_shapes(value: dict[str, list[int]]) -> dict[str, list[int]]:
    if not value:
        raise ValueError("give at least one input, e.g. {input_ids: [1, 128], attention_mask: [1, 128]}")
    for name, shape in value.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,127}", name):
            raise ValueError(f"input name {name!r} must be an identifier such as input_ids")
        if not shape or any(dim < 1 for dim in shape):
            raise ValueError(f"shape of {name} must be a non-empty list of positive integers, got {shape}")
    if len(json.dumps(value, separators=(",", ":"))) > DATA_INPUT_CONFIG_MAX_CHARS:
        raise ValueError(f"is longer than {DATA_INPUT_CONFIG_MAX_CHARS} characters as JSON (DataInputConfig)")
    return value


InputShapes = Annotated[
    dict[str, list[Annotated[int, Field(strict=False)]]],
    BeforeValidator(_parse_json_text),
    AfterValidator(_check_shapes),
]
"""A mapping (or a JSON object as text) of input name to shape, in the model's input order."""


class TargetPlatform(StrictModel):
    """A target given as OS, architecture and optional accelerator instead of a device name.

    On SageMaker instances: LINUX with X86_64 (CPU families such as m5, c5), X86_64 with NVIDIA
    (GPU families; needs compiler options gpu-code, trt-ver and cuda-ver) or ARM64 (Graviton).
    """

    os: Annotated[str, AfterValidator(_enum_check("TargetPlatformOs", "operating system"))] = Field(
        description="TargetPlatform.Os: LINUX or ANDROID (only LINUX runs on SageMaker instances)."
    )
    arch: Annotated[str, AfterValidator(_enum_check("TargetPlatformArch", "architecture"))] = Field(
        description="TargetPlatform.Arch: X86_64, X86, ARM64, ARM_EABI or ARM_EABIHF."
    )
    accelerator: (
        Annotated[str, AfterValidator(_enum_check("TargetPlatformAccelerator", "accelerator"))] | None
    ) = Field(default=None, description="TargetPlatform.Accelerator, e.g. NVIDIA. Default: none (CPU).")

    def label(self) -> str:
        """e.g. ``LINUX/X86_64/NVIDIA``."""
        return "/".join(part for part in (self.os, self.arch, self.accelerator) if part)


class ModelCompilation(StrictModel):
    """Compile the model with SageMaker Neo at deploy time and serve the compiled model.

    Give ``target_device`` or ``target_platform``. The compilation job is a custom resource of
    each workload stack; the same inputs reuse the finished job. Every workload of the environment
    must run on the target's instance family; serverless cannot (no instance family).
    """

    framework: Annotated[str, AfterValidator(_enum_check("Framework", "framework"))] = Field(
        description="InputConfig.Framework, e.g. PYTORCH (a build block is traced to TorchScript: "
        "PyTorch only)."
    )
    framework_version: str | None = Field(
        default=None,
        pattern=r"^[0-9]\.[A-Za-z0-9.]+$",
        max_length=10,
        description="InputConfig.FrameworkVersion, e.g. '2.0' (PyTorch on Neo: 1.4-1.8, 1.12, 1.13, 2.0). "
        "Required for PYTORCH, TENSORFLOW and MXNET. Default: none.",
    )
    input_shapes: InputShapes | None = Field(
        default=None,
        description="Input name -> shape in the model's input order, as a mapping or JSON text, "
        "e.g. {input_ids: [1, 128], attention_mask: [1, 128]} (DataInputConfig). Required with a "
        "build block (the trace uses them). Default: none.",
    )
    target_device: Annotated[str, AfterValidator(_enum_check("TargetDevice", "Neo target device"))] | None = (
        Field(default=None, description="OutputConfig.TargetDevice, e.g. ml_c5. Default: none.")
    )
    target_platform: TargetPlatform | None = Field(
        default=None, description="OutputConfig.TargetPlatform instead of a device. Default: none."
    )
    compiler_options: dict[str, Any] | str | None = Field(
        default=None,
        description="OutputConfig.CompilerOptions: a mapping (sent as JSON), or text for ml_inf1 "
        "(neuron-cc flags). PyTorch token-id inputs need {dtype: int64}. Default: none.",
    )
    max_runtime_seconds: int = Field(
        default=900,
        ge=MAX_RUNTIME_SECONDS[0],
        le=MAX_RUNTIME_SECONDS[1],
        description=f"StoppingCondition.MaxRuntimeInSeconds, {MAX_RUNTIME_SECONDS[0]}-"
        f"{MAX_RUNTIME_SECONDS[1]}. Default: 900.",
    )

    @field_validator("compiler_options")
    @classmethod
    def _options_fit(cls, value: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        low, high = COMPILER_OPTIONS_CHARS
        if not low <= len(text) <= high:
            raise ValueError(f"must be {low}-{high} characters as sent to Neo, got {len(text)}")
        if isinstance(value, dict) and "dtype" in value and value["dtype"] not in INPUT_DTYPES:
            raise ValueError(
                f"dtype {value['dtype']!r} is not one Neo takes; allowed: {', '.join(INPUT_DTYPES)}"
            )
        return value

    @model_validator(mode="after")
    def _one_target(self) -> ModelCompilation:
        if (self.target_device is None) == (self.target_platform is None):
            raise ValueError("give exactly one of target_device (e.g. ml_c5) or target_platform")
        if self.framework in ("PYTORCH", "TENSORFLOW", "MXNET") and self.framework_version is None:
            raise ValueError(f"framework {self.framework} needs framework_version (e.g. '2.0' for PyTorch)")
        platform = self.target_platform
        if platform is not None and platform.accelerator == "NVIDIA":
            given = self.compiler_options if isinstance(self.compiler_options, dict) else {}
            missing = [option for option in NVIDIA_PLATFORM_OPTIONS if option not in given]
            if missing:
                raise ValueError(
                    f"an NVIDIA target platform needs compiler_options {', '.join(missing)} "
                    "(e.g. {gpu-code: sm_75, trt-ver: 7.1.3, cuda-ver: '10.2'} for T4 GPUs)"
                )
        return self

    def target_label(self) -> str:
        """The target device, or the platform as ``OS/ARCH[/ACCELERATOR]``."""
        if self.target_device is not None:
            return self.target_device
        assert self.target_platform is not None  # _one_target
        return self.target_platform.label()

    def compiler_options_text(self) -> str | None:
        """``CompilerOptions`` as Neo takes it: JSON for a mapping, the text itself otherwise."""
        if self.compiler_options is None or isinstance(self.compiler_options, str):
            return self.compiler_options
        return json.dumps(self.compiler_options, sort_keys=True, separators=(",", ":"))

    def data_input_config(self) -> str | None:
        """``DataInputConfig``: the shapes as a JSON object, in the configured order."""
        if self.input_shapes is None:
            return None
        return json.dumps(self.input_shapes, separators=(",", ":"))

    def hosting_problem(self) -> Problem | None:
        """Why no SageMaker instance can run the target, or None."""
        if self.target_device is not None:
            device = self.target_device
            if device in NOT_HOSTING_TARGETS or not device.startswith("ml_"):
                return Problem(
                    "model.compilation.target_device",
                    f"is not a SageMaker instance target; hosting targets: {', '.join(hosting_targets())}",
                    device,
                )
            return None
        assert self.target_platform is not None  # _one_target
        platform = self.target_platform
        if platform.os != "LINUX" or (platform.arch, platform.accelerator) not in _PLATFORM_KINDS:
            return Problem(
                "model.compilation.target_platform",
                f"{platform.label()} matches no SageMaker instance; use LINUX/X86_64 (CPU), "
                "LINUX/X86_64/NVIDIA (GPU) or LINUX/ARM64 (Graviton), or a target_device",
                has_value=False,
            )
        return None

    def runs_on(self, instance_type: str) -> str | None:
        """None when ``instance_type`` can run what this compiles, else why not (the target is one
        ``hosting_problem`` accepts)."""
        family = limits.instance_family(instance_type)
        base = _STORAGE_OR_NETWORK_SUFFIX.sub("", family)
        if self.target_device is not None:
            target_family = self.target_device.removeprefix("ml_")
            if family == target_family or base == target_family:
                return None
            return (
                f"is compiled for {self.target_device} (ml.{target_family}.* instances) and cannot run on "
                f"{instance_type}; compile for ml_{base} if Neo offers it ({', '.join(hosting_targets())}) "
                f"or serve on ml.{target_family}.*"
            )
        assert self.target_platform is not None  # _one_target
        return _platform_mismatch(self.target_platform, instance_type, family)


def hosting_targets() -> tuple[str, ...]:
    """Neo target devices that are SageMaker instance families."""
    return tuple(d for d in neo_enum("TargetDevice") if d.startswith("ml_") and d not in NOT_HOSTING_TARGETS)


def _instance_kind(family: str) -> str:
    """``gpu``, ``graviton``, ``accelerator`` (Inferentia, Trainium) or ``x86`` for an instance family."""
    if family.startswith(("inf", "trn")):
        return "accelerator"
    if family[:1] in ("g", "p"):
        return "gpu"
    if re.fullmatch(r"[a-z]+\dg[a-z]*", family):
        return "graviton"
    return "x86"


_PLATFORM_KINDS = {("X86_64", None): "x86", ("X86_64", "NVIDIA"): "gpu", ("ARM64", None): "graviton"}
"""The LINUX target platforms SageMaker instances are, by the kind of instance."""


def _platform_mismatch(platform: TargetPlatform, instance_type: str, family: str) -> str | None:
    label = platform.label()
    wanted = _PLATFORM_KINDS[(platform.arch, platform.accelerator)]
    actual = _instance_kind(family)
    if actual != wanted:
        return f"is compiled for {label} ({wanted} instances) and cannot run on {instance_type} ({actual})"
    return None


def compilation_problems(config: EnvironmentConfig) -> list[Problem]:
    """Problems compiling ``model.compilation`` and serving it on every workload of ``config``."""
    compilation = config.model.compilation
    if compilation is None:
        return []
    problems: list[Problem] = []
    artifact = config.model.artifact
    if artifact.s3_prefix is not None:
        problems.append(
            Problem(
                "model.artifact.s3_prefix",
                "Neo reads one .tar.gz (InputConfig.S3Uri), not an uncompressed prefix: give s3_uri "
                "or a build block with model.compilation",
                artifact.s3_prefix,
            )
        )
    if artifact.s3_uri is not None and not artifact.s3_uri.endswith(".tar.gz"):
        problems.append(
            Problem(
                "model.artifact.s3_uri",
                "Neo reads a gzip compressed tar archive whose key ends in .tar.gz (InputConfig.S3Uri)",
                artifact.s3_uri,
            )
        )
    if artifact.build is not None:
        if compilation.framework != "PYTORCH":
            problems.append(
                Problem(
                    "model.compilation.framework",
                    "a build block is traced to TorchScript here, so only PYTORCH; give artifact.s3_uri "
                    "with a Neo-ready archive for other frameworks",
                    compilation.framework,
                )
            )
        if compilation.input_shapes is None:
            problems.append(
                Problem(
                    "model.compilation.input_shapes",
                    "required with a build block: the model is traced with these shapes",
                    has_value=False,
                )
            )
        options = compilation.compiler_options
        dtype = options.get("dtype") if isinstance(options, dict) else None
        if not (compilation.target_device or "").startswith("ml_inf") and dtype not in ("int64", "long"):
            problems.append(
                Problem(
                    "model.compilation.compiler_options",
                    "the traced model takes token ids (int64) and Neo assumes float32 inputs unless "
                    "told: add dtype: int64",
                    options,
                )
            )
    image = config.model.image
    if image is not None and image.uri is None:
        problems.append(
            Problem(
                "model.image",
                "a compiled model is served by Neo's image for the target (resolved for you): remove "
                "model.image, or give only image.uri to serve with an image of your own",
                has_value=False,
            )
        )
    unhosted = compilation.hosting_problem()
    if unhosted is not None:
        return [*problems, unhosted]
    for block in config.endpoints:
        where = config.workload_path(block.type)
        fields = block.instance_type_fields()
        if not fields:
            problems.append(
                Problem(
                    where,
                    f"{block.type} endpoints have no instance family to compile for, so they cannot "
                    f"serve a model compiled for {compilation.target_label()}; offer {block.type} from "
                    "an environment without model.compilation",
                    has_value=False,
                )
            )
            continue
        for field, instance_type in fields.items():
            reason = compilation.runs_on(instance_type)
            if reason is not None:
                problems.append(Problem(f"{where}.{field}", reason, instance_type))
    return problems
