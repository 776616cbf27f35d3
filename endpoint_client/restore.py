"""Bring back an endpoint the idle guard deleted: the same name, from the endpoint config its stack
created (which the guard keeps), so the endpoint is again what the stack describes. Imports no CDK.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from endpoint_client.stack_outputs import deployed_stack
from endpoint_configs import EnvironmentConfig
from endpoint_configs.naming import ENDPOINT_CONFIG_OUTPUT


def restore_deleted_endpoint(clients: Any, config: EnvironmentConfig, kind: str) -> str | None:
    """Recreate ``kind``'s endpoint when it is gone, from the config its stack publishes as
    ``EndpointConfigName``; the line saying so, or None when the endpoint exists.
    :class:`~endpoint_client.errors.NotDeployedError` when the stack is not deployed,
    :class:`~endpoint_client.errors.StackOutputMissingError` when it publishes no config name."""
    endpoint_name = config.endpoint_name(kind)
    sagemaker = clients("sagemaker")
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint_name)
        return None
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationException":  # "Could not find endpoint"
            raise
    stack = deployed_stack(clients("cloudformation"), config.stack_name(kind))
    config_name = stack.output(ENDPOINT_CONFIG_OUTPUT)
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    return f"{endpoint_name} was deleted (the idle guard?); restoring it from endpoint config {config_name}"
