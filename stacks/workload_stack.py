"""What every workload stack does the same way: import the environment's store and serve the
model with the right image per instance type (``WorkloadStack``); endpoint kinds also create the
endpoint with the storage-key rule, guarded updates, alarm grants and its name as an output
(``EndpointStack``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from cost_advisor.llm_check import load_timeouts, volume_size_gb
from endpoint_configs import CONFIG_DIR, EndpointSettings, EnvironmentConfig, WorkloadBlock
from endpoint_configs.images import image_uri
from endpoint_configs.instance_catalog import instance_type
from endpoint_configs.naming import ENDPOINT_CONFIG_OUTPUT, compilation_job_prefix
from model_packaging.wheels import container_environment
from sagemaker_constructs.compilation import NeoCompilation
from sagemaker_constructs.endpoint import InferenceEndpoint, ProductionVariant
from sagemaker_constructs.endpoint_alarms import EndpointAlarms
from sagemaker_constructs.execution_role import ModelLogs
from sagemaker_constructs.idle_guard import EndpointIdleGuard
from sagemaker_constructs.model import ServedModel
from sagemaker_constructs.model_data import ArtifactLocation
from sagemaker_constructs.storage import ImportedModelStore
from stacks import props


@dataclass(frozen=True)
class S3Location:
    """An S3 prefix a workload reads or writes: its ``s3://`` URI, its bucket's ARN, and the ARN
    pattern of the objects under it."""

    uri: str
    bucket_arn: str
    objects_arn: str

    @property
    def key_prefix(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[2]


COMPILED_PREFIX = "neo/"
"""Key prefix in the environment's bucket under which each kind's compiled models go."""

Block = TypeVar("Block", bound=WorkloadBlock)
EndpointBlock = TypeVar("EndpointBlock", bound=EndpointSettings)


class WorkloadStack(cdk.Stack, Generic[Block]):
    """Base of every workload stack: ``store`` (the stateful stack's key, bucket and alarm topic,
    by export name) and ``served`` (one model per image build the block's instance types need,
    its role writing to ``model_logs()``, which each kind defines). With ``model.compilation``,
    ``compilation`` compiles the artifact with Neo first and the models serve its output.
    With ``model.serving`` the models run the TGI or LMI container with its settings, and the
    variants get download and start-up timeouts for the weights' size (``load_timeouts``) and, on
    instances without NVMe storage, a volume that holds them (``volume_sizes``).
    Exposes ``config``, ``block``, ``store``, ``compilation`` (or None), ``served`` and
    ``load_timeouts`` and ``volume_sizes``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        block: Block,
        artifact: ArtifactLocation,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.block = block
        self.store = ImportedModelStore(self, "Store", exports=config.stateful_exports)
        self.compilation: NeoCompilation | None = None
        # The toolkit's start-up pip install reads the vendored wheels only (Neo keeps code/).
        environment = {
            **container_environment(None if artifact.manifest is None else artifact.manifest.dependencies),
            **self._serving_environment(),
            **config.model.environment,
        }
        self.load_timeouts = load_timeouts(config, project_root=CONFIG_DIR.parent)
        self.volume_sizes = {
            name: volume_size_gb(config, name, project_root=CONFIG_DIR.parent)
            for name in block.instance_types()
        }
        if config.model.compilation is not None:
            self.compilation = NeoCompilation(
                self,
                "Compilation",
                source=artifact,
                job=props.compilation_job(
                    config.model.compilation, traced_here=artifact.local_archive is not None
                ),
                job_name_prefix=compilation_job_prefix(config.project, config.environment, block.type),
                bucket=self.store.bucket,
                output_prefix=f"{COMPILED_PREFIX}{block.type}/",
                key=self.store.key,
            )
            artifact = self.compilation.compiled
            cdk.CfnOutput(
                self,
                "CompilationJobName",
                value=self.compilation.job_name,
                description=f"Neo job compiling the model for {config.model.compilation.target_label()}",
            )
        self._image_by_instance_type = {
            instance_type: image_uri(config.model, region=config.region, instance_type=instance_type)
            for instance_type in block.image_instance_types()
        }
        self.served = ServedModel(
            self,
            "Served",
            artifact=artifact,
            image_uris=list(self._image_by_instance_type.values()),
            logs=self.model_logs(),
            key=self.store.key,
            environment=environment,
            network_isolation=config.network_isolation(block),
            vpc=props.vpc_placement(config.model.vpc),
            network_isolation_off_because=block.NETWORK_ISOLATION_UNSUPPORTED,
        )

    def _serving_environment(self) -> dict[str, str]:
        """The TGI or LMI container's settings (``model.serving``): GPUs are the fewest of the
        block's instance types have."""
        serving = self.config.model.serving
        if serving is None:
            return {}
        gpus = min(instance_type(name).gpus for name in self.block.instance_types())
        return serving.environment(gpus=gpus)

    def s3_location(self, uri: str | None, default_prefix: str) -> S3Location:
        """The configured ``s3://`` prefix, or ``default_prefix`` in the environment's bucket."""
        if uri is None:
            bucket = self.store.bucket
            return S3Location(
                f"s3://{bucket.bucket_name}/{default_prefix}",
                bucket.bucket_arn,
                bucket.arn_for_objects(f"{default_prefix}*"),
            )
        bucket_name, _, prefix = uri.removeprefix("s3://").partition("/")
        bucket_arn = f"arn:{self.partition}:s3:::{bucket_name}"
        return S3Location(uri, bucket_arn, f"{bucket_arn}/{prefix}*")

    def publish_locations(
        self, what: str, configured: Mapping[str, str | None], default_prefixes: Mapping[str, str]
    ) -> None:
        """An output per location: ``<Name>Path`` with a configured URI, else ``<Name>Prefix`` with
        the key prefix in the environment's bucket (clients read both; ``endpoint_client``)."""
        for name, uri in configured.items():
            title = name.capitalize()
            if uri is not None:
                cdk.CfnOutput(self, f"{title}Path", value=uri, description=f"{what} {name} location")
            else:
                # A key prefix, not the whole s3:// path: outputs that re-export an imported value
                # are a smell (cfn-lint W6001); the bucket is the stateful stack's export.
                cdk.CfnOutput(
                    self,
                    f"{title}Prefix",
                    value=default_prefixes[name],
                    description=f"{what} {name} key prefix in bucket export {self.store.exports.bucket_name}",
                )

    def model_logs(self) -> ModelLogs:
        """Where the kind's model containers write their logs."""
        raise NotImplementedError(f"{type(self).__name__} must say where its models log")

    def model_name_for(self, instance_type: str) -> str:
        """The served model whose image build fits ``instance_type``."""
        return self.served.model_names[self._image_by_instance_type[instance_type]]


class EndpointStack(WorkloadStack[EndpointBlock]):
    """Base of the endpoint workload stacks (real-time, serverless, asynchronous): the model's logs
    go to the endpoint's log group, and the stack outputs ``EndpointName``. Subclasses call
    ``add_endpoint`` with their production variants, then make their kind's ``WorkloadDashboard``
    with ``watched_alarms``. Exposes ``endpoint_name`` and, after ``add_endpoint``, ``alarms`` and
    ``idle_guard`` (or None) besides the base's.
    """

    IDLE_INSTANCES_BILL = True
    """Whether an hour without requests still bills instances (the waste alarm counts it as idle);
    False for kinds that scale to zero or bill per request."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.endpoint_name = self.config.endpoint_name(self.block.type)
        cdk.CfnOutput(
            self, "EndpointName", value=self.endpoint_name, description="Invoke this endpoint by name"
        )

    def model_logs(self) -> ModelLogs:
        return ModelLogs.of_endpoint(self.config.endpoint_name(self.block.type))

    def add_endpoint(
        self,
        production_variants: Sequence[ProductionVariant],
        **options: Any,
    ) -> InferenceEndpoint:
        """The endpoint for ``production_variants``, with the block's guardrails and the storage
        key unless AWS rejects one for its instance types; ``options`` go to ``InferenceEndpoint``
        (data capture, async inference). The endpoint's alarms (``self.alarms``) go to the alarm
        topic; the deployment rolls back on those its ``rollback_alarms.endpoint_alarms`` names, which the
        execution role may read."""
        variant_names = [v.variant_name for v in production_variants]
        self.alarms = EndpointAlarms(
            self,
            "Alarms",
            endpoint_name=self.endpoint_name,
            variant_names=variant_names,
            thresholds=props.alarm_thresholds(self.block.alarms),
            alarm_topic=self.store.alarm_topic,
            idle_instances_bill=self.IDLE_INSTANCES_BILL,
            advice_command=f"make advise ENV={self.config.environment}",
        )
        deployment = self.block.deployment
        by_name = {"errors": self.alarms.errors, "latency": self.alarms.latency}
        rollback = (
            [] if deployment is None else [by_name[n] for n in deployment.rollback_alarms.endpoint_alarms]
        )
        endpoint = InferenceEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            production_variants=production_variants,
            key=self.store.key,
            key_rejected_because=props.storage_key_rejection(self.block.instance_types()),
            deployment=props.guarded_deployment(deployment),
            rollback_alarms=[alarm for alarm in rollback if alarm is not None],
            **options,
        )
        self.served.execution_role.grant_describe_alarms(endpoint.rollback_alarms)
        cdk.CfnOutput(
            self,
            ENDPOINT_CONFIG_OUTPUT,
            value=endpoint.endpoint_config.attr_endpoint_config_name,
            description="What the endpoint runs; brings it back if deleted (make restore)",
        )
        self.idle_guard = self._idle_guard(endpoint)
        return endpoint

    def _idle_guard(self, endpoint: InferenceEndpoint) -> EndpointIdleGuard | None:
        guard = self.config.idle_guard
        if guard is None:
            return None
        idle = EndpointIdleGuard(
            self,
            "IdleGuard",
            endpoint_name=self.endpoint_name,
            variant_names=endpoint.variant_names,
            endpoint_config_name=endpoint.endpoint_config.attr_endpoint_config_name,
            idle_hours=guard.idle_hours,
            delete=guard.action == "delete",
            alarm_topic=self.store.alarm_topic,
            key=self.store.key,
        )
        if idle.function is not None:
            cdk.CfnOutput(
                self,
                "RestoreEndpointCommand",
                value=idle.restore_command,
                description=f"The idle guard deletes the endpoint after {guard.idle_hours} h without "
                "invocations (its config and model stay); this brings it back as it was",
            )
        return idle

    def watched_alarms(self, *extra: cloudwatch.IAlarm) -> list[cloudwatch.IAlarm]:
        """What the stack's dashboard shows on top: the endpoint's alarms, ``extra`` (the kind's
        own) and the idle guard's."""
        guard = [] if self.idle_guard is None else [self.idle_guard.alarm]
        return [*self.alarms.alarms, *extra, *guard]
