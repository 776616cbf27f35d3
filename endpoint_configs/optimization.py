"""Shrinking the model before it is packaged, declared in the config: ``model.optimization``.

``onnx-int8`` exports the model to ONNX and quantizes its weights to int8 with ONNX Runtime
(dynamic, per channel): about 4x smaller and 2-3x faster on CPU, served with onnxruntime and
tokenizers instead of torch. ``onnx-fp32`` exports without quantizing (same answers, a smaller
runtime). Either way the build compares the result with the original model on the probe sentences
and fails below the thresholds (the accuracy gate), so a quantized model that answers worse never
reaches an endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from endpoint_configs.common import StrictModel
from endpoint_configs.errors import Problem

if TYPE_CHECKING:
    from endpoint_configs.environment import EnvironmentConfig

OPTIMIZATION_METHODS = ("onnx-int8", "onnx-fp32")
OptimizationMethod = Literal["onnx-int8", "onnx-fp32"]


class AccuracyGate(StrictModel):
    """The least cosine similarity to the original model's embeddings that the build accepts."""

    mean: float = Field(
        default=0.99, gt=0, le=1, description="Mean over the probe sentences, in (0, 1]. Default: 0.99."
    )
    minimum: float = Field(
        default=0.95, gt=0, le=1, description="Worst probe sentence, in (0, 1]. Default: 0.95."
    )


class ModelOptimization(StrictModel):
    """Export and shrink the model at build time, checked against the original on probe inputs."""

    method: OptimizationMethod = Field(
        description="onnx-int8: ONNX with int8 weights (dynamic, per channel); onnx-fp32: ONNX only."
    )
    probe_file: str = Field(
        min_length=1,
        description="Probe sentences, one per line ('#' comments), relative to the project root.",
    )
    thresholds: AccuracyGate = Field(
        default_factory=AccuracyGate, description="The accuracy gate. Default: mean 0.99, minimum 0.95."
    )


def optimization_problems(config: EnvironmentConfig) -> list[Problem]:
    """What cannot be optimized here: an artifact that is not built here, or one Neo compiles."""
    optimization = config.model.optimization
    if optimization is None:
        return []
    if config.model.artifact.build is None:
        return [
            Problem(
                "model.optimization",
                "the optimization runs while building the artifact: it needs model.artifact.build "
                "(an artifact already in S3 is served as it is)",
                has_value=False,
            )
        ]
    if config.model.compilation is not None:
        return [
            Problem(
                "model.optimization",
                "give model.optimization or model.compilation, not both: Neo compiles a traced "
                "PyTorch model, not an ONNX one",
                has_value=False,
            )
        ]
    return []
