"""The batch transform workload: offline datasets of any size, instances only while a job runs.

A job reads every object under ``input_path`` and writes one ``<object>.out`` under
``output_path``. Jobs start on a schedule, when new input arrives, by hand (``make batch-run``), or
any of these.
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import (
    CronExpression,
    S3PrefixUri,
    StrictModel,
    TimeZoneName,
    TransformInstanceType,
)
from endpoint_configs.workload import WorkloadBlock

JsonPathExpression = Annotated[str, Field(pattern=r"^\$.*$", max_length=63)]


class BatchSchedule(StrictModel):
    """Start a job at each ``cron`` time (six-field EventBridge form) in ``timezone``."""

    cron: CronExpression = Field(description="Six-field cron, e.g. '0 2 ? * * *' (02:00 daily).")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone. Default: UTC.")


class NewObjectsTrigger(StrictModel):
    """Start a job when objects arrive under the input prefix, at most once per ``debounce_minutes``:
    arrivals queue up, and a check every ``debounce_minutes`` starts one job for all of them (a
    thousand uploads start one job, not a thousand). An input path in another bucket needs
    EventBridge notifications turned on for that bucket; the environment's bucket has them."""

    debounce_minutes: int = Field(
        default=15, ge=1, le=1440, description="Minutes between checks for new input, 1-1440. Default: 15."
    )


class BatchDataProcessing(StrictModel):
    """Select parts of each record before and after the model, and join input to output.
    https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html"""

    input_filter: JsonPathExpression | None = Field(
        default=None, description="JSONPath into each input record, e.g. '$.inputs'. Default: all of it."
    )
    output_filter: JsonPathExpression | None = Field(
        default=None, description="JSONPath into each joined output record. Default: all of it."
    )
    join_source: Literal["None", "Input"] = Field(
        default="None", description="Input: write each input record next to its result. Default: None."
    )


class BatchTransform(WorkloadBlock):
    """A batch transform workload: a Step Functions state machine runs a transform job over the
    input prefix, on a schedule or by hand, and notifies an SNS topic when it ends.

    Payload rule: ``max_payload_mb`` (0-100) x ``max_concurrent_transforms`` <= 100.
    ``MultiRecord`` batches need a ``split_type`` other than ``None``.
    """

    MAX_PAYLOAD_MB = limits.BATCH_PAYLOAD_BUDGET_MB

    type: Literal["batch"]
    job_name_prefix: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,25}$")] | None = Field(
        default=None,
        description="Start of every job's name (1-26 characters; the rest is a UUID). "
        "Default: <project>-<env>-batch, the project cut to fit.",
    )
    instance_type: TransformInstanceType = Field(description="ml.<family>.<size> from the transform list.")
    instance_count: int = Field(default=1, ge=1, le=100, description="Instances per job, 1-100. Default: 1.")
    input_path: S3PrefixUri | None = Field(
        default=None, description="Objects to transform. Default: <env bucket>/batch/input/."
    )
    output_path: S3PrefixUri | None = Field(
        default=None, description="Results, KMS-encrypted. Default: <env bucket>/batch/output/."
    )
    content_type: str = Field(
        default="application/jsonlines", min_length=1, description="Default: application/jsonlines."
    )
    accept: str = Field(
        default="application/jsonlines", min_length=1, description="Default: application/jsonlines."
    )
    split_type: Literal["None", "Line", "RecordIO", "TFRecord"] = Field(
        default="Line", description="How an input object splits into records. Default: Line."
    )
    batch_strategy: Literal["SingleRecord", "MultiRecord"] = Field(
        default="MultiRecord", description="Records per request. Default: MultiRecord."
    )
    max_payload_mb: int = Field(
        default=6,
        ge=limits.BATCH_MAX_PAYLOAD_MB.low,
        le=limits.BATCH_MAX_PAYLOAD_MB.high,
        description="Largest request, 0-100 MB (0: no limit, for streaming containers). Default: 6.",
    )
    max_concurrent_transforms: int = Field(
        default=1, ge=1, description="Requests in flight per instance, >= 1. Default: 1."
    )
    assemble_with: Literal["None", "Line"] = Field(
        default="Line", description="How results join into an output object. Default: Line."
    )
    data_processing: BatchDataProcessing | None = Field(default=None, description="Default: none.")
    environment: dict[Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")], str] = Field(
        default_factory=dict,
        max_length=limits.BATCH_ENVIRONMENT_ENTRIES,
        description="Job environment variables (at most 16), on top of model.environment. Default: none.",
    )
    invocation_timeout_seconds: int = Field(
        default=600,
        ge=limits.BATCH_INVOCATION_TIMEOUT_SECONDS.low,
        le=limits.BATCH_INVOCATION_TIMEOUT_SECONDS.high,
        description="Per request to the model, 1-3600. Default: 600.",
    )
    max_runtime_minutes: int = Field(
        default=240,
        ge=1,
        le=7 * 24 * 60,
        description="A job running longer is stopped, 1-10080. Default: 240.",
    )
    schedule: BatchSchedule | None = Field(default=None, description="Default: none (started by hand).")
    on_new_objects: NewObjectsTrigger | None = Field(
        default=None, description="Start a job for newly arrived input. Default: none."
    )
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731] = Field(
        default=90, description="Days the state machine's execution logs are kept. Default: 90."
    )

    @model_validator(mode="after")
    def _consistent(self) -> BatchTransform:
        budget = self.max_payload_mb * self.max_concurrent_transforms
        if budget > limits.BATCH_PAYLOAD_BUDGET_MB:
            raise ValueError(
                f"max_payload_mb {self.max_payload_mb} x max_concurrent_transforms "
                f"{self.max_concurrent_transforms} = {budget} MB; "
                f"allowed: at most {limits.BATCH_PAYLOAD_BUDGET_MB}"
            )
        if self.batch_strategy == "MultiRecord" and self.split_type == "None":
            raise ValueError(
                "batch_strategy MultiRecord needs records: set split_type Line, RecordIO or TFRecord, "
                "or batch_strategy SingleRecord"
            )
        if self.input_path and self.output_path and self.output_path.startswith(self.input_path):
            raise ValueError(
                f"output_path {self.output_path} is inside input_path {self.input_path}: the next job "
                "would read this job's results; allowed: a prefix outside the input"
            )
        return self

    def instance_type_fields(self) -> dict[str, str]:
        return {"instance_type": self.instance_type}

    def job_prefix(self, project: str, environment: str) -> str:
        """``job_name_prefix``, or ``<project>-<env>-batch`` with the project cut so that the
        prefix stays within 26 characters."""
        if self.job_name_prefix:
            return self.job_name_prefix
        room = limits.BATCH_JOB_NAME_PREFIX_MAX_LENGTH - len(f"-{environment}-batch")
        return f"{project[:room].rstrip('-')}-{environment}-batch"
