"""Names more than one package must agree on: stack names, the stateful stack's export names, and
the default S3 prefixes of asynchronous requests and results.

The stacks create them; ``model_packaging`` (upload) and ``local_aws`` (invoke) look them up.
"""

from __future__ import annotations

from dataclasses import dataclass

STATEFUL_PURPOSE = "stateful"
"""The stateful stack is ``<project>-<env>-stateful``; each workload stack is ``<project>-<env>-<kind>``."""

BATCH_DEFAULT_PREFIXES = {"input": "batch/input/", "output": "batch/output/"}
"""Key prefixes in the environment's bucket where a batch block sets no path of its own."""

ASYNC_DEFAULT_PREFIXES = {"input": "async/input/", "output": "async/output/", "failure": "async/failure/"}
"""Key prefixes in the environment's bucket where an async block sets no path of its own."""


def stack_name(project: str, environment: str, purpose: str) -> str:
    """``<project>-<env>-<purpose>``: the stateful stack or a workload kind's stack."""
    return f"{project}-{environment}-{purpose}"


@dataclass(frozen=True)
class StatefulExports:
    """Names of the stateful stack's CloudFormation exports: chosen, not generated, so workload
    stacks and tools find them by name."""

    key_arn: str
    bucket_arn: str
    bucket_name: str
    topic_arn: str

    @classmethod
    def of(cls, stateful_stack_name: str) -> StatefulExports:
        return cls(
            key_arn=f"{stateful_stack_name}-key-arn",
            bucket_arn=f"{stateful_stack_name}-bucket-arn",
            bucket_name=f"{stateful_stack_name}-bucket-name",
            topic_arn=f"{stateful_stack_name}-alarm-topic-arn",
        )


COMPILATION_JOB_PREFIX_MAX_LENGTH = 50
"""A compilation job is ``<prefix>-<12 hex>``: 63 characters at most (CompilationJobName)."""


def compilation_job_prefix(project: str, environment: str, kind: str) -> str:
    """``<project>-<env>-<kind>-neo``, the project cut so that it fits in 50 characters: the
    prefix of the Neo compilation jobs of one workload stack, and of what its handler may touch."""
    room = COMPILATION_JOB_PREFIX_MAX_LENGTH - len(f"-{environment}-{kind}-neo")
    return f"{project[:room].rstrip('-')}-{environment}-{kind}-neo"


ENDPOINT_CONFIG_OUTPUT = "EndpointConfigName"
"""The output every endpoint stack publishes with its endpoint config's name (what restores an
endpoint the idle guard deleted)."""
