"""Framework and Neo serving image URIs from a checked-in catalog: no SageMaker SDK at synth time.

``retrieve_image_uri(framework=..., region=..., version=..., py_version=..., instance_type=...,
base_framework_version=...)`` returns what ``sagemaker.core.image_uris.retrieve(...,
image_scope="inference")`` returns, for the inference images of huggingface, pytorch, tensorflow,
sklearn and xgboost, on CPU, GPU and Graviton (arm64) instances, in every region the SDK lists.

``retrieve_neo_image_uri(framework=..., framework_version=..., region=..., target=...)`` returns the
image that serves a model compiled by SageMaker Neo, as the SageMaker Python SDK v2's
``Model.compile`` sets it (``Model._compilation_image_uri``): ``framework`` is the Neo ``Framework``
enum value (PYTORCH ...), ``target`` a Neo ``TargetDevice`` (``ml_c5``) or an instance type
(``ml.c5.xlarge``, read as its target ``ml_c5``). The SDK tables ``neo-<framework>`` (CPU and GPU
targets), ``inferentia-<framework>`` (``ml_inf1``) and ``xgboost-neo`` (every target) serve
MXNET, PYTORCH, TENSORFLOW and XGBOOST. ``neo_serving_frameworks()`` and
``neo_framework_versions(framework, target)`` list what exists, for validation messages.

``retrieve_llm_image_uri(container, region=..., version=..., instance_type=...)`` returns the image
of a large-language-model serving container: ``"tgi"``, Hugging Face Text Generation Inference
(the SDK table ``huggingface-llm``, repository ``huggingface-pytorch-tgi-inference``, tags such as
``2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04``), or ``"lmi"``, the DJL Large Model Inference
container with vLLM and TensorRT-LLM (``djl-lmi``, repository ``djl-inference``, tags such as
``0.33.0-lmi15.0.0-cu128``). It equals ``sagemaker.core.image_uris.retrieve("huggingface-llm" or
"djl-lmi", region, version=..., instance_type=..., image_scope="inference")``; the SDK needs no
``py_version`` for them (each version has one Python version, or none) and ignores
``image_scope`` except that TGI with ``version=None`` needs ``image_scope="inference"``.
``version`` is a table version (``3.3.6``, ``0.33.0``) or an alias (``3.3``; ``latest`` for LMI);
None means the ``latest`` alias where the table has one (LMI), else the SDK's default, the newest
version (TGI). ``llm_container_versions(container)`` lists the versions, for validation messages.
Both containers run on NVIDIA GPUs only (G and P instance types, and ``local_gpu``): anything else
raises ``UnknownImageError``, also for LMI, where the SDK hands out the GPU image for any instance
type (its table names no processors). Their Neuron variants (``huggingface-llm-neuronx``,
``djl-neuronx``) are not covered.

All of them read ``image_uris.json`` next to this module (loaded once, on the first lookup) and never
import ``sagemaker`` or ``aws_cdk``. When there is no image they raise ``UnknownImageError`` saying
what exists instead.

Not covered: Inferentia and Trainium (Neuron) instances for huggingface and pytorch, where the SDK
switches to separate Neuron tables; those raise ``UnknownImageError`` (set ``image.uri``). For Neo,
no image for KERAS, ONNX, TFLITE, DARKNET or SKLEARN (the SDK has no table), for edge devices,
``lambda`` and ``ml_eia2`` (``Model.compile`` sets no image), for Graviton (``ml_c6g``, ``ml_m6g``)
and Trainium targets (the SDK refuses them), and for ``ml_inf2``: the SDK hands out the Inf1
(Neuron v1) image of the ``inferentia-*`` tables for it, which does not run on Inf2, so this
module refuses instead.

``image_uris.json`` holds the SDK's own tables: for frameworks ``image_uri_config/<framework>.json``
(the ``inference`` and ``inference_graviton`` scopes), for Neo every unscoped table the rule above
reaches from botocore's ``Framework`` enum, the ``huggingface-llm`` and ``djl-lmi`` tables (with the
SDK's default version of each), with each region-to-account map stored once and
referenced by index, plus the ECR hostname of every region (from botocore, as the SDK computes
it). The rules that turn a table entry into a URI (version aliases, processor from the instance
family, tag format) are re-implemented below, and ``tests/endpoint_configs/test_image_catalog.py``
compares the result with the SDK. Regenerate the file after changing the ``sagemaker-core`` pin::

    python -m endpoint_configs catalogs          # rewrite image_uris.json
    python -m endpoint_configs catalogs --check  # exit 1 if it is stale
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from endpoint_configs.generated import refresh_main

CATALOG_PATH = Path(__file__).with_name("image_uris.json")
FRAMEWORKS = ("huggingface", "pytorch", "sklearn", "tensorflow", "xgboost")
SCOPES = ("inference", "inference_graviton")
HUGGINGFACE = "huggingface"
INFERENCE = "inference"
GRAVITON = "inference_graviton"
NEURON_FRAMEWORKS = ("huggingface", "pytorch")

# Keys of an SDK table entry that the rules below understand; ``refresh`` refuses anything else,
# so a new rule in a future SDK is noticed instead of silently producing a wrong URI.
ENTRY_KEYS = frozenset(
    {
        "container_version",
        "processor_in_tag",
        "processors",
        "py_versions",
        "registries",
        "repository",
        "tag_prefix",
    }
)
SCOPE_KEYS = frozenset({"processors", "version_aliases", "versions"})
# Keys of an unscoped SDK table (the Neo tables): one scope for the whole file.
UNSCOPED_TABLE_KEYS = frozenset({"processors", "scope", "version_aliases", "versions"})

# SageMaker Python SDK v2 ``Model._compilation_image_uri``: the table that serves a compiled model.
NEO_PREFIX, INFERENTIA_PREFIX, NEO_SUFFIX = "neo-", "inferentia-", "-neo"
NEO_SUFFIXED_FRAMEWORK = "xgboost"  # the one framework named <framework>-neo, on every target
INFERENTIA_TARGET_PREFIX = "ml_inf"
# ``Model.compile`` sets a serving image only for targets named ml_*, and not for Elastic Inference.
NEO_HOSTED_TARGET_PREFIX = "ml_"
NEO_UNSERVED_TARGETS = ("ml_eia2",)
# The inferentia-* tables hold Neuron (v1) images, which run on Inf1 only; the SDK also hands
# them out for ml_inf2 (its rule looks at the "inf" prefix), where they cannot run.
INFERENTIA_FAMILIES = ("inf1",)

# Large-language-model serving containers: the name callers use -> the SDK table.
LlmContainer = Literal["tgi", "lmi"]
LLM_CONTAINERS: dict[str, str] = {"tgi": "huggingface-llm", "lmi": "djl-lmi"}
LLM_LABELS = {"tgi": "Hugging Face TGI (huggingface-llm)", "lmi": "DJL LMI (djl-lmi)"}
LATEST = "latest"  # the version alias that names the newest image, where a table has one
# The SDK's processor rule (sagemaker.core.image_uris._processor): families starting with g or p
# have GPUs. On SageMaker they are all NVIDIA GPUs (the test checks it against instance_catalog).
GPU_FAMILY_PREFIXES = ("g", "p")
LLM_EXAMPLE_INSTANCE = "ml.g5.2xlarge"

# Constants that live in the SDK's code, not in its tables (sagemaker.core.image_uris._get_image_tag).
ARM64_TAGS = {
    "xgboost": {"1.5-1": "1.5-1-arm64", "1.3-1": "1.3-1-arm64"},
    "sklearn": {"1.0-1": "1.0-1-arm64-cpu-py3"},
}
P4D_CONTAINER_VERSIONS = {
    "tensorflow-2.3-gpu-py37": "cu110-ubuntu18.04-v3",
    "tensorflow-2.3.1-gpu-py37": "cu110-ubuntu18.04",
    "tensorflow-2.3.2-gpu-py37": "cu110-ubuntu18.04",
    "tensorflow-1.15-gpu-py37": "cu110-ubuntu18.04-v8",
    "tensorflow-1.15.4-gpu-py37": "cu110-ubuntu18.04",
    "tensorflow-1.15.5-gpu-py37": "cu110-ubuntu18.04",
    "pytorch-1.6-gpu-py36": "cu110-ubuntu18.04-v3",
    "pytorch-1.6.0-gpu-py36": "cu110-ubuntu18.04",
    "pytorch-1.6-gpu-py3": "cu110-ubuntu18.04-v3",
    "pytorch-1.6.0-gpu-py3": "cu110-ubuntu18.04",
}
# P2 instances lost support from these versions on (sagemaker.core.image_uris._validate_instance_deprecation).
P2_LAST_VERSIONS = {"pytorch": (1, 13), "tensorflow": (2, 12)}
LISTED = 8  # at most this many choices in an error message

_FAMILY = re.compile(r"^ml[._]([a-z\d\-]+)\.?\w*$")
_BASE_FRAMEWORK = re.compile(r"^(pytorch|tensorflow)(.*)$")


class UnknownImageError(ValueError):
    """The catalog has no image for this framework, version, Python version, region or instance."""


# --- lookup -----------------------------------------------------------------------------------


@functools.cache
def _catalog() -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    return catalog


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.\-]", version))


def _choices(options: Iterable[str], *, newest_first: bool = False) -> str:
    ordered = sorted(set(options), key=_version_key, reverse=newest_first)
    if len(ordered) <= LISTED:
        return ", ".join(ordered)
    return f"{', '.join(ordered[:LISTED])} and {len(ordered) - LISTED} more"


def _release(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _instance_family(instance_type: str) -> str:
    match = _FAMILY.match(instance_type)
    return match[1] if match else ""


def _processor(instance_type: str, family: str, available: Sequence[str] | None, what: str) -> str | None:
    if not available:
        return None  # one image for every instance type
    if len(available) == 1 and not instance_type:
        return available[0]
    if instance_type.startswith("local"):
        processor = "cpu" if instance_type == "local" else "gpu"
    elif instance_type.startswith("neuron"):
        processor = "neuron"
    elif not family:
        raise UnknownImageError(f"{instance_type!r} is not a SageMaker instance type (like 'ml.m5.xlarge')")
    elif family in available:
        processor = family
    elif family.startswith(("inf", "trn")):
        processor = family[:3]
    else:
        processor = "gpu" if family[0] in ("g", "p") else "cpu"
    if processor not in available:
        raise UnknownImageError(
            f"{what} has no {processor.upper()} image for {instance_type}; "
            f"it has {_choices(available)} images"
        )
    return processor


def retrieve_image_uri(
    *,
    framework: str,
    region: str,
    version: str,
    py_version: str | None,
    instance_type: str,
    base_framework_version: str | None,
) -> str:
    """The ECR URI of the ``framework`` inference image for ``instance_type`` in ``region``.

    Equals ``sagemaker.core.image_uris.retrieve(..., image_scope="inference")`` for the same
    arguments. ``version`` may be a full version or an alias ("2.6" for "2.6.0"); the tag keeps the
    form given, as the SDK's does. ``py_version`` may be None when the version has one Python
    version. ``base_framework_version`` is for huggingface only ("pytorch2.6" or "pytorch2.6.0").
    Raises ``UnknownImageError`` when no such image exists.
    """
    catalog = _catalog()
    frameworks: dict[str, Any] = catalog["frameworks"]
    if framework not in frameworks:
        raise UnknownImageError(
            f"no inference images for framework {framework!r}; "
            f"known frameworks: {', '.join(sorted(frameworks))}"
        )
    family = _instance_family(instance_type)
    if framework in NEURON_FRAMEWORKS and family.startswith(("inf", "trn")):
        raise UnknownImageError(
            f"{framework} images for Inferentia/Trainium ({instance_type}) are not in the catalog; "
            "set the image 'uri' instead"
        )
    graviton = family in catalog["graviton_families"]
    if "trn" in instance_type and framework != "pytorch":
        raise UnknownImageError(f"{framework} has no image for Trainium instances ({instance_type})")
    if graviton and framework not in catalog["graviton_frameworks"]:
        raise UnknownImageError(
            f"{framework} has no image for Graviton instances ({instance_type}); "
            f"only {', '.join(sorted(catalog['graviton_frameworks']))} do"
        )
    scope_name = GRAVITON if graviton else INFERENCE
    scopes: dict[str, Any] = frameworks[framework]
    if scope_name not in scopes:
        raise UnknownImageError(f"{framework} has no image for {instance_type}")
    scope: dict[str, Any] = scopes[scope_name]
    versions: dict[str, Any] = scope["versions"]
    aliases: dict[str, str] = scope.get("version_aliases", {})
    label = f"{framework} (Graviton)" if graviton else framework

    if len(versions) == 1 and version not in aliases:
        version = next(iter(versions))  # the SDK's rule: a single version answers for every request
    elif version not in versions and version not in aliases:
        hint = f" (or a short form such as {sorted(aliases, key=_version_key)[-1]})" if aliases else ""
        raise UnknownImageError(
            f"{label} has no inference image for version {version!r}; "
            f"versions: {_choices(versions, newest_first=True)}{hint}"
        )
    full_version = aliases.get(version, version)
    entry: dict[str, Any] = versions[full_version]
    what = f"{label} {version}"

    if framework == HUGGINGFACE:
        base_aliases: dict[str, str] = entry.get("version_aliases", {})
        full_base = base_aliases.get(base_framework_version or "", base_framework_version)
        bases = [key for key in entry if key != "version_aliases"]
        if full_base not in bases or base_framework_version is None:
            raise UnknownImageError(
                f"{what} needs base_framework_version, one of: {_choices([*bases, *base_aliases])}; "
                f"got {base_framework_version!r}"
            )
        entry = entry[full_base]
        what = f"{what} on {base_framework_version}"

    available_py = entry.get("py_versions") if "repository" in entry else list(entry)
    if not available_py:
        py_version = None
    elif py_version is None and len(available_py) == 1:
        py_version = available_py[0]
    elif py_version not in available_py:
        raise UnknownImageError(
            f"{what} has no image for Python version {py_version!r}; "
            f"Python versions: {_choices(available_py)}"
        )
    if py_version is not None and isinstance(entry.get(py_version), dict):
        entry = entry[py_version]

    registries: dict[str, str] = catalog["registries"][entry["registries"]]
    hosts: dict[str, str] = catalog["hosts"]
    if region not in hosts:
        raise UnknownImageError(
            f"unknown region {region!r}: no SageMaker framework image is published there; "
            "check the region name (like 'us-east-1')"
        )
    if region not in registries:
        raise UnknownImageError(
            f"{what} is not published in region {region!r} (it is in {len(registries)} other regions); "
            "choose a newer version or another region"
        )
    repository: str = entry["repository"]
    processor = _processor(instance_type, family, scope.get("processors") or entry.get("processors"), what)
    container_version: str | None = None
    if entry.get("container_version"):
        if processor not in entry["container_version"]:
            raise UnknownImageError(f"{what} has no image for {instance_type}")
        container_version = entry["container_version"][processor]
    if "neuron" in repository:
        raise UnknownImageError(f"{what}: Neuron images are not in the catalog; set the image 'uri' instead")

    if framework == HUGGINGFACE:
        match = _BASE_FRAMEWORK.match(base_framework_version or "")
        if match is None:
            raise UnknownImageError(
                f"{what}: base_framework_version must start with 'pytorch' or 'tensorflow'"
            )
        tag_prefix = f"{match[2]}-transformers{full_version}"
    else:
        tag_prefix = entry.get("tag_prefix", version)
    if repository in (f"{framework}-inference-graviton", f"{framework}-inference-arm64"):
        container_version = f"{container_version}-sagemaker"
    if not entry.get("processor_in_tag", True):
        processor = None
    if family == "p2" and framework in P2_LAST_VERSIONS and _release(version) >= P2_LAST_VERSIONS[framework]:
        raise UnknownImageError(
            f"{what} does not support P2 instances ({instance_type}); use G or P3 and later"
        )

    if framework in ARM64_TAGS and graviton:
        if version not in ARM64_TAGS[framework]:
            raise UnknownImageError(
                f"{what} has no Graviton image; versions: {_choices(ARM64_TAGS[framework])}"
            )
        tag = ARM64_TAGS[framework][version]
    else:
        tag = "-".join(part for part in (tag_prefix, processor, py_version, container_version) if part)
        if family == "p4d" and framework not in ARM64_TAGS:
            tag = "-".join(part for part in (tag, P4D_CONTAINER_VERSIONS.get(f"{framework}-{tag}")) if part)
    if tag:
        repository = f"{repository}:{tag}"
    return f"{registries[region]}.dkr.{hosts[region]}/{repository}"


# --- Neo serving images -------------------------------------------------------------------------


def _neo_table_name(framework: str, target: str) -> str:
    """The SDK table ``Model._compilation_image_uri`` reads (``framework`` lowercased)."""
    if framework == NEO_SUFFIXED_FRAMEWORK:
        return f"{framework}{NEO_SUFFIX}"
    if target.startswith(INFERENTIA_TARGET_PREFIX):
        return f"{INFERENTIA_PREFIX}{framework}"
    return f"{NEO_PREFIX}{framework}"


def _neo_framework(table_name: str) -> str:
    """The Framework enum value a Neo table serves: ``neo-pytorch`` -> ``PYTORCH``."""
    for prefix in (NEO_PREFIX, INFERENTIA_PREFIX):
        table_name = table_name.removeprefix(prefix)
    return table_name.removesuffix(NEO_SUFFIX).upper()


def neo_serving_frameworks() -> tuple[str, ...]:
    """The Neo ``Framework`` enum values with serving images (on some target), sorted."""
    return tuple(sorted({_neo_framework(name) for name in _catalog()["neo"]}))


def _neo_table(framework: str, target: str) -> tuple[dict[str, Any], str]:
    """The catalog table that serves ``framework`` compiled for ``target``, and the target device
    (``ml_<family>``, also for an instance type). Raises ``UnknownImageError`` when there is none."""
    catalog = _catalog()
    tables: dict[str, Any] = catalog["neo"]
    family = _instance_family(target)
    device = f"{NEO_HOSTED_TARGET_PREFIX}{family}" if family else target
    name = _neo_table_name(framework.lower(), device)
    if name not in tables:
        raise UnknownImageError(
            f"no Neo serving image for framework {framework!r}; "
            f"frameworks with Neo serving images: {', '.join(neo_serving_frameworks())}"
        )
    examples = "targets such as ml_c5, ml_g4dn, ml_inf1 or instance types such as ml.c5.xlarge"
    if not device.startswith(NEO_HOSTED_TARGET_PREFIX):
        raise UnknownImageError(
            f"target {target!r} is not a SageMaker instance family, so no SageMaker image serves "
            f"it; Neo serving images exist for {examples}"
        )
    if device in NEO_UNSERVED_TARGETS:
        raise UnknownImageError(
            f"no Neo serving image for {device} (Elastic Inference); Neo serving images exist for {examples}"
        )
    if family in catalog["graviton_families"] and name not in catalog["graviton_frameworks"]:
        raise UnknownImageError(
            f"no Neo serving image for Graviton targets ({device}); "
            f"Neo serving images exist for x86 {examples}"
        )
    if "trn" in device:
        raise UnknownImageError(
            f"no Neo serving image for Trainium targets ({device}); Neo serving images exist for {examples}"
        )
    if name.startswith(INFERENTIA_PREFIX) and family not in INFERENTIA_FAMILIES:
        raise UnknownImageError(
            f"no Neo serving image for {device}: Neo's Inferentia images run on "
            f"{', '.join(f'{NEO_HOSTED_TARGET_PREFIX}{f}' for f in INFERENTIA_FAMILIES)} only"
        )
    table: dict[str, Any] = tables[name]
    return table, device


def neo_framework_versions(framework: str, target: str) -> tuple[str, ...]:
    """The versions with a Neo serving image for ``framework`` on ``target``, newest first (aliases
    such as 2.0.1 for 2.0 not listed); empty when the framework or target has none. XGBOOST has
    the one version ``latest``, which serves every requested version."""
    try:
        table, _ = _neo_table(framework, target)
    except UnknownImageError:
        return ()
    return tuple(sorted(table["versions"], key=_version_key, reverse=True))


def retrieve_neo_image_uri(*, framework: str, framework_version: str | None, region: str, target: str) -> str:
    """The ECR URI of the image that serves a model Neo compiled for ``target``, in ``region``.

    Equals what the SageMaker Python SDK v2's ``Model.compile`` sets as the model's image
    (``Model._compilation_image_uri``, which calls ``sagemaker.core.image_uris.retrieve``), except
    for ml_inf2, which this refuses (see the module docstring).
    ``framework`` is the Neo ``Framework`` enum value (PYTORCH; any case). ``target`` is a Neo
    ``TargetDevice`` (``ml_c5``, ``ml_g4dn``, ``ml_inf1``) or an instance type (``ml.inf1.xlarge``,
    read as ``ml_inf1``). ``framework_version`` may be a table version ("2.0") or an alias
    ("2.0.1"; the tag keeps the form given, as the SDK's does), or None for the SDK's default.
    A table with one version answers for every version (``neo-mxnet``: 1.8; ``xgboost-neo``:
    latest). Raises ``UnknownImageError`` when no such image exists.
    """
    table, device = _neo_table(framework, target)
    versions: dict[str, Any] = table["versions"]
    aliases: dict[str, str] = table.get("version_aliases", {})
    label = f"Neo {framework.upper()} for {device}"
    version = framework_version
    if len(versions) == 1 and version not in aliases:
        version = next(iter(versions))  # the SDK's rule: a single version answers for every request
    elif version is None:
        version = table["default_version"]
        if version is None:
            raise UnknownImageError(
                f"{label} needs a framework version; versions: {_choices(versions, newest_first=True)}"
            )
    elif version not in versions and version not in aliases:
        hint = f" (or an alias such as {sorted(aliases, key=_version_key)[-1]})" if aliases else ""
        raise UnknownImageError(
            f"{label} has no serving image for version {version!r}; "
            f"versions: {_choices(versions, newest_first=True)}{hint}"
        )
    entry: dict[str, Any] = versions[aliases.get(version, version)]
    what = f"{label} {version}"

    py_versions: list[str] = entry.get("py_versions") or []
    if len(py_versions) > 1:
        raise UnknownImageError(f"{what} has images for Python {_choices(py_versions)}; the SDK picks none")
    py_version = py_versions[0] if py_versions else None

    catalog = _catalog()
    hosts: dict[str, str] = catalog["hosts"]
    registries: dict[str, str] = catalog["registries"][entry["registries"]]
    if region not in hosts:
        raise UnknownImageError(
            f"unknown region {region!r}: no SageMaker framework image is published there; "
            "check the region name (like 'us-east-1')"
        )
    if region not in registries:
        raise UnknownImageError(
            f"{what}: Neo serving images are not published in region {region!r} "
            f"(they are in {len(registries)} other regions); choose another region"
        )
    processor = _processor(
        target, _instance_family(device), table.get("processors") or entry.get("processors"), what
    )
    container_version: str | None = None
    if entry.get("container_version"):
        if processor not in entry["container_version"]:
            raise UnknownImageError(f"{what} has no image for {target}")
        container_version = entry["container_version"][processor]
    if not entry.get("processor_in_tag", True):
        processor = None
    tag_prefix: str = entry.get("tag_prefix", version)
    tag = "-".join(part for part in (tag_prefix, processor, py_version, container_version) if part)
    repository: str = entry["repository"]
    if tag:
        repository = f"{repository}:{tag}"
    return f"{registries[region]}.dkr.{hosts[region]}/{repository}"


# --- large-language-model serving containers ---------------------------------------------------


def _llm_table(container: str) -> dict[str, Any]:
    """The catalog table of ``container`` ("tgi" or "lmi"); ``UnknownImageError`` for others."""
    if container not in LLM_CONTAINERS:
        raise UnknownImageError(
            f"no LLM serving container {container!r}; containers: "
            + ", ".join(f"{name} ({table})" for name, table in LLM_CONTAINERS.items())
        )
    table: dict[str, Any] = _catalog()["llm"][LLM_CONTAINERS[container]]
    return table


def llm_container_versions(container: LlmContainer) -> tuple[str, ...]:
    """The versions of ``container`` ("tgi" or "lmi") with an image, newest first; aliases (TGI's
    "3.3" for "3.3.6", LMI's "latest") are accepted by ``retrieve_llm_image_uri`` but not listed.
    Empty for an unknown container."""
    try:
        table = _llm_table(container)
    except UnknownImageError:
        return ()
    return tuple(sorted(table["versions"], key=_version_key, reverse=True))


def _require_nvidia_gpu(instance_type: str, label: str) -> str:
    """``instance_type``'s family ("" for local_gpu); ``UnknownImageError`` unless it has NVIDIA GPUs."""
    family = _instance_family(instance_type)
    if instance_type.startswith("local"):
        gpu = instance_type != "local"  # the SDK's rule: local is CPU, local_gpu is GPU
    elif not family:
        raise UnknownImageError(
            f"{instance_type!r} is not a SageMaker instance type (like {LLM_EXAMPLE_INSTANCE!r})"
        )
    else:
        gpu = family.startswith(GPU_FAMILY_PREFIXES) and family not in _catalog()["graviton_families"]
    if not gpu:
        if family.startswith(("inf", "trn")):
            has = "AWS Inferentia/Trainium chips, no GPUs (for a Neuron container set the image 'uri')"
        elif family in _catalog()["graviton_families"]:
            has = "no GPUs (a Graviton CPU instance)"
        else:
            has = "no GPUs (a CPU instance)"
        raise UnknownImageError(
            f"{label} needs NVIDIA GPUs: {instance_type} has {has}; "
            f"use a G or P instance type such as {LLM_EXAMPLE_INSTANCE}"
        )
    return family


def retrieve_llm_image_uri(
    container: LlmContainer, *, region: str, version: str | None = None, instance_type: str
) -> str:
    """The ECR URI of the ``container`` LLM serving image for ``instance_type`` in ``region``.

    ``container``: "tgi" (Hugging Face TGI, the SDK's ``huggingface-llm``) or "lmi" (DJL Large
    Model Inference, ``djl-lmi``). Equals ``sagemaker.core.image_uris.retrieve(<SDK table>, region,
    version=version, instance_type=instance_type, image_scope="inference")`` on GPU instances.
    ``version``: a version of ``llm_container_versions(container)`` ("3.3.6", "0.33.0") or an alias
    ("3.3", "latest"); the tag is the table's ``tag_prefix`` for the resolved version, so an alias
    gives the same URI as its version. None: the ``latest`` alias where the table has one (LMI),
    else the SDK's default, the newest version (TGI); both are what the SDK picks for None.
    ``instance_type``: a type with NVIDIA GPUs (G or P families, or ``local_gpu``); anything else
    raises, also for LMI, where the SDK would return the (GPU-only) image. Raises
    ``UnknownImageError`` when no such image exists, saying what exists instead.
    """
    table = _llm_table(container)
    label = LLM_LABELS[container]
    family = _require_nvidia_gpu(instance_type, label)
    versions: dict[str, Any] = table["versions"]
    aliases: dict[str, str] = table.get("version_aliases", {})
    if len(versions) == 1 and version not in aliases:
        version = next(iter(versions))  # the SDK's rule: a single version answers for every request
    elif version is None:
        version = aliases.get(LATEST) or table["default_version"]
        if version is None:
            raise UnknownImageError(
                f"{label} needs a version; versions: {_choices(versions, newest_first=True)}"
            )
    elif version not in versions and version not in aliases:
        if LATEST in aliases:
            hint = f" (or {LATEST!r})"
        elif aliases:
            hint = f" (or a short form such as {sorted(aliases, key=_version_key)[-1]})"
        else:
            hint = ""
        raise UnknownImageError(
            f"{label} has no image for version {version!r}; "
            f"versions: {_choices(versions, newest_first=True)}{hint}"
        )
    entry: dict[str, Any] = versions[aliases.get(version, version)]
    what = f"{label} {version}"

    py_versions: list[str] = entry.get("py_versions") or []
    if len(py_versions) > 1:
        raise UnknownImageError(
            f"{what} has images for Python {_choices(py_versions)}; the catalog picks none"
        )
    py_version = py_versions[0] if py_versions else None

    catalog = _catalog()
    hosts: dict[str, str] = catalog["hosts"]
    registries: dict[str, str] = catalog["registries"][entry["registries"]]
    if region not in hosts:
        raise UnknownImageError(
            f"unknown region {region!r}: no SageMaker framework image is published there; "
            "check the region name (like 'us-east-1')"
        )
    if region not in registries:
        raise UnknownImageError(
            f"{what} is not published in region {region!r} (it is in {len(registries)} other regions); "
            "choose another version or region"
        )
    processor = _processor(instance_type, family, table.get("processors") or entry.get("processors"), what)
    container_version: str | None = None
    if entry.get("container_version"):
        if processor not in entry["container_version"]:
            raise UnknownImageError(f"{what} has no image for {instance_type}")
        container_version = entry["container_version"][processor]
    if not entry.get("processor_in_tag", True):
        processor = None
    tag_prefix: str = entry.get("tag_prefix", version)
    tag = "-".join(part for part in (tag_prefix, processor, py_version, container_version) if part)
    repository: str = entry["repository"]
    if tag:
        repository = f"{repository}:{tag}"
    return f"{registries[region]}.dkr.{hosts[region]}/{repository}"


# --- regeneration from the installed SDK ------------------------------------------------------


def _neo_table_names(frameworks: Iterable[str]) -> list[str]:
    """The SDK tables ``Model._compilation_image_uri`` reads for these Neo ``Framework`` values on
    some target (Inferentia or not), sorted; they may not all exist."""
    targets = (f"{INFERENTIA_TARGET_PREFIX}1", f"{NEO_HOSTED_TARGET_PREFIX}c5")
    return sorted(
        {_neo_table_name(framework.lower(), target) for framework in frameworks for target in targets}
    )


def unscoped_table(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK table without scopes (``"scope": ["inference"]`` at the top, as the Neo tables have),
    checked to hold only what the lookup understands: its ``versions`` and ``version_aliases``,
    ``processors``, and entries with ``ENTRY_KEYS``. Raises ``RuntimeError`` otherwise."""
    unknown = set(config) - UNSCOPED_TABLE_KEYS
    if unknown:
        raise RuntimeError(f"{name}: unknown keys {sorted(unknown)}; the catalog's rules need updating")
    if config.get("scope") != [INFERENCE]:
        raise RuntimeError(
            f"{name}: scope {config.get('scope')!r}, not ['inference']; the rules need updating"
        )
    _check_flat_entries(name, config["versions"])
    return {key: value for key, value in config.items() if key != "scope"}


def _check_flat_entries(name: str, versions: Mapping[str, Any]) -> None:
    """Raises ``RuntimeError`` unless every version is one entry (no Python or base framework
    level) with only ``ENTRY_KEYS``."""
    for version, entry in versions.items():
        if "repository" not in entry:
            raise RuntimeError(f"{name}/{version}: nested entries; the catalog's rules need updating")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise RuntimeError(
                f"{name}/{version}: unknown keys {sorted(unknown)}; the catalog's rules need updating"
            )


def llm_table(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM container's SDK table, unscoped (``djl-lmi``) or with the one scope ``inference``
    (``huggingface-llm``), checked as ``unscoped_table`` does. Raises ``RuntimeError`` otherwise."""
    if "scope" in config:
        return unscoped_table(name, config)
    if set(config) != {INFERENCE}:
        raise RuntimeError(f"{name}: scopes {sorted(config)}, not ['inference']; the rules need updating")
    table: Mapping[str, Any] = config[INFERENCE]
    unknown = set(table) - SCOPE_KEYS
    if unknown:
        raise RuntimeError(f"{name}: unknown keys {sorted(unknown)}; the catalog's rules need updating")
    _check_flat_entries(name, table["versions"])
    return dict(table)


def build_catalog() -> dict[str, Any]:
    """The catalog, read from the installed ``sagemaker-core`` (imports the SDK)."""
    from importlib.metadata import version as installed_version

    import botocore.session
    from sagemaker.core import common_utils, fw_utils, image_uris

    scopes: dict[str, dict[str, Any]] = {}
    for framework in FRAMEWORKS:
        config = image_uris.config_for_framework(framework)
        if "scope" in config:
            raise RuntimeError(f"{framework}: unscoped image table; the catalog's rules need updating")
        for scope_name in SCOPES:
            if scope_name in config:
                unknown = set(config[scope_name]) - SCOPE_KEYS
                if unknown:
                    raise RuntimeError(f"{framework}/{scope_name}: unknown keys {sorted(unknown)}")
                scopes[f"{framework}/{scope_name}"] = config[scope_name]

    neo_frameworks = botocore.session.get_session().get_service_model("sagemaker").shape_for("Framework").enum
    neo_tables: dict[str, dict[str, Any]] = {}
    for name in _neo_table_names(neo_frameworks):
        try:
            config = image_uris.config_for_framework(name)
        except OSError:
            continue  # no image for this framework (KERAS, ONNX ...)
        neo_tables[name] = {
            **unscoped_table(name, config),
            # framework_version=None: the SDK compares the first and last versions in file order
            "default_version": image_uris._fetch_latest_version_from_config(config),
        }

    llm_tables: dict[str, dict[str, Any]] = {}
    for name in LLM_CONTAINERS.values():
        config = image_uris.config_for_framework(name)
        llm_tables[name] = {
            **llm_table(name, config),
            # version=None with image_scope="inference": the SDK's choice (the first or last version)
            "default_version": image_uris._fetch_latest_version_from_config(config, INFERENCE),
        }

    registry_maps: set[str] = set()

    def entries(node: Mapping[str, Any], where: str) -> Iterable[Mapping[str, Any]]:
        if "repository" in node:
            unknown = set(node) - ENTRY_KEYS
            if unknown:
                raise RuntimeError(
                    f"{where}: unknown keys {sorted(unknown)}; the catalog's rules need updating"
                )
            yield node
            return
        for key, child in node.items():
            if key != "version_aliases":
                yield from entries(child, f"{where}/{key}")

    for name, scope in [*scopes.items(), *neo_tables.items(), *llm_tables.items()]:
        for version, node in scope["versions"].items():
            for entry in entries(node, f"{name}/{version}"):
                registry_maps.add(json.dumps(entry["registries"], sort_keys=True))
    ordered_maps = sorted(registry_maps)
    index = {text: number for number, text in enumerate(ordered_maps)}

    def compact(node: Mapping[str, Any]) -> dict[str, Any]:
        if "repository" in node:
            return {
                key: index[json.dumps(value, sort_keys=True)] if key == "registries" else value
                for key, value in node.items()
            }
        return {key: child if key == "version_aliases" else compact(child) for key, child in node.items()}

    frameworks: dict[str, dict[str, Any]] = {}
    for name, scope in scopes.items():
        framework, scope_name = name.split("/")
        frameworks.setdefault(framework, {})[scope_name] = {
            **{key: value for key, value in scope.items() if key != "versions"},
            "versions": {version: compact(node) for version, node in scope["versions"].items()},
        }

    regions = sorted({region for text in ordered_maps for region in json.loads(text)})
    resolver = common_utils._botocore_resolver()
    hosts: dict[str, str] = {}
    for region in regions:
        endpoint = resolver.construct_endpoint("ecr", region)
        if region == "il-central-1" and not endpoint:
            endpoint = {"hostname": f"ecr.{region}.amazonaws.com"}  # as the SDK does
        if endpoint:
            hosts[region] = endpoint["hostname"]

    return {
        "generated_from": {"sagemaker-core": installed_version("sagemaker-core")},
        "frameworks": frameworks,
        "graviton_families": sorted(fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY),
        "graviton_frameworks": sorted(fw_utils.GRAVITON_ALLOWED_FRAMEWORKS),
        "hosts": hosts,
        "llm": {
            name: {
                **{key: value for key, value in table.items() if key != "versions"},
                "versions": {version: compact(entry) for version, entry in table["versions"].items()},
            }
            for name, table in llm_tables.items()
        },
        "neo": {
            name: {
                **{key: value for key, value in table.items() if key != "versions"},
                "versions": {version: compact(entry) for version, entry in table["versions"].items()},
            }
            for name, table in neo_tables.items()
        },
        "registries": [json.loads(text) for text in ordered_maps],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``refresh [--check]``: rewrite the catalog from the installed SDK, or check it is current."""
    import logging

    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    return refresh_main(
        argv,
        command="python -m endpoint_configs catalogs",
        path=CATALOG_PATH,
        build=build_catalog,
        source="sagemaker-core",
    )
