"""Command line: call a deployed workload of any kind, or start one that runs as a job.

python -m endpoint_client invoke --env dev [--endpoint-type async] (--body JSON | --file PATH)
    [--content-type application/json] [--accept TYPE] [--local-aws] [--timeout SECONDS]
python -m endpoint_client batch-run --env dev [--endpoint-type KIND] [--wait] [--timeout SECONDS]
    [--local-aws]
python -m endpoint_client restore --env dev [--endpoint-type KIND] [--local-aws]

The answer goes to standard output (JSON indented), so it can be piped; what was called, the
production variant that answered and where an asynchronous request and its result are in S3 go to
standard error. Every failure is one line on standard error (a bad configuration: its problem list)
and exit status 1, without a traceback: no credentials, an unreachable endpoint URL, a stack or
endpoint that is not deployed, the model's error answer (its status and message), an asynchronous
failure object, no result within ``--timeout``, an unreadable ``--file``, ``--body`` that is not JSON.

``batch-run`` starts the state machine of the environment's workload that runs as a job and prints
the execution ARN on standard output; with ``--wait`` it then prints the transform job's name,
status, duration and output location, or its failure reason as one line on standard error (exit 1).

``restore`` creates the endpoint again, with its name and the endpoint config its stack publishes,
when the idle guard deleted it; it does nothing when the endpoint exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from endpoint_client.clients import AwsClients
from endpoint_client.errors import (
    InvocationError,
    NotDeployedError,
    RequestError,
    duration,
    one_line,
    seconds,
)
from endpoint_client.request import (
    DEFAULT_BATCH_TIMEOUT_SECONDS,
    DEFAULT_CONTENT_TYPE,
    DEFAULT_TIMEOUT_SECONDS,
    read_request,
    render_body,
)
from endpoint_client.restore import restore_deleted_endpoint
from endpoint_configs import WORKLOAD_KINDS, ConfigError, available_environments, load_environment_config
from endpoint_configs import resolve_endpoint_type as resolve_kind

if TYPE_CHECKING:
    from endpoint_client.batch import BatchRunResult
    from endpoint_client.invoke import InvocationResult
    from local_aws.state import ServerState

LocalAwsState = Callable[[], "ServerState | None"]
"""Finds the running local AWS (default: ``local_aws.server.read_state``); None when none runs."""

REJECTED_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m endpoint_client", description="Call a deployed workload of any kind."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser(
        "invoke",
        help="send one request to an environment's deployed endpoint and print the answer",
        description="Send one request to an environment's deployed endpoint and print the answer: "
        "InvokeEndpoint for synchronous kinds; for asynchronous ones the request goes to "
        "the stack's S3 input location, then InvokeEndpointAsync, and the result is read from S3.",
    )
    environments = ", ".join(available_environments())
    invoke.add_argument("--env", default="dev", help=f"environment (default dev; one of {environments})")
    invoke.add_argument(
        "--endpoint-type",
        default=None,
        help=f"workload kind ({', '.join(WORKLOAD_KINDS)}; default: the environment's default_endpoint_type)",
    )
    request = invoke.add_mutually_exclusive_group(required=True)
    request.add_argument("--body", help='the request, e.g. \'{"inputs": ["hello"]}\' (checked to be JSON)')
    request.add_argument("--file", help="read the request from this file, sent as it is (- for stdin)")
    invoke.add_argument(
        "--content-type", default=DEFAULT_CONTENT_TYPE, help=f"default {DEFAULT_CONTENT_TYPE}"
    )
    invoke.add_argument("--accept", default=None, help="the answer's wanted type (default: the model's)")
    invoke.add_argument(
        "--local-aws",
        action="store_true",
        help="call the running local AWS (make deploy-local) instead of the AWS account of your credentials",
    )
    invoke.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="asynchronous kinds: wait at most this long for the result, polling S3 with backoff "
        f"(default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )
    batch = commands.add_parser(
        "batch-run",
        help="start the environment's job (a batch transform) by hand; --wait for how it ended",
        description="Start an execution of the state machine of the environment's workload that runs as "
        'a job, with input {"trigger": "manual"}, and print its ARN. With --wait, poll it with '
        "backoff until it ends, then print the transform job's name, status, duration and output "
        "location (or its failure reason, exit status 1).",
    )
    batch.add_argument("--env", default="dev", help=f"environment (default dev; one of {environments})")
    batch.add_argument(
        "--endpoint-type",
        default=None,
        help="workload kind (default: the environment's only kind that runs as a job)",
    )
    batch.add_argument("--wait", action="store_true", help="wait until the run ends and print how")
    batch.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help=f"with --wait: wait at most this long (default {DEFAULT_BATCH_TIMEOUT_SECONDS:.0f}, 4 h); "
        "the run goes on after it",
    )
    batch.add_argument(
        "--local-aws",
        action="store_true",
        help="start it on the running local AWS (make deploy-local) instead of the AWS account of your "
        "credentials",
    )
    restore = commands.add_parser(
        "restore",
        help="bring back an endpoint the idle guard deleted, from the config its stack keeps",
        description="When the environment's endpoint is gone but its stack is deployed, create it "
        "again with the same name from the endpoint config the stack publishes (EndpointConfigName); "
        "does nothing when the endpoint exists.",
    )
    restore.add_argument("--env", default="dev", help=f"environment (default dev; one of {environments})")
    restore.add_argument(
        "--endpoint-type",
        default=None,
        help="endpoint kind (default: the environment's default_endpoint_type)",
    )
    restore.add_argument(
        "--local-aws", action="store_true", help="the running local AWS instead of your credentials' account"
    )
    return parser


def main(argv: list[str] | None = None, *, local_aws_state: LocalAwsState | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "batch-run":
        if args.timeout is not None and not args.wait:
            parser.error("batch-run: --timeout applies only with --wait")
        return _batch_run(args, local_aws_state)
    if args.command == "restore":
        return _restore(args, local_aws_state)
    return _invoke(args, local_aws_state)


def _restore(args: argparse.Namespace, local_aws_state: LocalAwsState | None) -> int:
    try:
        config = load_environment_config(args.env)
        kind = resolve_kind(config, args.endpoint_type, source=f"--endpoint-type (env {args.env})")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    deploy = f"make {'deploy-local' if args.local_aws else 'deploy'} ENV={args.env} ENDPOINT_TYPE={kind}"
    clients: AwsClients | None = None
    try:
        clients = _clients(args.local_aws, config.region, deploy, local_aws_state)
        restored = restore_deleted_endpoint(clients, config, kind)
    except (InvocationError, BotoCoreError, ClientError) as error:
        print(f"error: {explain(error, clients=clients, deploy=deploy)}", file=sys.stderr)
        return 1
    print(restored or f"{config.endpoint_name(kind)} exists: nothing to restore")
    return 0


def _invoke(args: argparse.Namespace, local_aws_state: LocalAwsState | None) -> int:
    try:
        body = read_request(args.body, args.file, args.content_type)
        config = load_environment_config(args.env)
        kind = resolve_kind(config, args.endpoint_type, source=f"--endpoint-type (env {args.env})")
    except (RequestError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    deploy = f"make {'deploy-local' if args.local_aws else 'deploy'} ENV={args.env} ENDPOINT_TYPE={kind}"

    # The registry imports aws_cdk, whose jsii runtime warns about Node 20 unless told not to.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from endpoint_client.invoke import invoke_workload

    clients: AwsClients | None = None
    try:
        clients = _clients(args.local_aws, config.region, deploy, local_aws_state)
        result = invoke_workload(
            clients,
            config,
            kind,
            body,
            args.content_type,
            accept=args.accept,
            timeout_seconds=args.timeout,
            progress=lambda line: print(line, file=sys.stderr),
        )
    except (InvocationError, BotoCoreError, ClientError) as error:
        print(f"error: {explain(error, clients=clients, deploy=deploy)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (an asynchronous request keeps running: see the locations above)", file=sys.stderr)
        return 130
    return _show(result)


def _clients(local: bool, region: str, deploy: str, local_aws_state: LocalAwsState | None) -> AwsClients:
    if not local:
        return AwsClients.real(region)
    if local_aws_state is None:
        from local_aws.state import read_state

        local_aws_state = read_state
    state = local_aws_state()
    if state is None:
        raise InvocationError(
            f"no local AWS is running: start it and deploy with {deploy} (or start only the local AWS "
            "with make local-aws), then call again"
        )
    return AwsClients.local(state.url, region)


def _batch_run(args: argparse.Namespace, local_aws_state: LocalAwsState | None) -> int:
    try:
        config = load_environment_config(args.env)
        requested = (
            None
            if args.endpoint_type in (None, "", "default")
            else resolve_kind(config, args.endpoint_type, source=f"--endpoint-type (env {args.env})")
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from endpoint_client.batch import batch_locations, job_kind, start_batch_run, wait_for_batch_run

    clients: AwsClients | None = None
    deploy = f"make {'deploy-local' if args.local_aws else 'deploy'} ENV={args.env}"
    execution_arn: str | None = None
    try:
        kind = job_kind(config, requested)
        deploy += f" ENDPOINT_TYPE={kind}"
        clients = _clients(args.local_aws, config.region, deploy, local_aws_state)
        input_bucket, input_prefix, output_bucket, output_prefix = batch_locations(
            clients("cloudformation"), config, kind
        )
        execution_arn = start_batch_run(clients, config, kind)
        print(execution_arn, flush=True)
        reads, writes = f"s3://{input_bucket}/{input_prefix}", f"s3://{output_bucket}/{output_prefix}"
        print(
            f"{config.stack_name(kind)} ({kind}): run started; reads {reads}, writes {writes}",
            file=sys.stderr,
        )
        if not args.wait:
            return 0
        timeout = args.timeout if args.timeout is not None else DEFAULT_BATCH_TIMEOUT_SECONDS
        print(f"waiting up to {duration(timeout)} for it to end", file=sys.stderr)
        result = wait_for_batch_run(clients, execution_arn, timeout_seconds=timeout)
    except (InvocationError, BotoCoreError, ClientError) as error:
        line = explain(error, clients=clients, deploy=deploy, target="batch-run")
        print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        running = f": the batch run keeps running: {execution_arn}" if execution_arn else ""
        print(f"interrupted{running}", file=sys.stderr)
        return 130
    return _show_batch_run(result)


def _show_batch_run(result: BatchRunResult) -> int:
    from endpoint_client.batch import describe

    if not result.succeeded:
        print(f"error: {describe(result)}", file=sys.stderr)
        return 1
    took = result.duration_seconds
    print(f"job: {result.job_name or '-'}")
    print(f"status: {result.job_status or result.status}")
    print(f"duration: {duration(took) if took is not None else '-'}")
    print(f"output: {result.output_location or '-'}")
    return 0


def _show(result: InvocationResult) -> int:
    kind = f"{result.endpoint_name} ({result.kind})"
    if not result.succeeded:
        text = render_body(result.body, result.content_type)
        detail = one_line(text if isinstance(text, str) else f"{len(text)} bytes")
        print(
            f"error: {kind} failed the request after {seconds(result.waited_seconds)}; its failure object "
            f"{result.result_location} says: {detail}",
            file=sys.stderr,
        )
        return 1
    if result.result_location:
        waited = seconds(result.waited_seconds)
        print(f"{kind}: result at {result.result_location} after {waited}", file=sys.stderr)
    else:
        print(f"{kind}: answered by production variant {result.variant or '(not named)'}", file=sys.stderr)
    shown = render_body(result.body, result.content_type)
    if isinstance(shown, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(shown)
        sys.stdout.buffer.flush()
    else:
        print(shown)
    return 0


def explain(error: Exception, *, clients: AwsClients | None, deploy: str, target: str = "invoke") -> str:
    """One line for a person: what is wrong, and what to do about it."""
    where = clients.where if clients is not None else "AWS"
    local = clients is not None and clients.is_local
    if isinstance(error, NotDeployedError):
        return f"{error} in {where}: deploy it first with {deploy}"
    if isinstance(error, InvocationError):
        return one_line(str(error))
    if isinstance(error, EndpointConnectionError):
        address = urlsplit(str(error.kwargs.get("endpoint_url", "")))
        url = f"{address.scheme}://{address.netloc}"
        if local:
            return (
                f"the local AWS does not answer at {url}: stop it with make local-aws-stop, then start it "
                f"and deploy again with {deploy}"
            )
        return f"cannot reach {url}: check the network connection, the region and AWS_ENDPOINT_URL if set"
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return (
            f"{error}: configure credentials for the AWS account (aws configure, aws sso login, AWS_PROFILE, "
            f"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or add --local-aws (make {target} LOCAL=1) to "
            "call the local AWS"
        )
    if isinstance(error, ProfileNotFound):
        return f"{error}: set AWS_PROFILE to a profile of ~/.aws/config, or unset it"
    if isinstance(error, NoRegionError):
        return f"{error}: set region in the environment's YAML file or AWS_DEFAULT_REGION"
    if isinstance(error, ClientError):
        code = str(error.response["Error"].get("Code", ""))
        message = one_line(str(error.response["Error"].get("Message", "")))
        answered = f"{where} answered {code} to {error.operation_name}: {message}"
        if code in REJECTED_CREDENTIALS:
            return f"{answered}: renew your credentials (aws sso login, or new keys) and call again"
        if "AccessDenied" in code or code == "403":
            return f"{answered}: your credentials need permission for {error.operation_name} on it"
        return answered
    return one_line(str(error))


if __name__ == "__main__":
    sys.exit(main())
