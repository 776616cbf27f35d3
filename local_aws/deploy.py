"""Deploy an environment to the local AWS with the real cdk CLI, call it, and show what exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from endpoint_configs import EnvironmentConfig, load_environment_config, resolve_endpoint_type
from endpoint_configs.naming import STATEFUL_PURPOSE
from local_aws.server import ACCOUNT_ID, LocalAwsError, ServerState, require_running
from stacks.registry import WORKLOAD_KINDS, Invocation

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
SAMPLE_REQUEST = {"inputs": ["Deploy NLP models at the lowest cost that meets the workload."]}
console = Console()


def _cdk(arguments: list[str], state: ServerState) -> None:
    environment = {
        **os.environ,
        **state.environment(),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_CLI_NOTICES": "false",
    }
    command = [str(CDK), *arguments]
    console.print(f"[dim]$ cdk {' '.join(arguments)}[/dim]")
    completed = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, check=False)
    if completed.returncode != 0:
        raise LocalAwsError(
            f"'cdk {arguments[0]}' failed (exit {completed.returncode}); see its output above"
        )


def _client(service: str, state: ServerState, region: str) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=state.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def deploy(env: str, endpoint_type: str) -> None:
    """Bootstrap once, deploy every stack of ``env``, invoke the endpoint, print a summary."""
    state = require_running()
    config = load_environment_config(env)
    chosen = resolve_endpoint_type(config, endpoint_type, source=f"-c endpoint_type (env {env})")
    region = config.region
    cloudformation = _client("cloudformation", state, region)
    try:
        cloudformation.describe_stacks(StackName="CDKToolkit")
    except ClientError:
        _cdk(["bootstrap", f"aws://{ACCOUNT_ID}/{region}"], state)
    flags = ["-c", f"env={env}", "-c", f"endpoint_type={chosen}", "-c", "local_aws=true"]
    try:
        _cdk(["deploy", "--all", "--method=direct", "--require-approval", "never", *flags], state)
    finally:
        _print_stacks(cloudformation, config.stack_name(STATEFUL_PURPOSE), config.stack_name(chosen))
    endpoint_name = config.endpoint_name(chosen)
    answer = _invoke(state, config, chosen)
    _print_summary(state, region, endpoint_name)
    console.print(f"\n[bold]{endpoint_name}[/bold] answered: {answer}")


def destroy(env: str, endpoint_type: str) -> None:
    state = require_running()
    config = load_environment_config(env)
    chosen = resolve_endpoint_type(config, endpoint_type, source=f"-c endpoint_type (env {env})")
    flags = ["-c", f"env={env}", "-c", f"endpoint_type={chosen}", "-c", "local_aws=true"]
    _cdk(["destroy", "--all", "--force", *flags], state)


def _invoke(state: ServerState, config: EnvironmentConfig, kind: str) -> str:
    """Call the deployed workload the way its kind is invoked, with the sample request."""
    region = config.region
    endpoint_name = config.endpoint_name(kind)
    runtime = _client("sagemaker-runtime", state, region)
    payload = json.dumps(SAMPLE_REQUEST).encode()
    invocation = WORKLOAD_KINDS[kind].invocation
    if invocation is Invocation.SYNCHRONOUS:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, Body=payload, ContentType="application/json"
        )
        return _describe_answer(response["Body"].read())
    if invocation is not Invocation.ASYNCHRONOUS:
        return f"not invoked: {kind} runs as {invocation.value}"
    bucket, prefix = async_input_location(_client("cloudformation", state, region), config, kind)
    key = f"{prefix}deploy-local-{int(time.time())}.json"
    s3 = _client("s3", state, region)
    s3.put_object(Bucket=bucket, Key=key, Body=payload, ContentType="application/json")
    response = runtime.invoke_endpoint_async(EndpointName=endpoint_name, InputLocation=f"s3://{bucket}/{key}")
    output_bucket, _, output_key = response["OutputLocation"].removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=output_bucket, Key=output_key)["Body"].read()
    return f"{_describe_answer(body)} (result at {response['OutputLocation']})"


def async_input_location(cloudformation: Any, config: EnvironmentConfig, kind: str) -> tuple[str, str]:
    """Bucket and key prefix for requests, as the deployed stack publishes them: its ``InputPath``
    output, or its ``InputPrefix`` output in the environment's bucket (the stateful export)."""
    stack = cloudformation.describe_stacks(StackName=config.stack_name(kind))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "InputPath" in outputs:
        bucket, _, prefix = outputs["InputPath"].removeprefix("s3://").partition("/")
        return bucket, prefix
    exports = {e["Name"]: e["Value"] for e in cloudformation.list_exports()["Exports"]}
    return exports[config.stateful_exports.bucket_name], outputs["InputPrefix"]


def _describe_answer(body: bytes) -> str:
    try:
        embeddings = json.loads(body)["embeddings"]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")
    first = ", ".join(f"{v:.4f}" for v in embeddings[0][:4])
    return f"{len(embeddings)} embedding(s) of {len(embeddings[0])} dimensions, first values [{first}, ...]"


def _print_stacks(cloudformation: Any, *names: str) -> None:
    table = Table(title="Stacks on the local AWS")
    table.add_column("stack")
    table.add_column("status")
    for name in names:
        try:
            status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except ClientError:
            status = "not deployed"
        table.add_row(name, status)
    console.print(table)


def _print_summary(state: ServerState, region: str, endpoint_name: str) -> None:
    sagemaker = _client("sagemaker", state, region)
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    table = Table(title="What was deployed")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("details")
    for variant in config["ProductionVariants"]:
        serverless = variant.get("ServerlessConfig")
        detail = (
            f"serverless {serverless['MemorySizeInMB']} MB, max concurrency {serverless['MaxConcurrency']}"
            if serverless
            else f"{variant.get('InitialInstanceCount')} x {variant.get('InstanceType')}"
        )
        table.add_row(
            "endpoint",
            f"{endpoint_name} / {variant['VariantName']}",
            f"{endpoint['EndpointStatus']}, {detail}",
        )
    if config.get("AsyncInferenceConfig"):
        table.add_row("async output", "", config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"])
    autoscaling = _client("application-autoscaling", state, region)
    for target in autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]:
        if f"endpoint/{endpoint_name}/" in target["ResourceId"]:
            table.add_row(
                "scaling",
                target["ResourceId"],
                f"{target['ScalableDimension'].rsplit(':', 1)[1]} "
                f"{target['MinCapacity']}-{target['MaxCapacity']}",
            )
    for policy in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]:
        if f"endpoint/{endpoint_name}/" in policy["ResourceId"]:
            table.add_row("policy", policy["PolicyName"][-40:], policy["PolicyType"])
    for alarm in _client("cloudwatch", state, region).describe_alarms()["MetricAlarms"]:
        if endpoint_name in alarm["AlarmName"] or endpoint_name in alarm.get("AlarmDescription", ""):
            table.add_row("alarm", alarm["AlarmName"][-50:], alarm.get("AlarmDescription", ""))
    console.print(table)


def main_deploy(env: str, endpoint_type: str, *, destroy_instead: bool = False) -> int:
    try:
        (destroy if destroy_instead else deploy)(env, endpoint_type)
    except LocalAwsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
