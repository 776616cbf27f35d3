"""Call a deployed workload of any kind, on the local AWS or a real account.

Command line: ``python -m endpoint_client invoke --env dev [--endpoint-type async] (--body JSON |
--file PATH) [--local-aws]`` (see :mod:`endpoint_client.__main__`); ``make invoke``.

API (how the kind is called comes from ``stacks.registry``, never from its name)::

    from endpoint_client import AwsClients, invoke_workload

    result = invoke_workload(AwsClients.real(config.region), config, "async", b'{"inputs": ["hi"]}',
                             "application/json", timeout_seconds=300)

- :mod:`endpoint_client.clients`: :class:`AwsClients` (a real account, or the local AWS) and the
  ``Clients`` callable type (service name -> boto3 client);
- :mod:`endpoint_client.invoke`: :func:`invoke_workload`, :func:`async_input_location`,
  :func:`wait_for_async_result`, :class:`InvocationResult`;
- :mod:`endpoint_client.batch` (kinds that run as a job): :func:`start_batch_run`,
  :func:`wait_for_batch_run`, :class:`BatchRunResult`, :func:`batch_locations`, :func:`job_kind`;
- :mod:`endpoint_client.stack_outputs`: a deployed stack's outputs and the S3 locations they name;
- :mod:`endpoint_client.errors`: what goes wrong, each error one line.

The names of :mod:`endpoint_client.invoke` and :mod:`endpoint_client.batch` are loaded on first use:
those modules import the registry and so aws_cdk (about 1 s), which ``--help`` and input errors do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from endpoint_client.clients import AwsClients, Clients
from endpoint_client.errors import (
    BatchRunTimeoutError,
    InvocationError,
    JobKindError,
    ModelFailedError,
    NotAJobError,
    NotDeployedError,
    NotInvocableError,
    RequestError,
    ResultTimeoutError,
    StackOutputMissingError,
)

if TYPE_CHECKING:
    from endpoint_client.batch import (
        BatchRunResult,
        batch_locations,
        job_kind,
        start_batch_run,
        wait_for_batch_run,
    )
    from endpoint_client.invoke import (
        InvocationResult,
        PollSchedule,
        StoredResult,
        async_input_location,
        invoke_workload,
        wait_for_async_result,
    )

_LAZY_BATCH = frozenset(
    {"BatchRunResult", "batch_locations", "job_kind", "start_batch_run", "wait_for_batch_run"}
)
_LAZY = frozenset(
    {
        "InvocationResult",
        "PollSchedule",
        "StoredResult",
        "async_input_location",
        "invoke_workload",
        "wait_for_async_result",
    }
)

__all__ = [
    "AwsClients",
    "BatchRunResult",
    "BatchRunTimeoutError",
    "Clients",
    "InvocationError",
    "InvocationResult",
    "JobKindError",
    "ModelFailedError",
    "NotAJobError",
    "NotDeployedError",
    "NotInvocableError",
    "PollSchedule",
    "RequestError",
    "ResultTimeoutError",
    "StackOutputMissingError",
    "StoredResult",
    "async_input_location",
    "batch_locations",
    "invoke_workload",
    "job_kind",
    "start_batch_run",
    "wait_for_async_result",
    "wait_for_batch_run",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_BATCH:
        from endpoint_client import batch

        return getattr(batch, name)
    if name in _LAZY:
        from endpoint_client import invoke

        return getattr(invoke, name)
    raise AttributeError(f"module 'endpoint_client' has no attribute {name!r}")
