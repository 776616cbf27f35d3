"""Resolve container image URIs offline, per instance type (CPU or GPU build of the container).

Framework images come from ``endpoint_configs/image_uris.json``, the deep learning container
tables of the pinned ``sagemaker-core`` (``make catalogs`` regenerates it; a test keeps the two
equal), so synth neither calls the network nor imports the SageMaker SDK.
"""

from __future__ import annotations

from endpoint_configs.environment import EnvironmentConfig
from endpoint_configs.errors import Problem
from endpoint_configs.image_catalog import UnknownImageError, retrieve_image_uri
from endpoint_configs.model import ContainerImage


def image_uri(image: ContainerImage, *, region: str, instance_type: str) -> str:
    """The ECR URI to run ``image`` on ``instance_type`` in ``region``."""
    if image.uri is not None:
        return image.uri
    if image.framework is None or image.framework_version is None:
        raise UnknownImageError("the image needs 'uri', or 'framework' with 'framework_version'")
    return retrieve_image_uri(
        framework=image.framework,
        region=region,
        version=image.framework_version,
        py_version=image.py_version,
        instance_type=instance_type,
        base_framework_version=image.base_framework_version,
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
            except UnknownImageError as error:
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
