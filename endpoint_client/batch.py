"""Start a workload that runs as a job (``Invocation.JOB`` in ``stacks.registry``) by hand, and wait
for it, on any AWS the clients point at: a real account or the local AWS.

The job's stack publishes a Step Functions state machine (output ``StateMachineArn``) that runs one
transform job over its input location and hands on the job's ``DescribeTransformJob`` answer at
``$.job``; when the job fails, the state machine catches the error at ``$.error`` (``Error``,
``Cause``), publishes it, and fails.

- :func:`job_kind`: the environment's workload kind that runs as a job (or the one asked for);
- :func:`start_batch_run`: ``StartExecution`` with input ``{"trigger": "manual"}``; the execution ARN;
- :func:`wait_for_batch_run`: ``DescribeExecution`` polled with backoff until the execution ends, for
  at most ``timeout_seconds``; a :class:`BatchRunResult`;
- :func:`batch_locations`: where the job reads and writes, as its stack publishes them.

Importing this module imports ``stacks.registry`` and with it aws_cdk (about 1 s of jsii start-up).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from endpoint_client.clients import Clients
from endpoint_client.errors import (
    BatchRunTimeoutError,
    JobKindError,
    NotAJobError,
    NotDeployedError,
    duration,
    one_line,
)
from endpoint_client.invoke import PollSchedule
from endpoint_client.request import DEFAULT_BATCH_TIMEOUT_SECONDS
from endpoint_client.stack_outputs import deployed_stack, stack_locations
from endpoint_configs import EnvironmentConfig
from stacks.registry import WORKLOAD_KINDS, Invocation

BATCH_POLL = PollSchedule(first_seconds=2.0, factor=1.5, longest_seconds=60.0)
"""Waits between looks at a running execution: 2 s, growing to a minute (a job runs minutes to hours)."""
MANUAL_INPUT = {"trigger": "manual"}
"""The execution input of a run started by hand (a schedule starts it with ``"schedule"``)."""
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"


@dataclass(frozen=True)
class BatchRunResult:
    """How a batch run ended.

    ``status`` is the execution's (``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED``);
    ``job_status`` the transform job's (``Completed``, ``Failed``, ``Stopped``) when it got that far.
    ``started`` and ``ended`` are the job's ``TransformStartTime`` and ``TransformEndTime``;
    ``output_location`` is its ``S3OutputPath``; ``failure_reason`` one line, when it did not succeed.
    """

    execution_arn: str
    status: str
    job_name: str | None = None
    job_status: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    output_location: str | None = None
    failure_reason: str | None = None
    waited_seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def duration_seconds(self) -> float | None:
        """The job's run time (end - start), when both are known."""
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


def job_kinds(config: EnvironmentConfig) -> tuple[str, ...]:
    """The kinds ``config``'s environment offers that run as a job, in its order."""
    return tuple(
        kind for kind in config.offered_endpoint_types if WORKLOAD_KINDS[kind].invocation is Invocation.JOB
    )


def job_kind(config: EnvironmentConfig, requested: str | None = None) -> str:
    """``requested`` (an offered kind) when it runs as a job (else :class:`NotAJobError`); without
    one, the environment's only kind that runs as a job (else :class:`JobKindError` listing them)."""
    if requested:
        invocation = WORKLOAD_KINDS[requested].invocation
        if invocation is not Invocation.JOB:
            raise NotAJobError(requested, invocation.value)
        return requested
    kinds = job_kinds(config)
    if len(kinds) == 1:
        return kinds[0]
    offered = ", ".join(config.offered_endpoint_types)
    if not kinds:
        runnable = ", ".join(
            name for name, kind in WORKLOAD_KINDS.items() if kind.invocation is Invocation.JOB
        )
        raise JobKindError(
            f"environment {config.environment} offers no workload that runs as a job (it offers {offered}; "
            f"kinds that run as a job: {runnable or 'none'}): add one to its endpoints"
        )
    raise JobKindError(
        f"environment {config.environment} offers several workloads that run as a job ({', '.join(kinds)}): "
        "choose one with --endpoint-type (make batch-run ENDPOINT_TYPE=...)"
    )


def batch_locations(cloudformation: Any, config: EnvironmentConfig, kind: str) -> tuple[str, str, str, str]:
    """Input bucket, input key prefix, output bucket and output key prefix of ``kind``'s job, as its
    deployed stack publishes them (``InputPath``/``OutputPath``, or ``InputPrefix``/``OutputPrefix``
    in the environment's bucket). :class:`NotDeployedError` when the stack (or the stateful stack's
    bucket export) is missing, :class:`StackOutputMissingError` when it publishes neither output."""
    stack = deployed_stack(cloudformation, config.stack_name(kind))
    (input_bucket, input_prefix), (output_bucket, output_prefix) = stack_locations(
        cloudformation, config, stack, "Input", "Output"
    )
    return input_bucket, input_prefix, output_bucket, output_prefix


def start_batch_run(clients: Clients, config: EnvironmentConfig, kind: str) -> str:
    """Start an execution of ``kind``'s state machine (its stack's ``StateMachineArn`` output) with
    input ``{"trigger": "manual"}``; its ARN. :class:`NotAJobError` for a kind called as an endpoint,
    :class:`NotDeployedError` when the stack or its state machine does not exist."""
    invocation = WORKLOAD_KINDS[kind].invocation
    if invocation is not Invocation.JOB:
        raise NotAJobError(kind, invocation.value)
    stack = deployed_stack(clients("cloudformation"), config.stack_name(kind))
    state_machine_arn = stack.output("StateMachineArn")
    try:
        started = clients("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=_execution_name(), input=json.dumps(MANUAL_INPUT)
        )
    except ClientError as error:
        if error.response["Error"].get("Code") == "StateMachineDoesNotExist":
            raise NotDeployedError(
                "state machine", state_machine_arn, f"output of stack {stack.name}"
            ) from error
        raise
    arn: str = started["executionArn"]
    return arn


def _execution_name() -> str:
    """``manual-<UTC time>-<12 hex>``: says who started it and when, and never repeats."""
    return f"manual-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:12]}"


def wait_for_batch_run(
    clients: Clients,
    execution_arn: str,
    *,
    timeout_seconds: float = DEFAULT_BATCH_TIMEOUT_SECONDS,
    poll: PollSchedule | None = None,
) -> BatchRunResult:
    """Look at the execution until it has ended or ``timeout_seconds`` have passed
    (:class:`BatchRunTimeoutError`; the run goes on); waits between looks follow ``poll`` (default
    :data:`BATCH_POLL`). A run that did not succeed is a result too, with its ``failure_reason``."""
    stepfunctions = clients("stepfunctions")

    def look() -> dict[str, Any] | None:
        execution: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution_arn)
        return execution if execution["status"] != RUNNING else None

    ended, waited = (poll or BATCH_POLL).until(look, timeout_seconds=timeout_seconds)
    if ended is None:
        raise BatchRunTimeoutError(execution_arn, RUNNING, waited)
    return _result(stepfunctions, ended, waited)


def _result(stepfunctions: Any, execution: dict[str, Any], waited: float) -> BatchRunResult:
    arn = str(execution["executionArn"])
    status = str(execution["status"])
    if status == SUCCEEDED:
        job = _as_job(_json(execution.get("output")).get("job"))
        return _with_job(BatchRunResult(arn, status, waited_seconds=waited), job)
    error, cause = _caught_error(stepfunctions, arn)
    if error is None and cause is None:
        error, cause = execution.get("error"), execution.get("cause")
    job = _as_job(_json(cause))
    reason = job.get("FailureReason") if job else None
    if not reason:
        told = ": ".join(one_line(str(part)) for part in (error, cause) if part)
        reason = told or {"ABORTED": "the execution was stopped"}.get(status, f"the execution ended {status}")
    if status == "TIMED_OUT":
        reason = f"the execution timed out: {reason}"
    return _with_job(
        BatchRunResult(arn, status, failure_reason=one_line(str(reason)), waited_seconds=waited), job
    )


def _caught_error(stepfunctions: Any, arn: str) -> tuple[str | None, str | None]:
    """The error the state machine caught at ``$.error`` (the input of the state it went on to), else
    the last failed task's; (None, None) when the history has neither."""
    events: list[dict[str, Any]] = []
    for page in stepfunctions.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page.get("events", []))
    for event in reversed(events):
        caught = _json(event.get("stateEnteredEventDetails", {}).get("input")).get("error")
        if isinstance(caught, dict) and ("Error" in caught or "Cause" in caught):
            return _text(caught.get("Error")), _text(caught.get("Cause"))
    for event in reversed(events):
        for key, details in event.items():
            if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
                return _text(details.get("error")), _text(details.get("cause"))
    return None, None


def _with_job(result: BatchRunResult, job: dict[str, Any]) -> BatchRunResult:
    if not job:
        return result
    output = job.get("TransformOutput", {})
    return BatchRunResult(
        execution_arn=result.execution_arn,
        status=result.status,
        job_name=_text(job.get("TransformJobName")),
        job_status=_text(job.get("TransformJobStatus")),
        started=_time(job.get("TransformStartTime")),
        ended=_time(job.get("TransformEndTime")),
        output_location=_text(output.get("S3OutputPath")) if isinstance(output, dict) else None,
        failure_reason=result.failure_reason,
        waited_seconds=result.waited_seconds,
    )


def _as_job(value: Any) -> dict[str, Any]:
    """A DescribeTransformJob answer, or empty."""
    return value if isinstance(value, dict) and "TransformJobName" in value else {}


def _json(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> datetime | None:
    """A time as Step Functions hands on SageMaker's: epoch milliseconds (or an ISO 8601 string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value
    return None


def describe(result: BatchRunResult) -> str:
    """Why a run did not succeed, in one line (for people)."""
    job = ""
    if result.job_name:
        took = result.duration_seconds
        job = f"transform job {result.job_name} {result.job_status}"
        job += (f" after {duration(took)}" if took is not None else "") + ": "
    return f"batch run {result.execution_arn} {result.status}: {job}{result.failure_reason}"
