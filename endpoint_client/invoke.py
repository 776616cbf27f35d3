"""Call a deployed workload the way its kind is invoked (``stacks.registry``), on any AWS the clients
point at: a real account or the local AWS.

- ``Invocation.SYNCHRONOUS``: ``InvokeEndpoint`` with the request in the body.
- ``Invocation.ASYNCHRONOUS``: the request uploaded to the input location the deployed stack
  publishes (:func:`async_input_location`), ``InvokeEndpointAsync`` with the stack's
  ``InvocationTimeoutSeconds``, then S3 polled with backoff until the output or the failure object
  appears, for at most ``timeout_seconds`` (:func:`wait_for_async_result`).
- ``Invocation.JOB``: :class:`~endpoint_client.errors.NotInvocableError`.

Problems a person can act on raise :mod:`endpoint_client.errors`; other botocore errors (no
credentials, an unreachable endpoint URL, access denied) pass through unchanged.

Importing this module imports ``stacks.registry`` and with it aws_cdk (about 1 s of jsii start-up).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from endpoint_client.clients import Clients
from endpoint_client.errors import (
    ModelFailedError,
    NotDeployedError,
    NotInvocableError,
    ResultTimeoutError,
    seconds,
)
from endpoint_client.request import DEFAULT_TIMEOUT_SECONDS, is_json
from endpoint_client.stack_outputs import deployed_stack, stack_locations
from endpoint_configs import EnvironmentConfig
from stacks.registry import WORKLOAD_KINDS, Invocation

Found = TypeVar("Found")
Progress = Callable[[str], None]
"""Receives one line at each step of an asynchronous call (uploaded, accepted, waiting)."""


@dataclass(frozen=True)
class PollSchedule:
    """Waits between looks at S3: ``first_seconds``, then each ``factor`` times longer, at most
    ``longest_seconds``."""

    first_seconds: float = 0.5
    factor: float = 1.5
    longest_seconds: float = 15.0

    def delays(self) -> Iterator[float]:
        delay = self.first_seconds
        while True:
            yield delay
            delay = min(delay * self.factor, self.longest_seconds)

    def until(
        self, look: Callable[[], Found | None], *, timeout_seconds: float
    ) -> tuple[Found | None, float]:
        """Call ``look`` until it finds something or ``timeout_seconds`` have passed, waiting between
        looks as this schedule says: (what it found, or None on timeout; seconds waited)."""
        started = time.monotonic()
        deadline = started + timeout_seconds
        delays = self.delays()
        while True:
            found = look()
            if found is not None:
                return found, time.monotonic() - started
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, time.monotonic() - started
            time.sleep(min(next(delays), remaining))


@dataclass(frozen=True)
class StoredResult:
    """What an asynchronous request left in S3: its output, or its failure object."""

    succeeded: bool
    location: str
    body: bytes
    content_type: str | None
    waited_seconds: float


@dataclass(frozen=True)
class InvocationResult:
    """The answer of a deployed workload.

    ``body`` is the response (synchronous) or the output object (asynchronous); when
    ``succeeded`` is false it is the failure object that SageMaker wrote instead. ``variant`` is the
    production variant that served a synchronous call; ``input_location`` and ``result_location``
    are where an asynchronous request and its result are in S3.
    """

    kind: str
    invocation: Invocation
    endpoint_name: str
    body: bytes
    content_type: str | None
    succeeded: bool = True
    variant: str | None = None
    input_location: str | None = None
    result_location: str | None = None
    waited_seconds: float = 0.0


def invoke_workload(
    clients: Clients,
    config: EnvironmentConfig,
    kind: str,
    body: bytes,
    content_type: str,
    *,
    accept: str | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    poll: PollSchedule = PollSchedule(),
    progress: Progress | None = None,
) -> InvocationResult:
    """Send ``body`` to the deployed workload ``kind`` of ``config``'s environment, the way the
    registry says the kind is invoked, and return its answer (for an asynchronous kind, after
    waiting at most ``timeout_seconds`` for the result)."""
    invocation = WORKLOAD_KINDS[kind].invocation
    if invocation is Invocation.SYNCHRONOUS:
        return _invoke_synchronously(clients, config, kind, body, content_type, accept)
    if invocation is Invocation.ASYNCHRONOUS:
        return _invoke_asynchronously(
            clients, config, kind, body, content_type, accept, timeout_seconds, poll, progress or _quiet
        )
    raise NotInvocableError(kind, invocation.value)


def _quiet(_: str) -> None:
    pass


def _invoke_synchronously(
    clients: Clients,
    config: EnvironmentConfig,
    kind: str,
    body: bytes,
    content_type: str,
    accept: str | None,
) -> InvocationResult:
    endpoint_name = config.endpoint_name(kind)
    request: dict[str, Any] = {"EndpointName": endpoint_name, "Body": body, "ContentType": content_type}
    if accept:
        request["Accept"] = accept
    try:
        response = clients("sagemaker-runtime").invoke_endpoint(**request)
    except ClientError as error:
        raise _runtime_error(error, endpoint_name) from error
    return InvocationResult(
        kind=kind,
        invocation=Invocation.SYNCHRONOUS,
        endpoint_name=endpoint_name,
        body=response["Body"].read(),
        content_type=response.get("ContentType"),
        variant=response.get("InvokedProductionVariant"),
    )


def _invoke_asynchronously(
    clients: Clients,
    config: EnvironmentConfig,
    kind: str,
    body: bytes,
    content_type: str,
    accept: str | None,
    timeout_seconds: float,
    poll: PollSchedule,
    progress: Progress,
) -> InvocationResult:
    cloudformation = clients("cloudformation")
    stack = deployed_stack(cloudformation, config.stack_name(kind))
    endpoint_name = stack.outputs.get("EndpointName") or config.endpoint_name(kind)
    ((bucket, prefix),) = stack_locations(cloudformation, config, stack, "Input")
    key = f"{prefix}{_request_name()}{'.json' if is_json(content_type) else ''}"
    input_location = f"s3://{bucket}/{key}"
    s3 = clients("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    progress(f"request uploaded to {input_location}")

    request: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "InputLocation": input_location,
        "ContentType": content_type,
    }
    if accept:
        request["Accept"] = accept
    timeout_output = stack.outputs.get("InvocationTimeoutSeconds", "")
    invocation_timeout = int(timeout_output) if timeout_output.isdigit() else None
    if invocation_timeout is not None:
        request["InvocationTimeoutSeconds"] = invocation_timeout
    try:
        response = clients("sagemaker-runtime").invoke_endpoint_async(**request)
    except ClientError as error:
        raise _runtime_error(error, endpoint_name) from error
    output_location: str = response["OutputLocation"]
    failure_location: str | None = response.get("FailureLocation")
    progress(
        f"{endpoint_name} accepted it (inference id {response.get('InferenceId', '-')}); waiting up to "
        f"{seconds(timeout_seconds)} for {output_location}"
        + (f" or {failure_location}" if failure_location else "")
    )
    stored = wait_for_async_result(
        s3,
        output_location,
        failure_location,
        timeout_seconds=timeout_seconds,
        poll=poll,
        invocation_timeout_seconds=invocation_timeout,
    )
    return InvocationResult(
        kind=kind,
        invocation=Invocation.ASYNCHRONOUS,
        endpoint_name=endpoint_name,
        body=stored.body,
        content_type=stored.content_type,
        succeeded=stored.succeeded,
        input_location=input_location,
        result_location=stored.location,
        waited_seconds=stored.waited_seconds,
    )


def _request_name() -> str:
    return f"endpoint-client-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:12]}"


def async_input_location(cloudformation: Any, config: EnvironmentConfig, kind: str) -> tuple[str, str]:
    """Bucket and key prefix for requests to ``kind``'s endpoint, as its deployed stack publishes them:
    its ``InputPath`` output, or its ``InputPrefix`` output in the environment's bucket (the stateful
    stack's export ``config.stateful_exports.bucket_name``). :class:`NotDeployedError` when either stack is
    missing, :class:`StackOutputMissingError` when the stack publishes neither output."""
    stack = deployed_stack(cloudformation, config.stack_name(kind))
    ((bucket, prefix),) = stack_locations(cloudformation, config, stack, "Input")
    return bucket, prefix


def _runtime_error(error: ClientError, endpoint_name: str) -> Exception:
    """SageMaker Runtime's ModelError and unknown-endpoint error as ours; any other as it is."""
    code = error.response["Error"].get("Code")
    message = str(error.response["Error"].get("Message", ""))
    if code == "ModelError":
        return ModelFailedError(
            endpoint_name,
            error.response.get("OriginalStatusCode", "unknown"),
            str(error.response.get("OriginalMessage") or message),
            error.response.get("LogStreamArn"),
        )
    if code == "ValidationError" and "not found" in message.lower():
        return NotDeployedError("endpoint", endpoint_name)
    unchanged: Exception = error
    return unchanged


def wait_for_async_result(
    s3: Any,
    output_location: str,
    failure_location: str | None,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    poll: PollSchedule = PollSchedule(),
    invocation_timeout_seconds: int | None = None,
) -> StoredResult:
    """Look for the output object, then the failure object, until one exists or ``timeout_seconds``
    have passed (:class:`ResultTimeoutError`); waits between looks follow ``poll``. A location that S3
    refuses to show (403: a missing object looks so without ``s3:ListBucket``) counts as not there
    yet, and the timeout message says so."""
    places = [(True, output_location)] + ([(False, failure_location)] if failure_location else [])
    refusal: str | None = None

    def look() -> tuple[bool, str, dict[str, Any]] | None:
        nonlocal refusal
        for succeeded, location in places:
            bucket, _, key = location.removeprefix("s3://").partition("/")
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                code = str(error.response["Error"].get("Code"))
                if code in ("404", "NoSuchKey", "NotFound"):
                    continue
                if code in ("403", "AccessDenied", "Forbidden"):
                    refusal = f"403 Forbidden for {location}"
                    continue
                raise
            return succeeded, location, s3.get_object(Bucket=bucket, Key=key)
        return None

    found, waited = poll.until(look, timeout_seconds=timeout_seconds)
    if found is None:
        raise ResultTimeoutError(
            waited_seconds=waited,
            output_location=output_location,
            failure_location=failure_location,
            invocation_timeout_seconds=invocation_timeout_seconds,
            s3_refusal=refusal,
        )
    succeeded, location, stored = found
    return StoredResult(
        succeeded=succeeded,
        location=location,
        body=stored["Body"].read(),
        content_type=stored.get("ContentType"),
        waited_seconds=waited,
    )
