"""What can go wrong when calling a deployed workload, as errors whose ``str()`` is one line.

The API (:mod:`endpoint_client.invoke`) raises these for problems it understands; other botocore
errors pass through unchanged, and :func:`endpoint_client.__main__.explain` turns any of them into
one line for a person.
"""

from __future__ import annotations

from typing import Any


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) folded into one space."""
    return " ".join(text.split())


def seconds(value: float) -> str:
    """``0.4 s``, ``12 s``: tenths only where they matter."""
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


class InvocationError(Exception):
    """A call to a deployed workload failed in a way the caller can act on; ``str()`` says how."""


class RequestError(InvocationError):
    """The request itself is unusable: a ``--file`` that cannot be read, ``--body`` that is not JSON."""


class NotInvocableError(InvocationError):
    """The workload kind has no endpoint to call (it runs as a job)."""

    def __init__(self, kind: str, how: str) -> None:
        self.kind = kind
        super().__init__(f"{kind} runs as a job ({how}), not as an endpoint: there is nothing to invoke")


class NotDeployedError(InvocationError):
    """A stack or endpoint the call needs does not exist where the clients point."""

    def __init__(self, resource: str, name: str, detail: str = "") -> None:
        self.resource = resource
        self.name = name
        super().__init__(f"{resource} {name} is not deployed" + (f" ({detail})" if detail else ""))


class StackOutputMissingError(InvocationError):
    """The deployed stack does not publish what the call needs (deployed by another version?)."""

    def __init__(self, stack_name: str, wanted: str) -> None:
        self.stack_name = stack_name
        super().__init__(f"stack {stack_name} publishes no {wanted}: deploy it again with this version")


class ModelFailedError(InvocationError):
    """The model's container answered with an error (SageMaker's ModelError, HTTP 424)."""

    def __init__(self, endpoint_name: str, status: Any, message: str, log_stream_arn: str | None) -> None:
        self.endpoint_name = endpoint_name
        self.status = status
        self.message = one_line(message)
        self.log_stream_arn = log_stream_arn
        logs = f" (logs: {log_stream_arn})" if log_stream_arn else ""
        super().__init__(
            f"the model of endpoint {endpoint_name} answered status {status}: {self.message}{logs}"
        )


class ResultTimeoutError(InvocationError):
    """No result of an asynchronous request appeared in S3 in time; the request may still run."""

    def __init__(
        self,
        *,
        waited_seconds: float,
        output_location: str,
        failure_location: str | None,
        invocation_timeout_seconds: int | None,
        s3_refusal: str | None = None,
    ) -> None:
        self.waited_seconds = waited_seconds
        self.output_location = output_location
        self.failure_location = failure_location
        self.invocation_timeout_seconds = invocation_timeout_seconds
        places = output_location + (f" or {failure_location}" if failure_location else "")
        message = (
            f"no result after {seconds(waited_seconds)} at {places}; the request may still be queued or "
            "running (an endpoint scaled to zero first starts an instance, which takes minutes)"
        )
        if invocation_timeout_seconds is not None and invocation_timeout_seconds > waited_seconds:
            message += (
                f" (the endpoint allows it {invocation_timeout_seconds} s): look there later, or wait longer "
                f"with --timeout {invocation_timeout_seconds}"
            )
        else:
            message += ": look there later, or wait longer with --timeout"
        if s3_refusal:
            message += (
                f"; S3 answered {s3_refusal} while waiting, which is also how a missing object looks "
                "without s3:ListBucket: check that you may read those locations"
            )
        super().__init__(message)


def duration(value: float) -> str:
    """``0.4 s``, ``42 s``, ``12 min 5 s``, ``4 h``, ``1 h 2 min``: a wait or a job's run time."""
    if value < 60:
        return seconds(value)
    whole = round(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" + (f" {secs} s" if secs else "")


class NotAJobError(InvocationError):
    """The workload kind is called as an endpoint: it has no job to start."""

    def __init__(self, kind: str, how: str) -> None:
        self.kind = kind
        super().__init__(
            f"{kind} is called as an endpoint ({how}), not run as a job: call it with "
            f"make invoke ENDPOINT_TYPE={kind}"
        )


class JobKindError(InvocationError):
    """Which workload to run as a job is not clear: the environment offers none, or several."""


class BatchRunTimeoutError(InvocationError):
    """A batch run did not finish in time; it keeps running."""

    def __init__(self, execution_arn: str, status: str, waited_seconds: float) -> None:
        self.execution_arn = execution_arn
        self.status = status
        self.waited_seconds = waited_seconds
        super().__init__(
            f"batch run {execution_arn} is still {status} after {duration(waited_seconds)}: it keeps "
            "running; wait longer with --timeout, or look later with aws stepfunctions describe-execution "
            f"--execution-arn {execution_arn} (or in the Step Functions console)"
        )
