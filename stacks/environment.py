"""Compose one environment's stacks: the stateful stack and the chosen inference stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from endpoint_configs.models import ArtifactSource, EnvironmentConfig
from model_packaging.build import build_artifact_cached
from model_packaging.sources import resolve_source_dir
from stacks.async_stack import AsyncInferenceStack
from stacks.compliance import add_rule_packs
from stacks.model_data import ArtifactLocation
from stacks.realtime_stack import RealtimeInferenceStack
from stacks.serverless_stack import ServerlessInferenceStack
from stacks.stateful import StatefulStack

INFERENCE_STACKS: dict[str, type[RealtimeInferenceStack | ServerlessInferenceStack | AsyncInferenceStack]] = {
    "realtime": RealtimeInferenceStack,
    "serverless": ServerlessInferenceStack,
    "async": AsyncInferenceStack,
}
BUILD_DIR = Path("build") / "artifacts"
"""Where synth-time builds go, under the project root (ignored by git)."""


@dataclass(frozen=True)
class EnvironmentStacks:
    """What ``add_environment`` created."""

    stateful: StatefulStack
    inference: cdk.Stack


def locate_artifact(source: ArtifactSource, *, project_root: Path) -> ArtifactLocation:
    """The config's artifact as the stacks use it; a ``build`` is built now (cached by content).

    Raises ``model_packaging.errors.PackagingError`` when the build inputs are bad.
    """
    if source.build is None:
        return ArtifactLocation(s3_uri=source.s3_uri, s3_prefix=source.s3_prefix)
    built = build_artifact_cached(
        resolve_source_dir(source.build.model_dir, base=project_root),
        resolve_source_dir(source.build.code_dir, base=project_root),
        project_root / BUILD_DIR,
    )
    return ArtifactLocation(local_archive=built.path, manifest=built.manifest)


def add_environment(
    app: cdk.App,
    config: EnvironmentConfig,
    endpoint_type: str,
    *,
    artifact: ArtifactLocation,
    local_aws: bool = False,
) -> EnvironmentStacks:
    """Add ``<project>-<env>-stateful`` and ``<project>-<env>-<endpoint_type>`` to ``app``.

    ``artifact`` comes from ``locate_artifact``. Tags every resource with the config's tags plus
    project and environment, and runs the cdk-nag packs on the whole app. ``local_aws`` leaves out
    the bootstrap-version parameter and rule, which moto's CloudFormation cannot update.
    """
    environment = cdk.Environment(account=config.account, region=config.region)
    stateful = StatefulStack(
        app,
        config.stack_name("stateful"),
        config=config.stateful,
        env=environment,
        synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local_aws),
        description=f"{config.project} {config.environment}: KMS key, artifact bucket, alarm topic",
        termination_protection=config.environment == "prod",
    )
    inference = INFERENCE_STACKS[endpoint_type](
        app,
        config.stack_name(endpoint_type),
        config=config,
        store_exports=stateful.exports,
        artifact=artifact,
        env=environment,
        synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local_aws),
        description=f"{config.project} {config.environment}: {endpoint_type} SageMaker inference",
    )
    inference.add_stack_dependency(stateful)
    for key, value in {"project": config.project, "environment": config.environment, **config.tags}.items():
        cdk.Tags.of(stateful).add(key, value)
        cdk.Tags.of(inference).add(key, value)
    add_rule_packs(app)
    return EnvironmentStacks(stateful=stateful, inference=inference)
