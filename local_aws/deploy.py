"""Deploy an environment to the local AWS with the real cdk CLI, call it, and show what exists;
destroy every stack of an environment; explain AWS errors in one line.

The local AWS takes dummy keys: the clients here, and the cdk CLI started from here, never read the
user's AWS profile or session (a profile that does not exist would otherwise stop them).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)
from rich.console import Console
from rich.table import Table

from cost_advisor.guard import check_deployed_cost, served_model
from cost_advisor.llm_check import llm_model_size
from endpoint_client import AwsClients, InvocationError, NotDeployedError, invoke_workload
from endpoint_client.batch import batch_locations, start_batch_run, wait_for_batch_run
from endpoint_client.errors import StackOutputMissingError
from endpoint_client.restore import restore_deleted_endpoint
from endpoint_client.stack_outputs import deployed_stack
from endpoint_configs import EnvironmentConfig, load_environment_config, resolve_endpoint_type
from endpoint_configs.naming import STATEFUL_PURPOSE
from local_aws.state import ACCOUNT_ID, NEO_STAND_IN_TAG, LocalAwsError, ServerState, require_running
from model_packaging.environment import prepare_artifact
from stacks.registry import WORKLOAD_KINDS, Invocation

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
SAMPLE_REQUEST = {"inputs": ["Deploy NLP models at the lowest cost that meets the workload."]}
console = Console()
USER_CREDENTIAL_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
"""Variables of the user's real credentials, left out of the cdk CLI's environment."""


def _cdk(arguments: list[str], state: ServerState) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in USER_CREDENTIAL_VARIABLES},
        **state.environment(),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_CLI_NOTICES": "false",
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
    }
    command = [str(CDK), *arguments]
    console.print(f"[dim]$ cdk {' '.join(arguments)}[/dim]")
    completed = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, check=False)
    if completed.returncode != 0:
        raise LocalAwsError(
            f"'cdk {arguments[0]}' failed (exit {completed.returncode}); see its output above"
        )


def deploy(env: str, endpoint_type: str) -> None:
    """Bootstrap once, deploy every stack of ``env``, invoke the endpoint, print a summary."""
    state = require_running()
    config = load_environment_config(env)
    chosen = resolve_endpoint_type(config, endpoint_type, source=f"-c endpoint_type (env {env})")
    region = config.region
    clients = AwsClients.local(state.url, region)
    cloudformation = clients("cloudformation")
    try:
        cloudformation.describe_stacks(StackName="CDKToolkit")
    except ClientError:
        _cdk(["bootstrap", f"aws://{ACCOUNT_ID}/{region}"], state)
    flags = ["-c", f"env={env}", "-c", f"endpoint_type={chosen}", "-c", "local_aws=true"]
    _restore_before_update(clients, config, chosen)
    try:
        _cdk(["deploy", "--all", "--method=direct", "--require-approval", "never", *flags], state)
    finally:
        _print_stacks(cloudformation, config.stack_name(STATEFUL_PURPOSE), config.stack_name(chosen))
    compiled = compilation_rows(clients, config.stack_name(chosen))
    if config.model.serving is not None:
        print_summary(compiled + summary_rows(clients, config.endpoint_name(chosen)), console)
        console.print(f"\n{not_served_locally(config, chosen)}", highlight=False, markup=False)
    elif WORKLOAD_KINDS[chosen].invocation is Invocation.JOB:
        rows, answer = _run_job(state, config, chosen)
        print_summary(compiled + rows, console)
        console.print(f"\n[bold]{config.stack_name(chosen)}[/bold] ran: {answer}")
    else:
        endpoint_name = config.endpoint_name(chosen)
        answer = _invoke(state, config, chosen)
        print_summary(compiled + summary_rows(clients, endpoint_name), console)
        console.print(f"\n[bold]{endpoint_name}[/bold] answered: {answer}")
    console.print(_cost_line(config, chosen), highlight=False, markup=False)


def not_served_locally(config: EnvironmentConfig, kind: str) -> str:
    """Why a large language model's endpoint is deployed here but not called."""
    serving = config.model.serving
    assert serving is not None
    return (
        f"{config.endpoint_name(kind)} is deployed on the local AWS, but its invocations are not served "
        f"locally: the {serving.type.upper()} container needs an NVIDIA GPU and the weights in "
        f"{config.model.artifact.s3_prefix}, which this machine does not have. The stacks, alarms "
        f"and dashboard are real; deploy to AWS (make deploy ENV={config.environment}) to call it."
    )


def _restore_before_update(clients: AwsClients, config: EnvironmentConfig, kind: str) -> None:
    """An endpoint the idle guard deleted comes back before the deploy, whose update would
    otherwise fail on the missing endpoint."""
    if WORKLOAD_KINDS[kind].invocation is Invocation.JOB:
        return
    try:
        restored = restore_deleted_endpoint(clients, config, kind)
    except (NotDeployedError, StackOutputMissingError):
        return  # first deploy, or a stack from before the output: the deploy creates what is missing
    if restored is not None:
        console.print(restored, highlight=False, markup=False)


def _cost_line(config: EnvironmentConfig, kind: str) -> str:
    """What the deployed option would cost on AWS a month at the environment's ``traffic:`` profile
    (the artifact build is cached by content, so this rebuilds nothing)."""
    source = f"endpoint_configs/{config.environment}.yaml"
    built = prepare_artifact(config, [kind], project_root=PROJECT_ROOT, source=source)
    model = served_model(built) or llm_model_size(config, project_root=PROJECT_ROOT)
    check = check_deployed_cost(config, kind, model=model, source=source)
    return f"\nOn AWS, {check.describe()}"


def environment_stacks(config: EnvironmentConfig) -> list[str]:
    """Names of every stack ``config``'s environment can have, workload stacks first (the kinds it
    offers, then any other kind, which an earlier version of the config may have deployed) and the
    stateful stack last: the order they can be deleted in."""
    kinds = dict.fromkeys((*config.offered_endpoint_types, *WORKLOAD_KINDS))
    return [*(config.stack_name(kind) for kind in kinds), config.stack_name(STATEFUL_PURPOSE)]


def _deployed(cloudformation: Any, names: list[str]) -> list[dict[str, Any]]:
    """The stacks of ``names`` that exist, as DescribeStacks describes them, in the order given."""
    stacks = []
    for name in names:
        try:
            stacks.extend(cloudformation.describe_stacks(StackName=name)["Stacks"])
        except ClientError as error:
            if not _is_missing_stack(error):
                raise
    return stacks


def destroy(env: str, state: ServerState | None = None) -> None:
    """Delete every deployed stack of ``env`` from the local AWS: workload stacks, then the stateful
    stack. Refuses before deleting anything when a stack is termination-protected."""
    state = state or require_running()
    config = load_environment_config(env)
    cloudformation = AwsClients.local(state.url, config.region)("cloudformation")
    stacks = _deployed(cloudformation, environment_stacks(config))
    if not stacks:
        console.print(f"nothing to destroy: no stack of {env} is deployed on the local AWS")
        return
    protected = [stack["StackName"] for stack in stacks if stack.get("EnableTerminationProtection")]
    if protected:
        raise LocalAwsError(_protection_hint(config, env, protected[0]))
    for stack in stacks:
        name = stack["StackName"]
        console.print(f"{name}: destroying...")
        try:
            cloudformation.delete_stack(StackName=name)
        except ClientError as error:
            message = error.response["Error"].get("Message", "")
            raise LocalAwsError(f"the local AWS refused to delete {name}: {message}") from None
        _wait_until_deleted(cloudformation, stack)
        console.print(f"{name}: destroyed")


def _wait_until_deleted(cloudformation: Any, stack: dict[str, Any], timeout_seconds: float = 600) -> None:
    """Wait for DELETE_COMPLETE. CloudFormation may also cancel a deletion and leave the stack as it
    was (an export still imported): then the newest stack event says why."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        (current,) = cloudformation.describe_stacks(StackName=stack["StackId"])["Stacks"]
        status = current["StackStatus"]
        if status == "DELETE_COMPLETE":
            return
        if status.endswith(("_FAILED", "_COMPLETE")) and status != "DELETE_IN_PROGRESS":
            events = cloudformation.describe_stack_events(StackName=stack["StackId"])["StackEvents"]
            reason = current.get("StackStatusReason") or next(
                (e["ResourceStatusReason"] for e in events if e.get("ResourceStatusReason")), status
            )
            raise LocalAwsError(f"{stack['StackName']} was not deleted: {reason}")
        time.sleep(1)
    raise LocalAwsError(f"{stack['StackName']} was not deleted within {timeout_seconds:.0f} s")


def _protection_hint(config: EnvironmentConfig, env: str, stack_name: str) -> str:
    refused = f"{stack_name} is termination-protected, so nothing was destroyed"
    if stack_name == config.stack_name(STATEFUL_PURPOSE):
        return (
            f"{refused}: set stateful.termination_protection: false in endpoint_configs/{env}.yaml, "
            f"run make deploy-local ENV={env}, then destroy again (or make local-aws-stop, which forgets "
            "everything)"
        )
    return (
        f"{refused}: turn it off with aws cloudformation update-termination-protection "
        f"--no-enable-termination-protection --stack-name {stack_name}, then destroy again"
    )


def _is_missing_stack(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(
        error.response["Error"].get("Message", "")
    )


def explain(error: BotoCoreError | ClientError, *, env: str) -> str:
    """One line for an error of the local AWS or of boto3: what is wrong, and what to do."""
    if isinstance(error, EndpointConnectionError):
        address = urlsplit(str(error.kwargs.get("endpoint_url", "")))
        return (
            f"the local AWS does not answer at {address.scheme}://{address.netloc}: "
            "stop it with make local-aws-stop and start it again with make deploy-local"
        )
    if isinstance(error, (NoCredentialsError, ProfileNotFound)):
        return f"{error}: the local AWS needs no credentials; unset AWS_PROFILE and try again"
    if isinstance(error, ClientError):
        message = error.response["Error"].get("Message", "")
        operation = error.operation_name
        if _is_missing_stack(error):
            return f"{message} on the local AWS: deploy it first with make deploy-local ENV={env}"
        return f"the local AWS answered {error.response['Error'].get('Code')} to {operation}: {message}"
    return str(error)


def _invoke(state: ServerState, config: EnvironmentConfig, kind: str) -> str:
    """Call the deployed workload the way its kind is invoked, with the sample request."""
    try:
        result = invoke_workload(
            AwsClients.local(state.url, config.region),
            config,
            kind,
            json.dumps(SAMPLE_REQUEST).encode(),
            "application/json",
            timeout_seconds=300,
        )
    except NotDeployedError as error:
        raise LocalAwsError(
            f"{error} on the local AWS: deploy it first with make deploy-local ENV={config.environment}"
        ) from None
    except InvocationError as error:
        raise LocalAwsError(str(error)) from None
    if not result.succeeded:
        raise LocalAwsError(f"the sample request failed; SageMaker wrote {result.result_location}")
    where = f" (result at {result.result_location})" if result.result_location else ""
    return f"{_describe_answer(result.body)}{where}"


SAMPLE_BATCH = (
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping in the sunny window.",
    "Quarterly revenue grew faster than expected.",
    "The company's sales rose sharply this quarter.",
)
"""Two pairs of sentences that mean the same: a working model puts each pair closer together."""


def _run_job(state: ServerState, config: EnvironmentConfig, kind: str) -> tuple[list[SummaryRow], str]:
    """Upload a small JSON Lines sample to the input location, run the job kind once, wait for it,
    and read its results back: what a user does with ``make batch-run``."""
    clients = AwsClients.local(state.url, config.region)
    try:
        in_bucket, in_prefix, out_bucket, out_prefix = batch_locations(
            clients("cloudformation"), config, kind
        )
        key = f"{in_prefix}deploy-local-sample.jsonl"
        lines = "".join(json.dumps({"inputs": sentence}) + "\n" for sentence in SAMPLE_BATCH)
        s3 = clients("s3")
        s3.put_object(Bucket=in_bucket, Key=key, Body=lines.encode(), ContentType="application/json")
        execution_arn = start_batch_run(clients, config, kind)
        result = wait_for_batch_run(clients, execution_arn, timeout_seconds=600)
    except InvocationError as error:
        raise LocalAwsError(str(error)) from None
    if not result.succeeded:
        raise LocalAwsError(f"the sample batch run failed: {result.failure_reason or result.status}")
    output_key = f"{out_prefix}{key.removeprefix(in_prefix)}.out"
    body = s3.get_object(Bucket=out_bucket, Key=output_key)["Body"].read()
    took = f"{result.duration_seconds:.0f} s" if result.duration_seconds is not None else "duration unknown"
    rows = [
        SummaryRow("execution", execution_arn, result.status),
        SummaryRow("job", result.job_name or "", f"{result.job_status}, {took}"),
        SummaryRow("job output", f"s3://{out_bucket}/{output_key}", "one line per input line"),
    ]
    return rows, _describe_embeddings(body)


def _describe_embeddings(body: bytes) -> str:
    """How many lines were embedded, and whether sentences that mean the same came out closer."""
    try:
        vectors = [json.loads(line)["embeddings"][0] for line in body.decode().splitlines() if line.strip()]
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:200].decode(errors="replace")

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    if len(vectors) != len(SAMPLE_BATCH):
        return f"{len(vectors)} embeddings for {len(SAMPLE_BATCH)} sentences"
    same = min(cosine(vectors[0], vectors[1]), cosine(vectors[2], vectors[3]))
    different = max(cosine(vectors[0], vectors[2]), cosine(vectors[1], vectors[3]))
    return (
        f"{len(vectors)} sentences embedded ({len(vectors[0])} dimensions); sentences that mean the same: "
        f"cosine >= {same:.2f}, unrelated: <= {different:.2f}"
    )


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


@dataclass(frozen=True)
class SummaryRow:
    """One deployed resource in the summary: its kind, whole name, and what it is set to."""

    kind: str
    name: str
    details: str


def summary_rows(client: Callable[[str], Any], endpoint_name: str) -> list[SummaryRow]:
    """The endpoint, its variants, async output, scaling targets, policies and alarms, read back
    with boto3 (``client(service)`` gives a client of the local AWS)."""
    sagemaker = client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    rows = []
    for variant in config["ProductionVariants"]:
        serverless = variant.get("ServerlessConfig")
        detail = (
            f"serverless {serverless['MemorySizeInMB']} MB, max concurrency {serverless['MaxConcurrency']}"
            if serverless
            else f"{variant.get('InitialInstanceCount')} x {variant.get('InstanceType')}"
        )
        rows.append(
            SummaryRow(
                "endpoint",
                f"{endpoint_name} / {variant['VariantName']}",
                f"{endpoint['EndpointStatus']}, {detail}",
            )
        )
    if config.get("AsyncInferenceConfig"):
        output = config["AsyncInferenceConfig"]["OutputConfig"]
        rows.append(SummaryRow("async output", output["S3OutputPath"], "results land here"))
    autoscaling = client("application-autoscaling")
    for target in autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]:
        if f"endpoint/{endpoint_name}/" in target["ResourceId"]:
            dimension = target["ScalableDimension"].rsplit(":", 1)[1]
            rows.append(
                SummaryRow(
                    "scaling",
                    target["ResourceId"],
                    f"{dimension} {target['MinCapacity']}-{target['MaxCapacity']}",
                )
            )
    for policy in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]:
        if f"endpoint/{endpoint_name}/" in policy["ResourceId"]:
            rows.append(SummaryRow("policy", policy["PolicyName"], policy["PolicyType"]))
    for alarm in client("cloudwatch").describe_alarms()["MetricAlarms"]:
        if endpoint_name in alarm["AlarmName"] or endpoint_name in alarm.get("AlarmDescription", ""):
            rows.append(SummaryRow("alarm", alarm["AlarmName"], alarm.get("AlarmDescription", "")))
    return rows


def compilation_rows(client: Callable[[str], Any], stack_name: str) -> list[SummaryRow]:
    """The workload stack's Neo compilation job and the archive it produced, if it has one; a job
    the local AWS completed without Neo's compiler says so."""
    job_name = deployed_stack(client("cloudformation"), stack_name).outputs.get("CompilationJobName")
    if job_name is None:
        return []
    sagemaker = client("sagemaker")
    job = sagemaker.describe_compilation_job(CompilationJobName=job_name)
    output = job["OutputConfig"]
    platform = output.get("TargetPlatform") or {}
    target = output.get("TargetDevice") or "/".join(
        platform[key] for key in ("Os", "Arch", "Accelerator") if key in platform
    )
    framework = f"{job['InputConfig']['Framework']} {job['InputConfig'].get('FrameworkVersion', '')}".strip()
    detail = f"{job['CompilationJobStatus']}, {framework} for {target}"
    tags = sagemaker.list_tags(ResourceArn=job["CompilationJobArn"]).get("Tags", [])
    stand_in = next((tag["Value"] for tag in tags if tag["Key"] == NEO_STAND_IN_TAG), None)
    if stand_in is not None:
        detail += f"; stood in by the local AWS ({stand_in}): Neo's compiler runs only in AWS"
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    return [
        SummaryRow("compilation", job_name, detail),
        SummaryRow("compiled", artifact, "Neo's output; the model serves it with the inference code added"),
    ]


def print_summary(rows: list[SummaryRow], out: Console) -> None:
    """One entry per resource: its kind and details, then its whole name on a line of its own,
    never cut or folded, however narrow the terminal (names are what users copy)."""
    out.print("[bold]What was deployed[/bold]")
    for row in rows:
        out.print(f"[bold]{row.kind:<12}[/bold] {row.details}", soft_wrap=False, highlight=False)
        out.print(f"  {row.name}", soft_wrap=True, highlight=False, markup=False)
