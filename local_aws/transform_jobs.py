"""SageMaker batch transform jobs that run for real on the local AWS, and Step Functions'
``sagemaker:createTransformJob.sync`` task that waits for them.

moto 5.2's ``CreateTransformJob`` stores the job as ``Completed`` at once and reads and writes
nothing; its Step Functions interpreter forwards SageMaker tasks to that API (request-response only)
and fails a ``.sync`` task with "Unsupported .sync callback procedure". Here, as in SageMaker
(https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html):

- :func:`run_transform_job` reads every object under the job's ``S3Uri`` from moto's S3, splits it
  into records (``SplitType``), groups them into requests (``BatchStrategy``, ``MaxPayloadInMB``),
  has the job's model answer each request through a :class:`ModelRunner` (the model router of
  :mod:`local_aws.model_routing`), and writes one ``<input key>.out`` object per input object under
  ``S3OutputPath``, joining the answers with newlines when ``AssembleWith`` is ``Line``. The job is
  ``InProgress`` meanwhile and ends ``Completed``, or ``Failed`` with a ``FailureReason`` naming the
  object and the model's message;
- :class:`SageMakerTaskService` is the Step Functions task for ``arn:aws:states:::sagemaker:*``: it
  keeps moto's request-response forwarding and runs ``createTransformJob.sync`` to the end, with
  ``DescribeTransformJob``'s answer as the task's result.

The fixes ``sagemaker-transform-jobs`` and ``stepfunctions-sagemaker-sync`` in
:mod:`local_aws.moto_fixes` install both.
"""

from __future__ import annotations

import datetime
import gzip
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from botocore.exceptions import ClientError
from moto.s3.models import s3_backends
from moto.sagemaker.models import FakeTransformJob
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.utilities.utils import get_partition

if TYPE_CHECKING:
    from local_aws.moto_fixes import RoutedInvocation

__all__ = [
    "DEFAULT_MAX_PAYLOAD_MB",
    "ModelRunner",
    "SageMakerTaskService",
    "TransformFailedError",
    "output_location",
    "run_transform_job",
    "split_records",
]

logger = logging.getLogger(__name__)

MB: Final = 1024 * 1024
DEFAULT_MAX_PAYLOAD_MB: Final = 6
"""SageMaker's MaxPayloadInMB when CreateTransformJob does not give one."""
FAILURE_REASON_MAX_CHARS: Final = 1024
"""The length botocore's SageMaker model allows a ``FailureReason``."""
_TERMINAL_STATUSES: Final = frozenset({"Completed", "Failed", "Stopped"})


@runtime_checkable
class ModelRunner(Protocol):
    """Runs one request on a SageMaker model by name (a transform job has a model, no endpoint); None
    when it has no local copy of that model (the job then keeps moto's behaviour)."""

    def run_model(
        self,
        account_id: str,
        region: str,
        model_name: str,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        max_payload_bytes: int,
    ) -> RoutedInvocation | None: ...


class TransformFailedError(Exception):
    """The job fails with this ``FailureReason``."""


class _NoLocalModelError(Exception):
    """The runner has no copy of the job's model: moto's behaviour stays."""


# -- running a job -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """What a job's CreateTransformJob request says about reading, batching and writing."""

    content_type: str | None
    accept: str | None
    split_type: str
    compression: str
    batch_strategy: str
    max_payload_bytes: int | None  # None: MaxPayloadInMB 0, no limit
    assemble_with: str

    @classmethod
    def of(cls, job: FakeTransformJob) -> _Settings:
        source: dict[str, Any] = dict(job.transform_input or {})
        output: dict[str, Any] = dict(job.transform_output or {})
        megabytes = DEFAULT_MAX_PAYLOAD_MB if job.max_payload_in_mb is None else int(job.max_payload_in_mb)
        return cls(
            content_type=source.get("ContentType"),
            accept=output.get("Accept"),
            split_type=str(source.get("SplitType") or "None"),
            compression=str(source.get("CompressionType") or "None"),
            batch_strategy=str(job.batch_strategy or "MultiRecord"),
            max_payload_bytes=megabytes * MB if megabytes > 0 else None,
            assemble_with=str(output.get("AssembleWith") or "None"),
        )


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def run_transform_job(job: FakeTransformJob, account_id: str, region: str, runner: ModelRunner) -> None:
    """Run ``job`` on its model through ``runner`` and record the outcome on the job, as
    DescribeTransformJob and ListTransformJobs report it: ``InProgress`` while it runs, then
    ``Completed``, or ``Failed`` with a ``FailureReason``. Without a local copy of the model the job
    ends ``Completed`` with nothing written (moto's behaviour)."""
    job.transform_job_status = "InProgress"
    job.failure_reason = ""
    job.transform_start_time = job.last_modified_time = _now()
    try:
        _transform(job, account_id, region, runner)
    except _NoLocalModelError:
        logger.info("no local copy of model %s: transform job %s writes nothing", job.model_name, job.arn)
        job.transform_job_status = "Completed"
    except TransformFailedError as failure:
        job.transform_job_status = "Failed"
        job.failure_reason = str(failure)[:FAILURE_REASON_MAX_CHARS]
    except Exception as error:  # a bug here must not leave the job InProgress forever
        logger.exception("transform job %s failed unexpectedly", job.arn)
        job.transform_job_status = "Failed"
        job.failure_reason = f"InternalServerError: {error}"[:FAILURE_REASON_MAX_CHARS]
    else:
        job.transform_job_status = "Completed"
    job.transform_end_time = job.last_modified_time = _now()
    logger.info("transform job %s: %s %s", job.arn, job.transform_job_status, job.failure_reason)


def _transform(job: FakeTransformJob, account_id: str, region: str, runner: ModelRunner) -> None:
    settings = _Settings.of(job)
    _check_supported(job, settings)
    storage = s3_backends[account_id][get_partition(region)]
    transform_input: dict[str, Any] = job.transform_input
    transform_output: dict[str, Any] = job.transform_output
    input_uri = str(transform_input["DataSource"]["S3DataSource"]["S3Uri"])
    output_path = str(transform_output["S3OutputPath"])
    bucket, _, prefix = input_uri.removeprefix("s3://").partition("/")
    try:
        keys = sorted(key for key in storage.get_bucket(bucket).keys if key.startswith(prefix))
    except Exception:  # moto raises its own S3 error for a missing bucket
        keys = []
    keys = [key for key in keys if not key.endswith("/")]
    if not keys:
        raise TransformFailedError(
            f'ClientError: No S3 objects found under S3 URL "{input_uri}" given in input data source. '
            "Please ensure that the bucket exists in the selected region, and that objects exist under "
            "that S3 prefix."
        )
    for key in keys:
        stored = storage.get_object(bucket, key)
        data = bytes(stored.value) if stored is not None else b""
        where = f"s3://{bucket}/{key}"
        if settings.compression == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise TransformFailedError(f"ClientError: {where} is not gzip data ({error})") from None
        answers = [
            _invoke(runner, job, account_id, region, settings, request, where, first, last)
            for request, first, last in _requests(split_records(data, settings.split_type), settings, where)
        ]
        separator = b"\n" if settings.assemble_with == "Line" else b""
        result = separator.join(answer.rstrip(b"\n") if separator else answer for answer in answers)
        out_bucket, _, out_key = (
            output_location(input_uri, key, output_path).removeprefix("s3://").partition("/")
        )
        storage.put_object(out_bucket, out_key, result)


def _check_supported(job: FakeTransformJob, settings: _Settings) -> None:
    """Fail, naming the setting, on what this local run does not do (rather than do it wrongly)."""
    transform_input: dict[str, Any] = job.transform_input or {}
    s3_source = (transform_input.get("DataSource") or {}).get("S3DataSource")
    unsupported = []
    if not s3_source:
        unsupported.append("a DataSource without S3DataSource")
    elif str(s3_source.get("S3DataType") or "S3Prefix") != "S3Prefix":
        unsupported.append(f"S3DataType {s3_source.get('S3DataType')}")
    if settings.split_type not in ("None", "Line"):
        unsupported.append(f"SplitType {settings.split_type}")
    processing: dict[str, Any] = dict(job.data_processing or {})
    for name, neutral in (("InputFilter", "$"), ("OutputFilter", "$"), ("JoinSource", "None")):
        if processing.get(name) not in (None, "", neutral):
            unsupported.append(f"DataProcessing {name} {processing[name]}")
    if unsupported:
        raise TransformFailedError(
            f"ClientError: the local AWS does not run transform jobs with {', '.join(unsupported)}"
        )


def split_records(data: bytes, split_type: str) -> list[bytes]:
    """The records of one input object: each non-empty line for ``Line`` (without its line break),
    the whole object for ``None``."""
    if split_type == "Line":
        return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]
    return [data]


def _requests(records: list[bytes], settings: _Settings, where: str) -> Iterator[tuple[bytes, int, int]]:
    """(body, first record number, last record number) of each request: one record each for
    ``SingleRecord``; for ``MultiRecord``, as many consecutive records as fit ``MaxPayloadInMB``,
    joined with line breaks when split by line. A record over the limit fails the job."""
    limit = settings.max_payload_bytes
    separator = b"\n" if settings.split_type == "Line" else b""
    batch: list[bytes] = []
    size = 0
    first = 1
    for number, record in enumerate(records, start=1):
        if limit is not None and len(record) > limit:
            raise TransformFailedError(
                f"ClientError: Too much data for max payload size: record {number} of {where} is "
                f"{len(record)} bytes, over MaxPayloadInMB={limit // MB}"
            )
        grown = size + len(record) + (len(separator) if batch else 0)
        if batch and (settings.batch_strategy == "SingleRecord" or (limit is not None and grown > limit)):
            yield separator.join(batch), first, number - 1
            batch, size, first = [], 0, number
            grown = len(record)
        batch.append(record)
        size = grown
    if batch:
        yield separator.join(batch), first, len(records)


def _invoke(
    runner: ModelRunner,
    job: FakeTransformJob,
    account_id: str,
    region: str,
    settings: _Settings,
    body: bytes,
    where: str,
    first: int,
    last: int,
) -> bytes:
    routed = runner.run_model(
        account_id,
        region,
        str(job.model_name),
        body,
        content_type=settings.content_type,
        accept=settings.accept,
        max_payload_bytes=settings.max_payload_bytes or len(body),
    )
    if routed is None:
        raise _NoLocalModelError
    if not routed.ok:
        records = f"record {first}" if first == last else f"records {first}-{last}"
        message = routed.body.decode(errors="replace").strip() or str(routed.reason or "")
        raise TransformFailedError(
            f"ClientError: the model answered {routed.status} to {records} of {where}: {message}"
        )
    return routed.body


def output_location(input_uri: str, key: str, output_path: str) -> str:
    """``<S3OutputPath>/<the input key relative to the S3Uri prefix>.out``: a prefix that names a
    folder keeps the sub-folders below it; one that names an object (or ends within a name) keeps
    the object's name."""
    prefix = input_uri.removeprefix("s3://").partition("/")[2]
    rest = key[len(prefix) :]
    in_folder = prefix.endswith("/") or rest.startswith("/")
    relative = rest.lstrip("/") if in_folder else key.rsplit("/", 1)[-1]
    return f"{output_path.rstrip('/')}/{relative}.out"


# -- Step Functions: sagemaker:createTransformJob.sync -------------------------------------------


def integration_json(value: Any) -> Any:
    """A service answer as Step Functions' SageMaker integration hands it on: timestamps as epoch
    milliseconds (numbers), empty strings dropped (SageMaker omits unset fields)."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: integration_json(item) for key, item in value.items() if item not in ("", None)}
    if isinstance(value, list):
        return [integration_json(item) for item in value]
    return value


def _sagemaker_error_name(code: str) -> str:
    """Step Functions names SageMaker's errors after the AWS Java SDK's exception classes: the
    modelled ones by name (``SageMaker.ResourceLimitExceededException``), every other one
    ``SageMaker.AmazonSageMakerException``."""
    if code in ("ResourceLimitExceeded", "ResourceInUse", "ResourceNotFound", "ConflictException"):
        return f"SageMaker.{code.removesuffix('Exception')}Exception"
    return "SageMaker.AmazonSageMakerException"


class SageMakerTaskService(state_task_service_unsupported.StateTaskServiceUnsupported):
    """moto's Step Functions task for ``arn:aws:states:::sagemaker:<action>``, with ``.sync`` for
    ``createTransformJob``.

    moto forwards SageMaker tasks to its SageMaker API for request-response only; Step Functions
    (https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html) also runs
    ``createTransformJob.sync``: it creates the job, waits for it to end and hands on
    DescribeTransformJob's answer. A job that ends ``Failed`` or ``Stopped`` fails the task with
    ``States.TaskFailed`` and that answer (with its ``FailureReason``) as cause, as Step Functions'
    other ``.sync`` jobs do; a request SageMaker rejects fails it with the SDK's error name
    (``SageMaker.AmazonSageMakerException``) and SageMaker's message. Other ``.sync`` SageMaker
    actions keep moto's "Unsupported" error.
    """

    def __init__(self) -> None:
        patterns: set[Any] = {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
        state_task_service_callback.StateTaskServiceCallback.__init__(
            self, supported_integration_patterns=patterns
        )

    def _is_transform_job(self) -> bool:
        return bool(self._get_boto_service_action() == "create_transform_job")

    def _validate_service_integration_is_supported(self) -> None:
        if not self._is_transform_job():
            super()._validate_service_integration_is_supported()  # type: ignore[no-untyped-call]

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            error = ex.response.get("Error", {})
            code = str(error.get("Code", "ValidationException"))
            metadata = ex.response.get("ResponseMetadata", {})
            name = _sagemaker_error_name(code)
            cause = (
                f"{error.get('Message', '')} (Service: AmazonSageMaker; Status Code: "
                f"{metadata.get('HTTPStatusCode', 400)}; Error Code: {code}; Request ID: "
                f"{metadata.get('RequestId', '')}; Proxy: null)"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=name,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        failure: FailureEvent = super()._from_error(env=env, ex=ex)
        return failure

    def _build_sync_resolver(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Callable[[], Any] | None:
        if not self._is_transform_job():
            resolver: Callable[[], Any] | None = super()._build_sync_resolver(
                env, resource_runtime_part, normalised_parameters, state_credentials
            )
            return resolver
        env.stack.pop()  # CreateTransformJob's answer: the task hands on DescribeTransformJob's
        name = normalised_parameters["TransformJobName"]
        client = boto_client_for(
            region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials
        )

        def describe_until_done() -> dict[str, Any] | None:
            described: dict[str, Any] = client.describe_transform_job(TransformJobName=name)
            described.pop("ResponseMetadata", None)
            if described.get("TransformJobStatus") not in _TERMINAL_STATUSES:
                return None
            result: dict[str, Any] = integration_json(described)
            if result["TransformJobStatus"] == "Completed":
                return result
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=StatesErrorNameType.StatesTaskFailed.to_name(),
                            cause=to_json_str(result),
                        )
                    ),
                )
            )

        return describe_until_done
