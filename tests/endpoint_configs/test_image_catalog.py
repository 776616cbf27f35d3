"""The image catalog answers exactly as the pinned SageMaker SDK does, without importing it.

The sample is built from the SDK's own tables (not from the catalog), so a version, Python
version or base framework missing from ``image_uris.json`` shows up as a mismatch. For every
combination both must give the same URI, or both must find no image.
"""

from __future__ import annotations

import functools
import itertools
import logging
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
        from endpoint_configs.image_catalog import retrieve_image_uri
        uri = retrieve_image_uri(
            framework="huggingface", region="eu-west-1", version="4.49", py_version="py312",
            instance_type="ml.g5.xlarge", base_framework_version="pytorch2.6",
        )
        assert uri.endswith(":2.6-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"), uri
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sagemaker", "aws_cdk", "jsii"))
        print(" ".join(loaded))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "", f"imported: {completed.stdout.strip()}"
