"""The artifact manifest: files with sizes and sha256, model facts, memory to serve, artifact hash.

Parameter count and dtypes are read from safetensors headers (a JSON header in front of the
tensors), so no ML framework is needed. Other weight formats report them as unknown.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model_packaging.errors import PackagingError

MANIFEST_VERSION = 2
MODEL_SERVER_ALLOWANCE_BYTES = 512 * 1024**2
"""Memory beside the measured worker in the SageMaker PyTorch inference image: TorchServe's Java
frontend and the toolkit's ``serve`` launcher (a Python process that stays up). The toolkit writes
``/etc/sagemaker-ts.properties`` without ``vmargs``, so the JVM runs with its defaults: heap up to
25 % of the container's memory (256 MiB on a 1 GiB serverless endpoint), plus metaspace, code
cache, thread stacks and GC structures (about 100-150 MiB); the launcher about 50 MiB; the rest is
headroom for the model server's own modules in the worker and the page cache. Conservative on
purpose: running out of memory fails invocations, one size up only costs money."""

TORCH_IN_WORKER_BYTES = 256 * 1024**2
"""``import torch`` (CPU build) in a worker of the SageMaker PyTorch inference image, charged to
variants that do not import torch themselves: the toolkit's handler service imports it in every
worker. ``import torch`` 2.13 (CPU) alone measured about 220 MiB of resident memory on this
project's machine (``CompressionReport.measured_torch_import_bytes`` repeats the measurement)."""
ONNX_WORKER_BYTES = 64 * 1024**2
"""Python, tokenizers and onnxruntime in a worker, without the model (measured: 26 MiB after imports)."""
RUNTIME_OVERHEAD_BYTES = {
    "torch": 1024**3,
    "onnxruntime": MODEL_SERVER_ALLOWANCE_BYTES + TORCH_IN_WORKER_BYTES + ONNX_WORKER_BYTES,
}
"""Memory to serve besides the weights, by the runtime that serves them, on the SageMaker PyTorch
image. torch: Python, torch, transformers and the model server (measured about 0.6-1 GB).
onnxruntime: the model server, torch in the worker (imported by the toolkit) and the ONNX worker."""
WEIGHT_MEMORY_FACTOR = 1.2
"""Weights load once into memory; 20 % more covers activations and allocator slack at small batches."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelFacts:
    """What the weights say about the model, where readable."""

    parameter_count: int | None = None
    dtypes: dict[str, int] = field(default_factory=dict)
    weights_bytes: int = 0
    runtime: str = "torch"
    """What serves the weights: ``torch`` (also for unknown formats) or ``onnxruntime``."""

    @property
    def estimated_serving_memory_bytes(self) -> int:
        overhead = RUNTIME_OVERHEAD_BYTES.get(self.runtime, RUNTIME_OVERHEAD_BYTES["torch"])
        return int(self.weights_bytes * WEIGHT_MEMORY_FACTOR) + overhead


@dataclass(frozen=True)
class Manifest:
    """Everything known about one built artifact; written next to it as JSON."""

    artifact: str
    format: str
    sha256: str
    size: int
    files: list[FileEntry]
    model: ModelFacts
    dependencies: dict[str, Any] | None = None
    """Vendored wheels (``model_packaging.wheels``): interpreters, images, each wheel's sha256."""
    optimization: dict[str, Any] | None = None
    """How the model was shrunk and what the accuracy gate measured (``model_packaging.optimize``)."""

    @property
    def total_file_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "artifact": self.artifact,
            "format": self.format,
            "sha256": self.sha256,
            "size": self.size,
            "total_file_bytes": self.total_file_bytes,
            "model": {
                **asdict(self.model),
                "estimated_serving_memory_bytes": self.model.estimated_serving_memory_bytes,
            },
            "files": [asdict(f) for f in self.files],
            "dependencies": self.dependencies,
            "optimization": self.optimization,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        model = data["model"]
        return cls(
            artifact=data["artifact"],
            format=data["format"],
            sha256=data["sha256"],
            size=data["size"],
            files=[FileEntry(**f) for f in data["files"]],
            model=ModelFacts(
                parameter_count=model["parameter_count"],
                dtypes=model["dtypes"],
                weights_bytes=model["weights_bytes"],
                runtime=model.get("runtime", "torch"),
            ),
            dependencies=data.get("dependencies"),
            optimization=data.get("optimization"),
        )


def read_model_facts(weight_files: list[Path]) -> ModelFacts:
    """Parameter count and dtypes from every safetensors file; sizes from all weight files."""
    parameters: int | None = 0
    dtypes: Counter[str] = Counter()
    weights_bytes = 0
    for path in weight_files:
        weights_bytes += path.stat().st_size
        if path.suffix != ".safetensors":
            parameters = None
            continue
        for dtype, count in _safetensors_parameters(path).items():
            dtypes[dtype] += count
            if parameters is not None:
                parameters += count
    if not dtypes:
        parameters = None
    return ModelFacts(
        parameter_count=parameters, dtypes=dict(sorted(dtypes.items())), weights_bytes=weights_bytes
    )


def _safetensors_parameters(path: Path) -> dict[str, int]:
    """Parameters per dtype from a safetensors header: 8-byte little-endian length, then JSON.
    https://huggingface.co/docs/safetensors/index#format"""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100 * 1024**2:
                raise ValueError(f"header of {length} bytes")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as error:
        raise PackagingError(f"{path}: not a readable safetensors file ({error})") from None
    counts: Counter[str] = Counter()
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        elements = 1
        for dimension in tensor["shape"]:
            elements *= dimension
        counts[tensor["dtype"]] += elements
    return dict(counts)
