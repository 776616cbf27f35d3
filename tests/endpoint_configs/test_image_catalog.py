"""The image catalog answers exactly as the pinned SageMaker SDK does, without importing it.

The sample is built from the SDK's own tables (not from the catalog), so a version, Python
version or base framework missing from ``image_uris.json`` shows up as a mismatch. For every
combination both must give the same URI, or both must find no image.

Neo serving images are compared with what SageMaker Python SDK v2's ``Model.compile`` sets (its
``_compilation_image_uri`` rule, copied below, on ``sagemaker.core.image_uris.retrieve``), with one
deliberate difference: no Inf1 (Neuron v1) image for ml_inf2, where the SDK hands one out.

The LLM serving containers (TGI, ``huggingface-llm``; DJL LMI, ``djl-lmi``) are compared with
``sagemaker.core.image_uris.retrieve(..., image_scope="inference")`` for every version and alias of
both tables, with one deliberate difference: the catalog refuses instance types without NVIDIA
GPUs for LMI, where the SDK hands out the GPU image for any instance type.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from endpoint_configs import image_catalog
from endpoint_configs.image_catalog import UnknownImageError, retrieve_image_uri

CPU, GPU, GRAVITON = "ml.m5.xlarge", "ml.g5.xlarge", "ml.c7g.xlarge"
INSTANCE_TYPES = (CPU, GPU, GRAVITON, "ml.p4d.24xlarge", "ml.p2.xlarge", "ml.c5.large", "local", "local_gpu")
NEURON_INSTANCE_TYPES = ("ml.inf2.xlarge", "ml.trn1.2xlarge")  # not covered for huggingface/pytorch
SAMPLE_REGIONS = ("us-east-1", "cn-north-1", "af-south-1", "il-central-1", "us-gov-west-1")
Combination = tuple[str, str, str | None, str | None, str, str]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sdk() -> Iterator[Any]:
    """``sagemaker.core.image_uris`` with its file loads cached (else each call costs ~50 ms)."""
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    from sagemaker.core import common_utils, image_uris

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_uris, "config_for_framework", functools.cache(image_uris.config_for_framework))
        patch.setattr(common_utils, "_botocore_resolver", functools.cache(common_utils._botocore_resolver))
        yield image_uris


def _py_versions(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        found.update(node.get("py_versions") or [])
        for key, child in node.items():
            if key not in ("registries", "container_version", "version_aliases"):
                _py_versions(child, found)
    return found


def _sample(sdk: Any, regions: tuple[str, ...]) -> Iterator[Combination]:
    """Every framework x version (and alias) x base framework x Python version x instance x region."""
    for framework in image_catalog.FRAMEWORKS:
        config = sdk.config_for_framework(framework)
        instance_types: tuple[str, ...] = INSTANCE_TYPES
        if framework not in image_catalog.NEURON_FRAMEWORKS:
            instance_types += NEURON_INSTANCE_TYPES
        for scope in image_catalog.SCOPES:
            table = config.get(scope)
            if table is None:
                continue
            aliases = table.get("version_aliases", {})
            for version in [*table["versions"], *aliases]:
                entry = table["versions"][aliases.get(version, version)]
                bases: list[str | None] = [None]
                if framework == image_catalog.HUGGINGFACE:
                    bases = [key for key in entry if key != "version_aliases"]
                    bases += list(entry.get("version_aliases", {}))
                py_versions: list[str | None] = [*sorted(_py_versions(entry, set())), None]
                for base, py_version, instance_type, region in itertools.product(
                    bases, py_versions, instance_types, regions
                ):
                    yield framework, version, base, py_version, instance_type, region


def _sdk_uri(sdk: Any, combination: Combination) -> str | None:
    framework, version, base, py_version, instance_type, region = combination
    try:
        return str(
            sdk.retrieve(
                framework=framework,
                region=region,
                version=version,
                py_version=py_version,
                instance_type=instance_type,
                image_scope="inference",
                base_framework_version=base,
            )
        )
    except (ValueError, KeyError):
        return None


def _catalog_uri(combination: Combination) -> str | None:
    framework, version, base, py_version, instance_type, region = combination
    try:
        return retrieve_image_uri(
            framework=framework,
            region=region,
            version=version,
            py_version=py_version,
            instance_type=instance_type,
            base_framework_version=base,
        )
    except UnknownImageError:
        return None


def _mismatches(sdk: Any, combinations: list[Combination]) -> tuple[list[str], int]:
    found = 0
    mismatches = []
    for combination in combinations:
        expected = _sdk_uri(sdk, combination)
        found += expected is not None
        actual = _catalog_uri(combination)
        if actual != expected:
            mismatches.append(f"{combination}: sdk {expected}, catalog {actual}")
    return mismatches, found


def test_catalog_is_current_for_the_installed_sdk(capsys: pytest.CaptureFixture[str]) -> None:
    assert image_catalog.main(["refresh", "--check"]) == 0, capsys.readouterr().err


def test_catalog_equals_sdk_for_every_version_in_sample_regions(sdk: Any) -> None:
    combinations = list(_sample(sdk, SAMPLE_REGIONS))
    mismatches, found = _mismatches(sdk, combinations)
    assert not mismatches, f"{len(mismatches)} of {len(combinations)} differ:\n" + "\n".join(mismatches[:20])
    assert found > 2000  # the sample is not all errors


def test_catalog_equals_sdk_in_every_region(sdk: Any) -> None:
    regions = sorted(image_catalog._catalog()["hosts"])
    assert {"cn-north-1", "cn-northwest-1", "us-gov-west-1", "af-south-1"} <= set(regions)
    combinations: list[Combination] = [
        (framework, version, base, py_version, instance_type, region)
        for framework, version, base, py_version in (
            ("pytorch", "2.6", None, "py312"),
            ("huggingface", "4.49.0", "pytorch2.6.0", "py312"),
            ("tensorflow", "2.16", None, "py310"),
            ("sklearn", "1.2-1", None, "py3"),
            ("xgboost", "1.7-1", None, None),
        )
        for instance_type in (CPU, GPU, GRAVITON)
        for region in [*regions, "xx-east-9"]
    ]
    mismatches, found = _mismatches(sdk, combinations)
    assert not mismatches, "\n".join(mismatches[:20])
    assert found > 300


def test_china_region_uses_the_china_domain() -> None:
    uri = retrieve_image_uri(
        framework="pytorch",
        region="cn-north-1",
        version="2.6",
        py_version="py312",
        instance_type=GPU,
        base_framework_version=None,
    )
    assert uri.endswith(".dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference:2.6-gpu-py312")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"framework": "pytorch", "version": "9.9", "py_version": "py312"},
            ["'9.9'", "versions: 2.6.0, 2.5.1", "more", "short form"],
            id="unknown version",
        ),
        pytest.param(
            {"framework": "pytorch", "version": "2.6", "py_version": "py27"},
            ["'py27'", "Python versions: py312"],
            id="unknown py_version",
        ),
        pytest.param(
            {"framework": "pytorch", "version": "2.6", "py_version": "py312", "region": "xx-east-9"},
            ["region 'xx-east-9'", "check the region name"],
            id="unknown region",
        ),
        pytest.param(
            {"framework": "pytorch", "version": "0.4", "py_version": "py3", "region": "il-central-1"},
            ["pytorch 0.4 is not published in region 'il-central-1'", "other regions"],
            id="region without this version",
        ),
        pytest.param(
            {"framework": "mxnet", "version": "1.9", "py_version": "py38"},
            ["'mxnet'", "huggingface, pytorch, sklearn, tensorflow, xgboost"],
            id="unknown framework",
        ),
        pytest.param(
            {"framework": "huggingface", "version": "4.49", "py_version": "py312"},
            ["needs base_framework_version", "pytorch2.6"],
            id="huggingface without base framework",
        ),
        pytest.param(
            {"framework": "sklearn", "version": "1.2-1", "py_version": "py3", "instance_type": GPU},
            ["no GPU image", "cpu"],
            id="gpu for a cpu-only framework",
        ),
        pytest.param(
            {
                "framework": "huggingface",
                "version": "4.49",
                "py_version": "py312",
                "instance_type": "ml.inf2.xlarge",
                "base_framework_version": "pytorch2.6",
            },
            ["Inferentia/Trainium", "uri"],
            id="neuron not covered",
        ),
    ],
)
def test_no_image_says_what_exists(arguments: dict[str, Any], expected: list[str]) -> None:
    call: dict[str, Any] = {"region": "us-east-1", "instance_type": CPU, "base_framework_version": None}
    with pytest.raises(UnknownImageError) as raised:
        retrieve_image_uri(**{**call, **arguments})
    message = str(raised.value)
    for text in expected:
        assert text in message
    assert "pip install" not in message
    assert len(message) < 300, message


def test_lookup_imports_neither_sagemaker_nor_aws_cdk() -> None:
    script = textwrap.dedent(
        """
        import sys
        from endpoint_configs.image_catalog import retrieve_image_uri, retrieve_neo_image_uri
        uri = retrieve_image_uri(
            framework="huggingface", region="eu-west-1", version="4.49", py_version="py312",
            instance_type="ml.g5.xlarge", base_framework_version="pytorch2.6",
        )
        assert uri.endswith(":2.6-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"), uri
        uri = retrieve_neo_image_uri(
            framework="PYTORCH", framework_version="1.9", region="eu-west-1", target="ml_inf1"
        )
        assert uri.endswith("/sagemaker-neo-pytorch:1.9-inf-py3"), uri
        from endpoint_configs.image_catalog import retrieve_llm_image_uri
        uri = retrieve_llm_image_uri(
            "lmi", region="eu-west-1", version="0.33.0", instance_type="ml.g5.2xlarge"
        )
        assert uri.endswith("/djl-inference:0.33.0-lmi15.0.0-cu128"), uri
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sagemaker", "aws_cdk", "jsii"))
        print(" ".join(loaded))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "", f"imported: {completed.stdout.strip()}"


# --- Neo serving images -----------------------------------------------------------------------

NEO_TARGETS = (
    *("ml_c4", "ml_c5", "ml_m4", "ml_m5", "ml_p2", "ml_p3", "ml_g4dn", "ml_inf1", "ml_c6g", "ml_m6g"),
    *("ml_inf2", "ml_trn1", "ml_eia2", "jetson_nano", "lambda"),
    *("ml.c5.xlarge", "ml.g4dn.xlarge", "ml.inf1.xlarge", "ml.inf2.xlarge"),
)
NEO_REGIONS = ("us-east-1", "cn-north-1", "us-gov-west-1", "ap-southeast-3", "xx-east-9")
NEO_TABLE_MISSING_REGION = "ap-southeast-3"  # has framework images, no Neo tables
NeoCombination = tuple[str, str | None, str, str]


@functools.cache
def _neo_frameworks() -> tuple[str, ...]:
    """botocore's ``Framework`` enum (what a compilation job takes)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for("Framework").enum)


def _neo_device(sdk: Any, target: str) -> str:
    """An instance type's Neo target device (ml.c5.xlarge -> ml_c5); a device stays as it is."""
    family = sdk.utils.get_instance_type_family(target)
    return f"ml_{family}" if family else target


def _sdk_neo_table(framework: str, device: str) -> str:
    """SageMaker Python SDK v2 ``Model._compilation_image_uri``, verbatim."""
    framework_prefix = ""
    framework_suffix = ""
    if framework == "xgboost":
        framework_suffix = "-neo"
    elif device.startswith("ml_inf"):
        framework_prefix = "inferentia-"
    else:
        framework_prefix = "neo-"
    return f"{framework_prefix}{framework}{framework_suffix}"


def _sdk_neo_uri(sdk: Any, combination: NeoCombination) -> str | None:
    """The image SDK v2's ``Model.compile`` sets: none for ml_eia2 and for targets not named ml_*,
    else ``image_uris.retrieve`` on the table above. An instance type is passed as its device."""
    framework, version, target, region = combination
    device = _neo_device(sdk, target)
    if device == "ml_eia2" or not device.startswith("ml_"):
        return None
    try:
        return str(
            sdk.retrieve(
                _sdk_neo_table(framework.lower(), device), region, instance_type=device, version=version
            )
        )
    except (ValueError, KeyError, OSError):  # OSError: no table for the framework
        return None


def _catalog_neo_uri(combination: NeoCombination) -> str | None:
    framework, version, target, region = combination
    try:
        return image_catalog.retrieve_neo_image_uri(
            framework=framework, framework_version=version, region=region, target=target
        )
    except UnknownImageError:
        return None


def _neo_versions(sdk: Any, framework: str) -> list[str | None]:
    """Every version and alias of the framework's Neo tables, None, and a version nobody has."""
    versions: list[str | None] = [None, "9.9"]
    for device in ("ml_c5", "ml_inf1"):
        try:
            table = sdk.config_for_framework(_sdk_neo_table(framework.lower(), device))
        except OSError:
            continue
        versions += [*table["versions"], *table.get("version_aliases", {})]
    return list(dict.fromkeys(versions))


def _neo_mismatches(sdk: Any, combinations: list[NeoCombination]) -> tuple[list[str], int]:
    found = 0
    mismatches = []
    for combination in combinations:
        expected = _sdk_neo_uri(sdk, combination)
        if _neo_device(sdk, combination[2]) == "ml_inf2" and "/sagemaker-neo-" in str(expected):
            expected = None  # the SDK's Inf1 (Neuron v1) image cannot run there: see the test below
        found += expected is not None
        actual = _catalog_neo_uri(combination)
        if actual != expected:
            mismatches.append(f"{combination}: sdk {expected}, catalog {actual}")
    return mismatches, found


def test_neo_image_equals_sdk_for_every_framework_version_target_and_sample_region(sdk: Any) -> None:
    combinations: list[NeoCombination] = [
        (framework, version, target, region)
        for framework in _neo_frameworks()
        for version in _neo_versions(sdk, framework)
        for target in NEO_TARGETS
        for region in NEO_REGIONS
    ]
    mismatches, found = _neo_mismatches(sdk, combinations)
    assert not mismatches, f"{len(mismatches)} of {len(combinations)} differ:\n" + "\n".join(mismatches[:20])
    assert found > 1500  # the sample is not all errors


def test_neo_image_equals_sdk_in_every_region(sdk: Any) -> None:
    regions = sorted(image_catalog._catalog()["hosts"])
    combinations: list[NeoCombination] = [
        (framework, version, target, region)
        for framework, version, target in (
            ("PYTORCH", "2.0", "ml_g4dn"),
            ("TENSORFLOW", "1.15.0", "ml_inf1"),
            ("XGBOOST", None, "ml_m5"),
        )
        for region in [*regions, "xx-east-9"]
    ]
    mismatches, found = _neo_mismatches(sdk, combinations)
    assert not mismatches, "\n".join(mismatches[:20])
    assert found > 90


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"framework": "PYTORCH", "framework_version": "2.0", "target": "ml_c5"},
            "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:2.0-cpu-py3",
            id="cpu target",
        ),
        pytest.param(
            {"framework": "PYTORCH", "framework_version": "1.9", "target": "ml_inf1"},
            "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-neo-pytorch:1.9-inf-py3",
            id="inferentia target",
        ),
        pytest.param(
            {"framework": "XGBOOST", "framework_version": "1.7", "target": "ml_p3"},
            "785573368785.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest",
            id="xgboost has one image for every version and target",
        ),
        pytest.param(
            {"framework": "pytorch", "framework_version": "2.0.1", "target": "ml.g4dn.xlarge"},
            "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:2.0.1-gpu-py3",
            id="instance type, lower-case framework, alias kept in the tag as the SDK does",
        ),
        pytest.param(
            {"framework": "TENSORFLOW", "framework_version": None, "target": "ml_c5"},
            "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-tensorflow:2.9.2-cpu-py3",
            id="no version takes the SDK's default",
        ),
        pytest.param(
            {"framework": "MXNET", "framework_version": "9.9", "target": "ml_c5", "region": "cn-north-1"},
            "472730292857.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-inference-mxnet:1.8-cpu-py3",
            id="china domain; a table with one version answers every version",
        ),
    ],
)
def test_neo_image_for_documented_examples(arguments: dict[str, Any], expected: str) -> None:
    assert image_catalog.retrieve_neo_image_uri(**{"region": "us-east-1", **arguments}) == expected


def test_inferentia_images_serve_inf1_only_although_the_sdk_offers_them_for_inf2(sdk: Any) -> None:
    combination: NeoCombination = ("PYTORCH", "1.9", "ml_inf2", "us-east-1")
    assert str(_sdk_neo_uri(sdk, combination)).endswith("/sagemaker-neo-pytorch:1.9-inf-py3")
    with pytest.raises(UnknownImageError, match="ml_inf2: Neo's Inferentia images run on ml_inf1 only"):
        image_catalog.retrieve_neo_image_uri(
            framework="PYTORCH", framework_version="1.9", region="us-east-1", target="ml_inf2"
        )


def test_inferentia_instance_type_is_served_like_its_target(sdk: Any) -> None:
    """SDK v2 picks the table by the "ml_inf" prefix, so it would miss ml.inf1.xlarge."""
    arguments = {"framework": "PYTORCH", "framework_version": "1.8", "region": "us-east-1"}
    by_device = image_catalog.retrieve_neo_image_uri(**arguments, target="ml_inf1")
    assert image_catalog.retrieve_neo_image_uri(**arguments, target="ml.inf1.xlarge") == by_device
    assert by_device.endswith("/sagemaker-neo-pytorch:1.8-inf-py3")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"framework": "KERAS"},
            ["'KERAS'", "frameworks with Neo serving images: MXNET, PYTORCH, TENSORFLOW, XGBOOST"],
            id="unknown framework",
        ),
        pytest.param(
            {"framework_version": "9.9"},
            ["'9.9'", "versions: 2.0, 1.13, 1.12, 1.8, 1.7, 1.6, 1.5, 1.4", "alias such as 2.0.1"],
            id="unknown version",
        ),
        pytest.param(
            {"framework_version": "2.0", "target": "ml_inf1"},
            ["Neo PYTORCH for ml_inf1", "'2.0'", "versions: 1.9, 1.8, 1.7"],
            id="version without an inferentia image",
        ),
        pytest.param(
            {"target": "jetson_nano"},
            ["'jetson_nano' is not a SageMaker instance family", "ml_c5", "ml.c5.xlarge"],
            id="edge device",
        ),
        pytest.param({"target": "ml_inf2"}, ["ml_inf2", "ml_inf1 only"], id="inf2"),
        pytest.param({"target": "ml.trn1.2xlarge"}, ["Trainium", "ml_trn1", "ml_c5"], id="trainium"),
        pytest.param({"target": "ml_c6g"}, ["Graviton", "ml_c6g", "x86"], id="graviton"),
        pytest.param({"target": "ml_eia2"}, ["ml_eia2", "Elastic Inference"], id="elastic inference"),
        pytest.param(
            {"region": "xx-east-9"}, ["region 'xx-east-9'", "check the region name"], id="unknown region"
        ),
        pytest.param(
            {"region": NEO_TABLE_MISSING_REGION},
            [f"not published in region '{NEO_TABLE_MISSING_REGION}'", "31 other regions"],
            id="region without neo images",
        ),
    ],
)
def test_no_neo_image_says_what_exists(arguments: dict[str, Any], expected: list[str]) -> None:
    call: dict[str, Any] = {
        "framework": "PYTORCH",
        "framework_version": "1.8",
        "region": "us-east-1",
        "target": "ml_c5",
    }
    with pytest.raises(UnknownImageError) as raised:
        image_catalog.retrieve_neo_image_uri(**{**call, **arguments})
    message = str(raised.value)
    for text in expected:
        assert text in message
    assert "pip install" not in message
    assert len(message) < 300, message


def test_neo_frameworks_and_versions_list_what_retrieve_serves() -> None:
    assert image_catalog.neo_serving_frameworks() == ("MXNET", "PYTORCH", "TENSORFLOW", "XGBOOST")
    assert set(image_catalog.neo_serving_frameworks()) < set(_neo_frameworks())
    assert image_catalog.neo_framework_versions("PYTORCH", "ml_c5")[:3] == ("2.0", "1.13", "1.12")
    assert image_catalog.neo_framework_versions("PYTORCH", "ml.inf1.xlarge") == ("1.9", "1.8", "1.7")
    assert image_catalog.neo_framework_versions("XGBOOST", "ml_inf1") == ("latest",)
    assert image_catalog.neo_framework_versions("KERAS", "ml_c5") == ()
    assert image_catalog.neo_framework_versions("PYTORCH", "jetson_nano") == ()
    for framework in image_catalog.neo_serving_frameworks():
        for target in ("ml_c5", "ml_inf1"):
            for version in image_catalog.neo_framework_versions(framework, target):
                assert image_catalog.retrieve_neo_image_uri(
                    framework=framework, framework_version=version, region="us-east-1", target=target
                )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"vpc_only": True}, "unknown keys ['vpc_only']", id="unknown table key"),
        pytest.param({"scope": ["training", "inference"]}, "scope", id="other scopes"),
        pytest.param(
            {"versions": {"1.0": {"repository": "r", "registries": {}, "arch": "arm64"}}},
            "neo-x/1.0: unknown keys ['arch']",
            id="unknown entry key",
        ),
        pytest.param(
            {"versions": {"1.0": {"py3": {"repository": "r", "registries": {}}}}},
            "nested entries",
            id="nested entries",
        ),
    ],
)
def test_catalog_refuses_neo_tables_with_rules_it_does_not_know(
    change: dict[str, Any], expected: str
) -> None:
    table = {"scope": ["inference"], "versions": {"1.0": {"repository": "r", "registries": {}}}}
    assert image_catalog.unscoped_table("neo-x", table) == {"versions": table["versions"]}
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        image_catalog.unscoped_table("neo-x", {**table, **change})


# --- LLM serving containers ---------------------------------------------------------------------

LLM_GPU_INSTANCE_TYPES = ("ml.g5.2xlarge", "ml.p4d.24xlarge", "local_gpu")
LLM_OTHER_INSTANCE_TYPES = ("ml.m5.xlarge", "ml.c7g.xlarge", "ml.inf2.xlarge", "ml.trn1.2xlarge", "local")
LLM_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
LLM_OTHER_REGIONS = ("me-west-1", "xx-east-9")  # me-west-1: TGI images, no LMI images
LlmCombination = tuple[str, str | None, str, str]
CONTAINERS: tuple[image_catalog.LlmContainer, ...] = ("tgi", "lmi")


def _sdk_llm_table(sdk: Any, container: str) -> dict[str, Any]:
    table: dict[str, Any] = sdk._config_for_framework_and_scope(
        image_catalog.LLM_CONTAINERS[container], "inference"
    )
    return table


def _sdk_llm_uri(sdk: Any, combination: LlmCombination) -> str | None:
    container, version, instance_type, region = combination
    try:
        return str(
            sdk.retrieve(
                image_catalog.LLM_CONTAINERS[container],
                region,
                version=version,
                instance_type=instance_type,
                image_scope="inference",
            )
        )
    except (ValueError, KeyError):
        return None


def _catalog_llm_uri(combination: LlmCombination) -> str | None:
    container, version, instance_type, region = combination
    try:
        return image_catalog.retrieve_llm_image_uri(
            container,  # type: ignore[arg-type]
            region=region,
            version=version,
            instance_type=instance_type,
        )
    except UnknownImageError:
        return None


def _llm_versions(sdk: Any, container: str) -> list[str | None]:
    """Every version and alias of the SDK's table, None, and versions nobody has."""
    table = _sdk_llm_table(sdk, container)
    return [*table["versions"], *table.get("version_aliases", {}), None, "9.9", "0.33"]


def test_llm_image_equals_sdk_for_every_version_and_alias_on_gpu_instances(sdk: Any) -> None:
    combinations: list[LlmCombination] = [
        (container, version, instance_type, region)
        for container in CONTAINERS
        for version in _llm_versions(sdk, container)
        for instance_type in LLM_GPU_INSTANCE_TYPES
        for region in (*LLM_REGIONS, *LLM_OTHER_REGIONS)
    ]
    found = 0
    mismatches = []
    for combination in combinations:
        expected = _sdk_llm_uri(sdk, combination)
        found += expected is not None
        actual = _catalog_llm_uri(combination)
        if actual != expected:
            mismatches.append(f"{combination}: sdk {expected}, catalog {actual}")
    assert not mismatches, f"{len(mismatches)} of {len(combinations)} differ:\n" + "\n".join(mismatches[:20])
    expected_found = (
        sum(len(_llm_versions(sdk, container)) - 2 for container in CONTAINERS)
        * len(LLM_GPU_INSTANCE_TYPES)
        * len(LLM_REGIONS)
    )
    assert (
        found > expected_found
    )  # every version, alias and None in the sample regions, and me-west-1 for TGI


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("instance_type", LLM_OTHER_INSTANCE_TYPES)
def test_llm_image_needs_nvidia_gpus(sdk: Any, container: str, instance_type: str) -> None:
    """TGI: the SDK refuses too. LMI: its table names no processors, so the SDK hands out the
    GPU image for CPU and Inferentia instances (not Graviton or Trainium); the catalog refuses."""
    combination: LlmCombination = (container, None, instance_type, "us-east-1")
    sdk_uri = _sdk_llm_uri(sdk, combination)
    if container == "tgi" or instance_type in ("ml.c7g.xlarge", "ml.trn1.2xlarge"):
        assert sdk_uri is None
    else:
        assert sdk_uri is not None
        assert "/djl-inference:" in sdk_uri
    with pytest.raises(UnknownImageError) as raised:
        image_catalog.retrieve_llm_image_uri(
            container,  # type: ignore[arg-type]
            region="us-east-1",
            instance_type=instance_type,
        )
    message = str(raised.value)
    assert "needs NVIDIA GPUs" in message
    assert f"{instance_type} has " in message
    assert "G or P instance type" in message
    assert len(message) < 300, message


def test_llm_gpu_rule_agrees_with_the_instance_catalog() -> None:
    """The SDK's rule (families starting with g or p) accepts exactly the types with NVIDIA GPUs."""
    from endpoint_configs import instance_catalog

    accepted = set()
    for instance in instance_catalog.instance_types():
        try:
            image_catalog.retrieve_llm_image_uri("tgi", region="us-east-1", instance_type=instance.name)
        except UnknownImageError:
            continue
        accepted.add(instance.name)
    with_gpus = {instance.name for instance in instance_catalog.instance_types() if instance.has_gpu}
    assert accepted == with_gpus
    assert len(with_gpus) > 20


@pytest.mark.parametrize(
    ("container", "version", "instance_type", "expected"),
    [
        pytest.param(
            "tgi",
            "3.3.6",
            "ml.g5.2xlarge",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
            "2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
            id="tgi",
        ),
        pytest.param(
            "tgi",
            "3.3",
            "ml.p4d.24xlarge",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
            "2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
            id="tgi alias: the tag names the full version",
        ),
        pytest.param(
            "lmi",
            "0.33.0",
            "ml.g6e.12xlarge",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128",
            id="lmi: the tag is the tag_prefix alone",
        ),
    ],
)
def test_llm_image_for_documented_examples(
    container: image_catalog.LlmContainer, version: str, instance_type: str, expected: str
) -> None:
    assert (
        image_catalog.retrieve_llm_image_uri(
            container, region="us-east-1", version=version, instance_type=instance_type
        )
        == expected
    )


def test_llm_default_version_is_latest_alias_or_newest(sdk: Any) -> None:
    def uri(container: image_catalog.LlmContainer, version: str | None) -> str:
        return image_catalog.retrieve_llm_image_uri(
            container, region="eu-west-1", version=version, instance_type="ml.g5.2xlarge"
        )

    newest_tgi = image_catalog.llm_container_versions("tgi")[0]
    assert uri("tgi", None) == uri("tgi", newest_tgi)
    assert f"-tgi{newest_tgi}-gpu-" in uri("tgi", None)
    assert (
        uri("lmi", None) == uri("lmi", "latest") == uri("lmi", image_catalog.llm_container_versions("lmi")[0])
    )
    # the SDK agrees: version=None (with image_scope="inference") is the same image
    for container in CONTAINERS:
        assert _sdk_llm_uri(sdk, (container, None, "ml.g5.2xlarge", "eu-west-1")) == uri(container, None)


def test_llm_container_versions_list_what_retrieve_serves(sdk: Any) -> None:
    for container in CONTAINERS:
        versions = image_catalog.llm_container_versions(container)
        table = _sdk_llm_table(sdk, container)
        assert set(versions) == set(table["versions"])
        assert versions == tuple(sorted(versions, key=image_catalog._version_key, reverse=True))
        for version in versions:
            assert image_catalog.retrieve_llm_image_uri(
                container,
                region="us-east-1",
                version=version,
                instance_type="ml.g5.2xlarge",
            )
    assert image_catalog.llm_container_versions("vllm") == ()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"container": "tgi", "version": "9.9"},
            ["Hugging Face TGI (huggingface-llm)", "version '9.9'", "more", "short form such as 3.3"],
            id="tgi unknown version",
        ),
        pytest.param(
            {"container": "lmi", "version": "0.33"},
            ["DJL LMI (djl-lmi)", "version '0.33'", "or 'latest'"],
            id="lmi unknown version",
        ),
        pytest.param(
            {"container": "lmi", "region": "me-west-1"},
            ["not published in region 'me-west-1'", "other regions"],
            id="region without lmi images",
        ),
        pytest.param(
            {"container": "tgi", "region": "xx-east-9"},
            ["region 'xx-east-9'", "check the region name"],
            id="unknown region",
        ),
        pytest.param(
            {"container": "tgi", "instance_type": "ml.inf2.xlarge"},
            ["needs NVIDIA GPUs", "ml.inf2.xlarge has AWS Inferentia/Trainium chips", "uri"],
            id="inferentia",
        ),
        pytest.param(
            {"container": "lmi", "instance_type": "ml.c7g.xlarge"},
            ["needs NVIDIA GPUs", "ml.c7g.xlarge", "Graviton"],
            id="graviton",
        ),
        pytest.param(
            {"container": "lmi", "instance_type": "g5.xlarge"},
            ["'g5.xlarge' is not a SageMaker instance type"],
            id="not an instance type",
        ),
        pytest.param(
            {"container": "vllm"},
            ["'vllm'", "tgi (huggingface-llm), lmi (djl-lmi)"],
            id="unknown container",
        ),
    ],
)
def test_no_llm_image_says_what_exists(arguments: dict[str, Any], expected: list[str]) -> None:
    call: dict[str, Any] = {"region": "us-east-1", "instance_type": "ml.g5.2xlarge", **arguments}
    container = call.pop("container")
    with pytest.raises(UnknownImageError) as raised:
        image_catalog.retrieve_llm_image_uri(container, **call)
    message = str(raised.value)
    for text in expected:
        assert text in message
    if "version" in arguments:
        newest = image_catalog.llm_container_versions(container)[:2]
        assert f"versions: {', '.join(newest)}" in message
    assert "pip install" not in message
    assert len(message) < 300, message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param({"training": {}, "inference": {}}, "scopes ['inference', 'training']", id="two scopes"),
        pytest.param(
            {"inference": {"versions": {}, "container_types": []}},
            "unknown keys ['container_types']",
            id="unknown scope key",
        ),
        pytest.param(
            {"inference": {"versions": {"1.0": {"py311": {"repository": "r", "registries": {}}}}}},
            "llm-x/1.0: nested entries",
            id="nested entries",
        ),
        pytest.param(
            {"scope": ["inference"], "versions": {"1.0": {"repository": "r", "registries": {}, "arch": "x"}}},
            "llm-x/1.0: unknown keys ['arch']",
            id="unscoped table, unknown entry key",
        ),
    ],
)
def test_catalog_refuses_llm_tables_with_rules_it_does_not_know(
    config: dict[str, Any], expected: str
) -> None:
    versions = {"1.0": {"repository": "r", "registries": {}, "tag_prefix": "1.0-x"}}
    assert image_catalog.llm_table("llm-x", {"inference": {"versions": versions}}) == {"versions": versions}
    assert image_catalog.llm_table("llm-x", {"scope": ["inference"], "versions": versions}) == {
        "versions": versions
    }
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        image_catalog.llm_table("llm-x", config)
