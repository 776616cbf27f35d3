"""What a deployed workload stack publishes: its outputs, and the S3 locations they name.

A workload stack names each S3 location it uses in one of two ways: a ``<Name>Path`` output (the
configured ``s3://`` URI) or a ``<Name>Prefix`` output (a key prefix in the environment's bucket,
whose name is the stateful stack's export ``config.stateful_exports.bucket_name``).
:func:`stack_locations` reads either, for any names (``Input``, ``Output`` ...), looking the export
up at most once. Imports no CDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from endpoint_client.errors import NotDeployedError, StackOutputMissingError
from endpoint_configs import EnvironmentConfig
from endpoint_configs.naming import STATEFUL_PURPOSE


@dataclass(frozen=True)
class DeployedStack:
    """A stack as CloudFormation describes it: its name, status and outputs."""

    name: str
    status: str
    outputs: dict[str, str]

    def output(self, key: str) -> str:
        """The output ``key``; :class:`StackOutputMissingError` when the stack does not publish it."""
        if key not in self.outputs:
            raise StackOutputMissingError(f"{self.name} ({self.status})", f"{key} output")
        return self.outputs[key]


def deployed_stack(cloudformation: Any, stack_name: str) -> DeployedStack:
    """The stack ``stack_name``; :class:`NotDeployedError` when it does not exist."""
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if is_missing_stack(error):
            raise NotDeployedError("stack", stack_name) from error
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(stack_name, str(stack.get("StackStatus", "")), outputs)


def stack_locations(
    cloudformation: Any, config: EnvironmentConfig, stack: DeployedStack, *names: str
) -> list[tuple[str, str]]:
    """Bucket and key prefix (empty, or ending in ``/``) of each location ``names`` (``"Input"``,
    ``"Output"`` ...) as ``stack`` publishes it: its ``<name>Path`` output, or its ``<name>Prefix``
    output in the environment's bucket. :class:`StackOutputMissingError` when the stack publishes
    neither, :class:`NotDeployedError` when a prefix needs the bucket and the stateful stack does not
    export it."""
    published: list[tuple[str | None, str]] = []  # (bucket, or None: the environment's; key prefix)
    for name in names:
        path, prefix = stack.outputs.get(f"{name}Path"), stack.outputs.get(f"{name}Prefix")
        if path is not None:
            bucket, _, key = path.removeprefix("s3://").partition("/")
            published.append((bucket, as_prefix(key)))
        elif prefix is not None:
            published.append((None, as_prefix(prefix)))
        else:
            raise StackOutputMissingError(
                f"{stack.name} ({stack.status})", f"{name}Path or {name}Prefix output"
            )
    environment_bucket = (
        _environment_bucket(cloudformation, config) if any(bucket is None for bucket, _ in published) else ""
    )
    return [(bucket or environment_bucket, prefix) for bucket, prefix in published]


def _environment_bucket(cloudformation: Any, config: EnvironmentConfig) -> str:
    export_name = config.stateful_exports.bucket_name
    for page in cloudformation.get_paginator("list_exports").paginate():
        for export in page.get("Exports", []):
            if export["Name"] == export_name:
                return str(export["Value"])
    raise NotDeployedError(
        "stack", config.stack_name(STATEFUL_PURPOSE), f"no export {export_name} of the environment's bucket"
    )


def as_prefix(prefix: str) -> str:
    """``prefix`` ending in ``/`` (an empty one stays empty: the whole bucket)."""
    return prefix if not prefix or prefix.endswith("/") else f"{prefix}/"


def is_missing_stack(error: ClientError) -> bool:
    """CloudFormation's answer to DescribeStacks of a stack that does not exist."""
    return error.response["Error"].get("Code") == "ValidationError" and "does not exist" in str(
        error.response["Error"].get("Message", "")
    )
