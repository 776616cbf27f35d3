"""SageMaker facts from botocore's service models, as a checked-in table: hosting and transform
instance types, the regions SageMaker runs in (every partition), and the enums of Neo compilation
jobs (frameworks, target devices, target platforms).

``service_tables.json`` next to this module is generated from the pinned botocore, so the lists
move with the SDK, and synth reads a 5 KB file instead of loading botocore's SageMaker model
(about 0.3 s). ``tests/endpoint_configs/test_service_catalog.py`` regenerates it and compares::

    python -m endpoint_configs catalogs          # rewrite service_tables.json
    python -m endpoint_configs catalogs --check  # exit 1 if it is stale
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from endpoint_configs.generated import refresh_main

TABLE_PATH = Path(__file__).with_name("service_tables.json")


@functools.cache
def _table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return table


def hosting_instance_types() -> tuple[str, ...]:
    """Every instance type a production variant accepts (``ProductionVariantInstanceType``)."""
    return tuple(_table()["hosting_instance_types"])


def transform_instance_types() -> tuple[str, ...]:
    """Every instance type a transform job accepts (``TransformInstanceType``)."""
    return tuple(_table()["transform_instance_types"])


def sagemaker_regions() -> tuple[str, ...]:
    """Every region SageMaker runs in, in every partition."""
    return tuple(_table()["sagemaker_regions"])


NEO_ENUMS = (
    "Framework",
    "TargetDevice",
    "TargetPlatformOs",
    "TargetPlatformArch",
    "TargetPlatformAccelerator",
)
"""The ``CreateCompilationJob`` enums the table keeps."""


def neo_enum(name: str) -> tuple[str, ...]:
    """A ``CreateCompilationJob`` enum: ``Framework``, ``TargetDevice``, ``TargetPlatformOs``,
    ``TargetPlatformArch`` or ``TargetPlatformAccelerator``."""
    return tuple(_table()["neo"][name])


def build_table() -> dict[str, Any]:
    """The table from the installed botocore."""
    from importlib.metadata import version as installed_version

    import botocore.session

    session = botocore.session.get_session()
    model = session.get_service_model("sagemaker")
    return {
        "generated_from": {"botocore": installed_version("botocore")},
        "hosting_instance_types": sorted(model.shape_for("ProductionVariantInstanceType").enum),
        "transform_instance_types": sorted(model.shape_for("TransformInstanceType").enum),
        "sagemaker_regions": sorted(
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions("sagemaker", partition_name=partition)
        ),
        # Kept in the API's order, which error messages show.
        "neo": {name: list(model.shape_for(name).enum) for name in NEO_ENUMS},
    }


def main(argv: Sequence[str] | None = None) -> int:
    return refresh_main(
        argv,
        command="python -m endpoint_configs catalogs",
        path=TABLE_PATH,
        build=build_table,
        source="botocore",
    )
