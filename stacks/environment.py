"""Compose one environment's stacks: the stateful stack and the chosen workload kind's stack."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk

from endpoint_configs import ArtifactSource, EnvironmentConfig
from endpoint_configs.naming import STATEFUL_PURPOSE
from model_packaging.build import BuiltArtifact
from sagemaker_constructs.compliance import add_rule_packs
from sagemaker_constructs.model_data import ArtifactLocation
from stacks.registry import WORKLOAD_KINDS
from stacks.stateful import StatefulStack


@dataclass(frozen=True)
class EnvironmentStacks:
    """What ``add_environment`` created."""

    stateful: StatefulStack
    inference: cdk.Stack


def locate_artifact(source: ArtifactSource, built: BuiltArtifact | None) -> ArtifactLocation:
    """The configured artifact as the stacks use it: an S3 object or prefix, or the local build
    (``model_packaging.environment.prepare_artifact``) deployed as a CDK asset."""
    if built is None:
        return ArtifactLocation(s3_uri=source.s3_uri, s3_prefix=source.s3_prefix)
    return ArtifactLocation(local_archive=built.path, manifest=built.manifest)


def add_environment(
    app: cdk.App,
    config: EnvironmentConfig,
    kind: str,
    *,
    artifact: ArtifactLocation,
    local_aws: bool = False,
) -> EnvironmentStacks:
    """Add ``<project>-<env>-stateful`` and ``<project>-<env>-<kind>`` to ``app``.

    ``artifact`` comes from ``locate_artifact``. Tags every resource with the config's tags plus
    project and environment, and runs the cdk-nag packs on the whole app. ``local_aws`` leaves out
    the bootstrap-version parameter and rule, which moto's CloudFormation cannot update.
    """
    environment = cdk.Environment(account=config.account, region=config.region)
    stateful = StatefulStack(
        app,
        config.stack_name(STATEFUL_PURPOSE),
        config=config.stateful,
        exports=config.stateful_exports,
        budget=config.budget,
        budget_name=f"{config.project}-{config.environment}-monthly",
        cost_allocation_tags={"project": config.project, "environment": config.environment},
        env=environment,
        synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local_aws),
        description=f"{config.project} {config.environment}: KMS key, artifact bucket, alarm topic",
    )
    inference = WORKLOAD_KINDS[kind].stack(
        app,
        config.stack_name(kind),
        config=config,
        block=config.workload(kind),
        artifact=artifact,
        env=environment,
        synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local_aws),
        description=f"{config.project} {config.environment}: {kind} SageMaker inference",
    )
    inference.add_stack_dependency(stateful)
    for key, value in {"project": config.project, "environment": config.environment, **config.tags}.items():
        cdk.Tags.of(stateful).add(key, value)
        cdk.Tags.of(inference).add(key, value)
    add_rule_packs(app)
    return EnvironmentStacks(stateful=stateful, inference=inference)
