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

MANIFEST_VERSION = 1
RUNTIME_OVERHEAD_BYTES = 1024**3
"""Python, the framework and the model server inside the container (measured about 0.6-1 GB)."""
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

    @property
    def estimated_serving_memory_bytes(self) -> int:
        return int(self.weights_bytes * WEIGHT_MEMORY_FACTOR) + RUNTIME_OVERHEAD_BYTES


@dataclass(frozen=True)
class Manifest:
    """Everything known about one built artifact; written next to it as JSON."""

    artifact: str
    format: str
    sha256: str
    size: int
    files: list[FileEntry]
    model: ModelFacts

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
            ),
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
