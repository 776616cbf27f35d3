"""Synth's check of a large language model (``model.serving``) against the GPUs it is deployed on.

For every instance type of every workload that serves it: the instance has NVIDIA GPUs, the
tensor-parallel degree is at most its GPU count and divides the model's heads, and the weights,
the KV cache (``max_total_tokens`` / ``max_model_len`` x the concurrent sequences) and the
runtime's overhead fit each GPU (``llm_memory``). A model that does not fit names the cheapest
instance that does. awq and gptq need a checkpoint quantized so. One ``ConfigError`` lists every
problem; nothing is synthesized. ``load_timeouts`` derives the download and start-up timeouts of
the weights' size.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from cost_advisor.llm_memory import (
    GIB,
    LlmMemory,
    LlmSizingError,
    ModelArchitecture,
    check_quantization,
    smallest_fitting_instance,
    usable_bytes_per_gpu,
    weights_bytes,
)
from cost_advisor.model_size import ModelSize
from endpoint_configs import ConfigError, EnvironmentConfig, Problem
from endpoint_configs.instance_catalog import CatalogError, instance_type
from endpoint_configs.serving import LmiServing, TgiServing

SERVING = "model.serving"
DOWNLOAD_BYTES_PER_SECOND = 100 * 1000**2
"""S3 to the instance's volume, as this package assumes it (ModelDataDownloadTimeoutInSeconds)."""
LOAD_BYTES_PER_SECOND = 200 * 1000**2
"""Volume to GPU memory, sharding and warm-up included, as assumed for the health check."""
DOWNLOAD_MARGIN_SECONDS = 120
LOAD_MARGIN_SECONDS = 300
TIMEOUT_RANGE = (60, 3600)
"""ModelDataDownloadTimeoutInSeconds and ContainerStartupHealthCheckTimeoutInSeconds: 60-3600.
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html"""


def llm_model_size(config: EnvironmentConfig, *, project_root: Path) -> ModelSize | None:
    """``model.serving``'s model as the cost estimate sizes it (KV cache included); None without."""
    serving = config.model.serving
    if serving is None:
        return None
    _, memory = _sizing(serving, project_root=project_root, source=config.environment)
    return ModelSize.from_llm(memory, source=serving.model_config_file)


VOLUME_HEADROOM = 1.2
"""Volume for the weights x 1.2 plus ``VOLUME_BASE_GB`` for the container's own files."""
VOLUME_BASE_GB = 10
VOLUME_RANGE_GB = (1, 512)
"""VolumeSizeInGB: 1-512. https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html"""


@functools.cache
def _served_weights_bytes(serving: TgiServing | LmiServing, project_root: Path) -> int:
    """The weights' bytes as ``serving`` loads them (read once per config.json and preset)."""
    architecture = ModelArchitecture.from_file(project_root / serving.model_config_file)
    return weights_bytes(architecture, serving.weight_format(architecture.torch_dtype))


def volume_size_gb(config: EnvironmentConfig, instance: str, *, project_root: Path) -> int | None:
    """The EBS volume ``model.serving``'s weights need on ``instance``: None without
    ``model.serving``, and on instances with NVMe instance storage (g4dn, g5, g6, p4d, p5 ...),
    where the model goes on that storage and SageMaker attaches no EBS volume to size."""
    if config.model.serving is None or instance_type(instance).nvme_gb > 0:
        return None
    size = _served_weights_bytes(config.model.serving, project_root)
    low, high = VOLUME_RANGE_GB
    return min(max(math.ceil(size * VOLUME_HEADROOM / 1000**3) + VOLUME_BASE_GB, low), high)


def load_timeouts(config: EnvironmentConfig, *, project_root: Path) -> tuple[int, int] | None:
    """(download, start-up health check) seconds for ``model.serving``'s weights: a margin plus
    the weights at the assumed rates, within 60-3600; None without ``model.serving``."""
    if config.model.serving is None:
        return None
    size = _served_weights_bytes(config.model.serving, project_root)
    low, high = TIMEOUT_RANGE
    download = DOWNLOAD_MARGIN_SECONDS + math.ceil(size / DOWNLOAD_BYTES_PER_SECOND)
    load = LOAD_MARGIN_SECONDS + math.ceil(size / LOAD_BYTES_PER_SECOND)
    return min(max(download, low), high), min(max(load, low), high)


def check_llm_serving(
    config: EnvironmentConfig, kinds: list[str], *, project_root: Path, source: str
) -> list[str]:
    """Lines saying how each instance holds the model; ``ConfigError`` naming ``source`` when one
    cannot. Nothing to check (and no lines) without ``model.serving``."""
    serving = config.model.serving
    if serving is None:
        return []
    architecture, memory = _sizing(serving, project_root=project_root, source=source)
    tp_field = "num_gpus" if isinstance(serving, TgiServing) else "tensor_parallel_degree"
    problems: list[Problem] = []
    lines: list[str] = []
    for kind in kinds:
        block = config.workload(kind)
        where = config.workload_path(kind)
        if not block.instance_type_fields():
            problems.append(
                Problem(where, f"{serving.type} serves on NVIDIA GPU instances; {kind} has none", kind)
            )
            continue
        for field, name in block.instance_type_fields().items():
            try:
                instance = instance_type(name)
            except CatalogError as error:
                problems.append(Problem(f"{where}.{field}", str(error), name))
                continue
            if not instance.has_gpu:
                problems.append(
                    Problem(
                        f"{where}.{field}",
                        f"has no NVIDIA GPU; {serving.type} needs one (e.g. ml.g5.2xlarge)",
                        name,
                    )
                )
                continue
            tp = serving.tensor_parallel(instance.gpus)
            if tp > instance.gpus:
                problems.append(
                    Problem(
                        f"{SERVING}.{tp_field}",
                        f"tensor-parallel degree above the {instance.gpus} GPU(s) of {name} "
                        f"({where}.{field})",
                        tp,
                    )
                )
                continue
            try:
                fits = memory.fits(instance, tp)
            except LlmSizingError as error:
                problems.append(Problem(f"{SERVING}.{tp_field}", str(error), tp))
                continue
            if not fits:
                problems.append(
                    Problem(
                        f"{where}.{field}", _does_not_fit(memory, architecture, name, tp, config.region), name
                    )
                )
                continue
            lines.append(f"{kind} {name}: tensor-parallel degree {tp}, {memory.describe(tp)}")
    if problems:
        raise ConfigError(source, problems)
    return lines


def _sizing(
    serving: TgiServing | LmiServing, *, project_root: Path, source: str
) -> tuple[ModelArchitecture, LlmMemory]:
    path = project_root / serving.model_config_file
    field = f"{SERVING}.model_config_file"
    try:
        architecture = ModelArchitecture.from_file(path)
    except LlmSizingError as error:
        raise ConfigError(source, [Problem(field, str(error), serving.model_config_file)]) from None
    requested = serving.weight_format(architecture.torch_dtype)
    try:
        check_quantization(architecture, requested)
        memory = LlmMemory.estimate(
            architecture,
            dtype_or_quantization=requested,
            max_total_tokens=serving.max_sequence_tokens,
            concurrent_sequences=serving.concurrent_sequences,
        )
    except LlmSizingError as error:
        raise ConfigError(source, [Problem(f"{SERVING}.quantize", str(error), serving.quantize)]) from None
    return architecture, memory


def _does_not_fit(memory: LlmMemory, architecture: ModelArchitecture, name: str, tp: int, region: str) -> str:
    instance = instance_type(name)
    need = memory.per_gpu_bytes(tp) / GIB
    usable = usable_bytes_per_gpu(instance) / GIB
    best = smallest_fitting_instance(
        architecture,
        dtype_or_quantization=memory.weight_format,
        max_total_tokens=memory.max_total_tokens,
        concurrent_sequences=memory.concurrent_sequences,
        region=region,
    )
    cheapest = (
        "no instance in the catalog holds it"
        if best is None
        else (
            f"the cheapest that does: {best[0]} at tensor-parallel degree {best[1]} "
            f"({best[2].per_gpu_bytes(best[1]) / GIB:.2f} GiB per GPU)"
        )
    )
    return (
        f"the model does not fit: {need:.2f} GiB per GPU at tensor-parallel degree {tp} "
        f"({memory.describe(tp)}) against {usable:.2f} GiB usable per GPU; {cheapest}"
    )
