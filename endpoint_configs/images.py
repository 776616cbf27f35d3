"""Resolve container image URIs offline, per instance type (CPU or GPU build of the container).

Framework images, and the images that serve Neo-compiled models, come from
``endpoint_configs/image_uris.json``, the tables of the pinned ``sagemaker-core`` (``make catalogs``
regenerates it; a test keeps the two equal), so synth neither calls the network nor imports the
SageMaker SDK.
"""

from __future__ import annotations

from endpoint_configs.environment import EnvironmentConfig
from endpoint_configs.errors import Problem
from endpoint_configs.image_catalog import (
    UnknownImageError,
    retrieve_image_uri,
    retrieve_llm_image_uri,
    retrieve_neo_image_uri,
)
from endpoint_configs.model import ModelConfig


def image_uri(model: ModelConfig, *, region: str, instance_type: str) -> str:
    """The ECR URI that serves ``model`` on ``instance_type`` in ``region``: ``image.uri`` when
    given, else the TGI or LMI container of ``serving``, else Neo's image for the compilation
    target, else the framework's image."""
    image, compilation = model.image, model.compilation
    if image is not None and image.uri is not None:
        return image.uri
    if model.serving is not None:
        return retrieve_llm_image_uri(
            model.serving.type, region=region, version=model.serving.version, instance_type=instance_type
        )
    if compilation is not None:
        return retrieve_neo_image_uri(
            framework=compilation.framework,
            framework_version=compilation.framework_version,
            region=region,
            target=compilation.target_device or instance_type,
        )
    if image is None or image.framework is None or image.framework_version is None:
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
    """Problems resolving the serving image for every instance type of every workload block."""
    model = config.model
    if model.image is not None and model.image.uri is not None:
        return []
    for block in config.endpoints:
        for instance_type in block.image_instance_types():
            try:
                image_uri(model, region=config.region, instance_type=instance_type)
            except UnknownImageError as error:
                where = config.workload_path(block.type)
                if model.serving is not None:
                    return [
                        Problem(
                            "model.serving",
                            f"no {model.serving.type} container for {instance_type} in {config.region} "
                            f"({where}): {error}",
                            has_value=False,
                        )
                    ]
                if model.compilation is not None:
                    compilation = model.compilation
                    wanted = f"Neo {compilation.framework} {compilation.framework_version or ''}".strip()
                    return [
                        Problem(
                            "model.compilation",
                            f"no {wanted} serving image for {compilation.target_label()} in "
                            f"{config.region} ({where}): {error}; or set model.image.uri",
                            has_value=False,
                        )
                    ]
                assert model.image is not None  # ModelConfig requires image or compilation
                image = model.image
                wanted = f"{image.framework} {image.framework_version} {image.py_version or ''}".strip()
                return [
                    Problem(
                        "model.image",
                        f"no {wanted} inference image for {instance_type} in {config.region} "
                        f"({where}): {error}",
                        has_value=False,
                    )
                ]
    return []
