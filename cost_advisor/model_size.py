"""How much memory a model needs to serve, where it fits, and how long a request takes.

The model comes from an artifact manifest (``model_packaging.manifest``) or from a parameter count
and a dtype. Processing time is the profile's measured ``processing_ms`` when given; otherwise an
estimate from the forward pass's FLOPs (about 2 x parameters x tokens for a transformer) divided by
an effective throughput of the instance, labelled ``estimate`` wherever it is shown.

What the advisor reads of an instance type, a price and the serverless prices is written down
here as protocols, so callers and tests can pass their own catalog (``options.Catalog``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cost_advisor.llm_memory import LlmMemory, LlmSizingError
from model_packaging.manifest import RUNTIME_OVERHEAD_BYTES, WEIGHT_MEMORY_FACTOR, Manifest

GIB = 1024**3
MIB = 1024**2

BYTES_PER_DTYPE = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
"""Bytes per parameter of the dtypes ``--dtype`` accepts."""

SAFETENSORS_DTYPE_NAMES = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "I8": "int8", "U8": "int8"}
"""safetensors header dtypes (what manifests record) as ``--dtype`` names."""

HOST_MEMORY_RESERVE_BYTES = 512 * MIB
"""Instance memory not available to the model: the operating system and SageMaker's agents. The
catalog's figure is the whole instance's memory (the EC2 instance type's), so some of it is taken
before the container starts; 0.5 GiB is this package's allowance, not an AWS figure."""

GPU_MEMORY_RESERVE_BYTES = GIB
"""Accelerator memory per GPU not available to the weights: the CUDA context, kernels and the
framework's allocator (about 0.3-1 GiB per GPU in PyTorch); this package's allowance."""

CPU_EFFECTIVE_GFLOPS_PER_VCPU = 10.0
"""Effective dense-math throughput of one vCPU in a transformer forward pass at batch size 1.
A vCPU is one hyperthread of a core; an AVX-512 core (Skylake/Cascade Lake, the c5/m5 families)
peaks at 2 FMA units x 16 fp32 lanes x 2 FLOPs = 64 FLOPs per cycle, about 190 GFLOP/s at 3 GHz,
so about 95 GFLOP/s per vCPU; small-batch inference in PyTorch or ONNX Runtime reaches roughly
10 % of that (memory-bound attention, tokenization, Python). An assumption for ranking options,
not a measurement: give ``processing_ms`` from a load test to replace it.
https://www.intel.com/content/www/us/en/docs/intrinsics-guide/index.html (FMA throughput)"""

GPU_EFFECTIVE_TFLOPS = {
    "T4": 13.0,
    "A10G": 14.0,
    "L4": 24.0,
    "L40S": 72.0,
    "V100": 25.0,
    "A100": 62.0,
    "H100": 198.0,
    "H200": 198.0,
    "B200": 450.0,
}
"""Effective fp16 TFLOP/s of one accelerator in a forward pass: about 20 % of NVIDIA's dense fp16
tensor-core peak (T4 65, A10G 70, L4 121, L40S 362, V100 125, A100 312, H100/H200 989, B200
2250 TFLOP/s; https://www.nvidia.com/en-us/data-center/ product pages, "Tensor Performance"
without sparsity). 20 % is this package's assumption for small batches, where the weights are read
from memory once per token; replace it with a measured ``processing_ms``."""

DEFAULT_GPU_EFFECTIVE_TFLOPS = 10.0
"""For an accelerator model not in ``GPU_EFFECTIVE_TFLOPS`` (labelled so in the estimate)."""

SERVERLESS_MB_PER_VCPU = 1769
"""Serverless endpoints get compute in proportion to memory and run on AWS Lambda's
infrastructure; Lambda documents one vCPU's worth at 1,769 MB. SageMaker does not document its
ratio, so this is an assumption for estimates only.
https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"""


class InstanceSpec(Protocol):
    """What the advisor reads of an instance type (``endpoint_configs.instance_catalog.InstanceType``)."""

    @property
    def name(self) -> str: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def memory_gib(self) -> float: ...
    @property
    def gpus(self) -> int: ...
    @property
    def gpu_memory_gib(self) -> float:
        """All of the instance's accelerator memory together (EC2's TotalGpuMemoryInMiB)."""
        ...

    @property
    def accelerator_model(self) -> str | None: ...
    @property
    def burstable(self) -> bool: ...
    @property
    def has_gpu(self) -> bool: ...


class ModelSizeError(ValueError):
    """The model's size cannot be known from what was given."""


@dataclass(frozen=True)
class ProcessingTime:
    """Model time per request, and whether it was measured (given) or estimated."""

    ms: float
    estimated: bool
    basis: str
    """How it was obtained, e.g. ``given`` or ``2 x 7.0e9 x 128 FLOPs at 14 TFLOP/s (A10G)``."""

    def describe(self) -> str:
        label = " (estimate)" if self.estimated else ""
        return f"{_format_ms(self.ms)}{label}"


def _format_ms(ms: float) -> str:
    return f"{ms / 1000:.3g} s" if ms >= 1000 else f"{ms:.3g} ms"


@dataclass(frozen=True)
class ModelSize:
    """What serving the model takes."""

    parameters: int | None
    dtype: str | None
    """The dominant dtype (``fp32``, ``fp16``, ``bf16``, ``int8``), or None when unknown."""
    weights_bytes: int
    runtime: str
    source: str
    """Where the figures come from: the manifest's path, or the flags."""
    serving_memory_bytes: int
    """Weights x 1.2 plus the runtime's overhead (``model_packaging.manifest``); for a large
    language model, weights plus KV cache plus one GPU's overhead."""
    llm: LlmMemory | None = None
    """A large language model's GPU sizing (``llm_memory``): it fits an instance when some
    tensor-parallel degree fits its GPUs, KV cache included."""

    @classmethod
    def from_llm(cls, memory: LlmMemory, *, source: str) -> ModelSize:
        """A generative model sized by ``llm_memory`` (weights, KV cache, per-GPU overhead)."""
        return cls(
            parameters=memory.architecture.parameter_count(),
            dtype=memory.weight_format,
            weights_bytes=memory.weights_bytes,
            runtime="llm",
            source=source,
            serving_memory_bytes=memory.weights_bytes + memory.kv_cache_bytes + memory.overhead_bytes_per_gpu,
            llm=memory,
        )

    def tensor_parallel(self, instance: InstanceSpec) -> int | None:
        """The least tensor-parallel degree (a power of two up to the instance's GPUs that divides
        the head counts) at which the model fits, or None (not an LLM, no GPU, does not fit)."""
        if self.llm is None or not instance.has_gpu or instance.gpus < 1:
            return None
        tp = 1
        while tp <= instance.gpus:
            try:
                if self.llm.fits(instance, tp):
                    return tp
            except LlmSizingError:
                pass  # a degree that does not divide the heads: try the next
            tp *= 2
        return None

    @classmethod
    def from_parameters(cls, parameters: int, dtype: str, *, runtime: str = "torch") -> ModelSize:
        """``parameters`` weights of ``dtype`` (fp32, fp16, bf16, int8) served by ``runtime``."""
        if parameters <= 0:
            raise ModelSizeError(f"--parameters {parameters}: must be > 0")
        if dtype not in BYTES_PER_DTYPE:
            raise ModelSizeError(f"--dtype {dtype!r}: allowed: {', '.join(BYTES_PER_DTYPE)}")
        weights = parameters * BYTES_PER_DTYPE[dtype]
        overhead = RUNTIME_OVERHEAD_BYTES.get(runtime, RUNTIME_OVERHEAD_BYTES["torch"])
        return cls(
            parameters=parameters,
            dtype=dtype,
            weights_bytes=weights,
            runtime=runtime,
            source=f"{parameters:.3g} parameters, {dtype}",
            serving_memory_bytes=int(weights * WEIGHT_MEMORY_FACTOR) + overhead,
        )

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, source: str) -> ModelSize:
        """The manifest's model facts; ``ModelSizeError`` when it records no weights."""
        facts = manifest.model
        if facts.weights_bytes <= 0:
            raise ModelSizeError(
                f"{source}: the manifest records no weights (weights_bytes 0), so the memory to serve is "
                "unknown; give --parameters N --dtype D instead"
            )
        dtype = None
        if facts.dtypes:
            dominant = max(facts.dtypes.items(), key=lambda item: item[1])[0]
            dtype = SAFETENSORS_DTYPE_NAMES.get(dominant, dominant.lower())
        return cls(
            parameters=facts.parameter_count,
            dtype=dtype,
            weights_bytes=facts.weights_bytes,
            runtime=facts.runtime,
            source=source,
            serving_memory_bytes=facts.estimated_serving_memory_bytes,
        )

    @classmethod
    def from_manifest_file(cls, path: Path) -> ModelSize:
        try:
            manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ModelSizeError(f"{path}: cannot read the manifest ({error.strerror})") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ModelSizeError(f"{path}: not an artifact manifest ({error!r})") from None
        return cls.from_manifest(manifest, source=str(path))

    @property
    def serving_memory_mb(self) -> int:
        """MiB, rounded up (what serverless memory sizes and ``memory_problems`` compare)."""
        return -(-self.serving_memory_bytes // MIB)

    @property
    def accelerator_memory_bytes(self) -> int:
        """On a GPU the weights (x 1.2 for activations) live in accelerator memory."""
        return int(self.weights_bytes * WEIGHT_MEMORY_FACTOR)

    @property
    def runtime_overhead_bytes(self) -> int:
        return self.serving_memory_bytes - self.accelerator_memory_bytes

    def fits(self, instance: InstanceSpec) -> bool:
        """GPU instances: the weights in GPU memory and the runtime in host memory. CPU instances:
        everything in host memory, less ``HOST_MEMORY_RESERVE_BYTES``. A large language model
        needs a GPU instance and a tensor-parallel degree that fits (``tensor_parallel``)."""
        if self.llm is not None:
            return self.tensor_parallel(instance) is not None
        host = instance.memory_gib * GIB - HOST_MEMORY_RESERVE_BYTES
        if instance.has_gpu:
            usable = instance.gpu_memory_gib * GIB - GPU_MEMORY_RESERVE_BYTES * max(1, instance.gpus)
            return self.accelerator_memory_bytes <= usable and self.runtime_overhead_bytes <= host
        return self.serving_memory_bytes <= host

    def gpus_needed(self, instance: InstanceSpec) -> int:
        """Accelerators one copy of the model spans (the weights split evenly across them)."""
        if not instance.has_gpu or instance.gpus <= 0:
            return 0
        if self.llm is not None:
            return self.tensor_parallel(instance) or instance.gpus
        per_gpu = instance.gpu_memory_gib * GIB / instance.gpus - GPU_MEMORY_RESERVE_BYTES
        return max(1, math.ceil(self.accelerator_memory_bytes / per_gpu))

    def copies(self, instance: InstanceSpec) -> int:
        """Requests one instance works on at once: one per model copy that fits its GPUs (a large
        language model: its concurrent sequences per copy); one on CPU (the throughput of every
        vCPU goes to that request)."""
        if not instance.has_gpu:
            return 1
        copies = max(1, instance.gpus // self.gpus_needed(instance))
        if self.llm is not None:
            # continuous batching: each copy decodes every sequence its KV cache was sized for
            return copies * self.llm.concurrent_sequences
        return copies

    def flops_per_request(self, tokens: int) -> float | None:
        """About 2 x parameters x tokens (one multiply and one add per weight per token)."""
        return None if self.parameters is None else 2.0 * self.parameters * tokens

    def processing_time(
        self, *, given_ms: float | None, tokens: int, instance: InstanceSpec
    ) -> ProcessingTime:
        """``given_ms`` when given (a load test on the serving instance), else the FLOPs estimate."""
        if given_ms is not None:
            return ProcessingTime(given_ms, estimated=False, basis="given")
        flops = self._flops_or_fail(tokens)
        if instance.has_gpu:
            per_gpu, known = gpu_effective_tflops(instance.accelerator_model)
            tflops = per_gpu * self.gpus_needed(instance)
            name = instance.accelerator_model or "unknown accelerator"
            basis = f"{flops:.3g} FLOPs at {tflops:g} TFLOP/s ({name}{'' if known else ', assumed'})"
            return ProcessingTime(flops / (tflops * 1e12) * 1000, estimated=True, basis=basis)
        gflops = instance.vcpus * CPU_EFFECTIVE_GFLOPS_PER_VCPU
        basis = f"{flops:.3g} FLOPs at {gflops:g} GFLOP/s ({instance.vcpus} vCPUs)"
        return ProcessingTime(flops / (gflops * 1e9) * 1000, estimated=True, basis=basis)

    def serverless_processing_time(
        self, *, given_ms: float | None, tokens: int, memory_mb: int
    ) -> ProcessingTime:
        """On a serverless endpoint of ``memory_mb``: compute in proportion to memory."""
        if given_ms is not None:
            return ProcessingTime(given_ms, estimated=False, basis="given")
        flops = self._flops_or_fail(tokens)
        gflops = memory_mb / SERVERLESS_MB_PER_VCPU * CPU_EFFECTIVE_GFLOPS_PER_VCPU
        basis = f"{flops:.3g} FLOPs at {gflops:.3g} GFLOP/s ({memory_mb} MB serverless)"
        return ProcessingTime(flops / (gflops * 1e9) * 1000, estimated=True, basis=basis)

    def _flops_or_fail(self, tokens: int) -> float:
        flops = self.flops_per_request(tokens)
        if flops is None:
            raise ModelSizeError(
                f"{self.source}: the parameter count is unknown (not a safetensors model), so the "
                "processing time cannot be estimated; give --processing-ms (or traffic.processing_ms)"
            )
        return flops

    def describe(self) -> str:
        if self.llm is not None:
            return f"{self.parameters:.3g} parameters as {self.dtype} ({self.source}): {self.llm.describe()}"
        parameters = "unknown parameters" if self.parameters is None else f"{self.parameters:.3g} parameters"
        dtype = f" {self.dtype}" if self.dtype else ""
        return (
            f"{parameters}{dtype}, weights {self.weights_bytes / GIB:.2f} GiB, about "
            f"{self.serving_memory_bytes / GIB:.2f} GiB to serve ({self.runtime}; {self.source})"
        )


def gpu_effective_tflops(accelerator_model: str | None) -> tuple[float, bool]:
    """(effective TFLOP/s, whether the model is in the table); matched by name, longest first so
    that ``L40S`` is not read as ``L4``."""
    name = (accelerator_model or "").upper()
    for key in sorted(GPU_EFFECTIVE_TFLOPS, key=len, reverse=True):
        if key in name:
            return GPU_EFFECTIVE_TFLOPS[key], True
    return DEFAULT_GPU_EFFECTIVE_TFLOPS, False
