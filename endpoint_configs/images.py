"""Resolve container image URIs offline, per instance type (CPU or GPU build of the container).

Framework images come from ``sagemaker.core.image_uris``, which reads the deep learning container
tables shipped inside the ``sagemaker-core`` package: no network call at synth time.
"""

from __future__ import annotations

import functools
import logging

from endpoint_configs.environment import EnvironmentConfig
from endpoint_configs.errors import Problem
from endpoint_configs.model import ContainerImage


class ImageResolutionError(ValueError):
    """The framework, version or Python version has no image for this region and instance type."""


@functools.cache
def _retrieve(
    framework: str,
    region: str,
    version: str,
    py_version: str | None,
    instance_type: str,
    base_framework_version: str | None,
) -> str:
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    from sagemaker.core import image_uris

    try:
        return str(
            image_uris.retrieve(
                framework=framework,
                region=region,
                version=version,
                py_version=py_version,
                instance_type=instance_type,
                image_scope="inference",
                base_framework_version=base_framework_version,
            )
        )
    except (ValueError, KeyError) as error:
        raise ImageResolutionError(str(error)) from None


def image_uri(image: ContainerImage, *, region: str, instance_type: str) -> str:
    """The ECR URI to run ``image`` on ``instance_type`` in ``region``."""
    if image.uri is not None:
        return image.uri
    if image.framework is None or image.framework_version is None:
        raise ImageResolutionError("the image needs 'uri', or 'framework' with 'framework_version'")
    return _retrieve(
        image.framework,
        region,
        image.framework_version,
        image.py_version,
        instance_type,
        image.base_framework_version,
    )


def image_problems(config: EnvironmentConfig) -> list[Problem]:
    """Problems resolving the model image for every instance type of every workload block."""
    image = config.model.image
    if image.uri is not None:
        return []
    for block in config.endpoints:
        for instance_type in block.image_instance_types():
            try:
                image_uri(image, region=config.region, instance_type=instance_type)
            except ImageResolutionError as error:
                wanted = f"{image.framework} {image.framework_version} {image.py_version or ''}".strip()
                where = config.workload_path(block.type)
                return [
                    Problem(
                        "model.image",
                        f"no {wanted} inference image for {instance_type} in {config.region} "
                        f"({where}): {error}",
                        has_value=False,
                    )
                ]
    return []
