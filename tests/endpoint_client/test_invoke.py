"""endpoint_client.invoke: the API the command line and the local deploy share, against moto with
the local AWS's fixes (synchronous and asynchronous round trips, the published input location, the
bounded wait)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import boto3
import pytest

from endpoint_client import (
    AwsClients,
    NotDeployedError,
    NotInvocableError,
    PollSchedule,
    ResultTimeoutError,
    StackOutputMissingError,
    async_input_location,
    invoke_workload,
    wait_for_async_result,
)
from endpoint_configs import EnvironmentConfig
from stacks.registry import WORKLOAD_KINDS, Invocation
from tests.endpoint_client.conftest import (
    ENVIRONMENT_BUCKET,
    REGION,
    create_endpoint,
    create_stack,
    deploy_async,
    deploy_stateful,
)

REQUEST = json.dumps({"inputs": ["hello"]}).encode()
FAST = PollSchedule(first_seconds=0.01, factor=2, longest_seconds=0.05)


@pytest.fixture
def clients(aws: None) -> AwsClients:
    return AwsClients(boto3.session.Session(region_name=REGION), where="moto")


@pytest.mark.parametrize(
    "kind", [k for k, w in WORKLOAD_KINDS.items() if w.invocation is Invocation.SYNCHRONOUS]
)
def test_synchronous_round_trip_returns_the_answer_and_the_variant(
    clients: AwsClients, config: EnvironmentConfig, embeds: None, kind: str
) -> None:
    # GIVEN the kind's endpoint, deployed with a model that embeds
    create_endpoint(clients, config.endpoint_name(kind))
    # WHEN it is invoked through the API
    result = invoke_workload(clients, config, kind, REQUEST, "application/json")
    # THEN the model's answer, and the variant that served it
    assert json.loads(result.body) == {"embeddings": [[0.125, -0.5]], "request_bytes": len(REQUEST)}
    assert (result.succeeded, result.variant, result.content_type) == (True, "AllTraffic", "application/json")
    assert (result.invocation, result.endpoint_name) == (Invocation.SYNCHRONOUS, config.endpoint_name(kind))
    assert result.input_location is None


def test_async_round_trip_uploads_under_the_published_prefix_and_reads_the_output(
    clients: AwsClients, config: EnvironmentConfig, embeds: None
) -> None:
    # GIVEN the async stack's outputs, the stateful bucket export and the endpoint
    endpoint_name = deploy_async(clients, config)
    sent: list[dict[str, Any]] = []
    clients("sagemaker-runtime").meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", lambda params, **_: sent.append(params)
    )
    progress: list[str] = []
    # WHEN the async kind is invoked
    result = invoke_workload(
        clients, config, "async", REQUEST, "application/json", poll=FAST, progress=progress.append
    )
    # THEN the request went under the stack's InputPrefix in the environment bucket, with the stack's
    # InvocationTimeoutSeconds, and the model's output came back from the configured output path
    assert result.input_location is not None
    assert result.input_location.startswith(f"s3://{ENVIRONMENT_BUCKET}/async/input/endpoint-client-")
    assert result.input_location.endswith(".json")
    key = result.input_location.removeprefix(f"s3://{ENVIRONMENT_BUCKET}/")
    assert clients("s3").get_object(Bucket=ENVIRONMENT_BUCKET, Key=key)["Body"].read() == REQUEST
    assert sent == [
        {
            "EndpointName": endpoint_name,
            "InputLocation": result.input_location,
            "ContentType": "application/json",
            "InvocationTimeoutSeconds": 600,
        }
    ]
    assert result.succeeded
    assert result.result_location is not None
    assert result.result_location.startswith(f"s3://{ENVIRONMENT_BUCKET}/async/output/")
    assert json.loads(result.body)["embeddings"] == [[0.125, -0.5]]
    assert [line.split(" ")[0] for line in progress] == ["request", endpoint_name]


def test_async_failure_object_comes_back_as_a_failed_result(
    clients: AwsClients, config: EnvironmentConfig, fails: None
) -> None:
    deploy_async(clients, config)
    # WHEN the model fails the request
    result = invoke_workload(clients, config, "async", REQUEST, "application/json", poll=FAST)
    # THEN the failure object, read from the configured failure path
    assert not result.succeeded
    assert result.result_location is not None
    assert result.result_location.startswith(f"s3://{ENVIRONMENT_BUCKET}/async/failure/")
    assert result.body == b"boom"


def test_async_input_location_is_the_stacks_input_path_when_it_publishes_one(
    clients: AwsClients, config: EnvironmentConfig
) -> None:
    # GIVEN an async stack whose config set input_path
    create_stack(clients, config.stack_name("async"), {"InputPath": "s3://team-requests/embeddings"})
    # THEN that bucket and prefix (as a prefix), and no stateful export is needed
    assert async_input_location(clients("cloudformation"), config, "async") == (
        "team-requests",
        "embeddings/",
    )


def test_async_input_location_is_the_input_prefix_in_the_environment_bucket(
    clients: AwsClients, config: EnvironmentConfig
) -> None:
    deploy_stateful(clients, config)
    create_stack(clients, config.stack_name("async"), {"InputPrefix": "async/input/"})
    assert async_input_location(clients("cloudformation"), config, "async") == (
        ENVIRONMENT_BUCKET,
        "async/input/",
    )


def test_async_input_location_of_a_stack_that_is_not_deployed(
    clients: AwsClients, config: EnvironmentConfig
) -> None:
    with pytest.raises(NotDeployedError, match=f"^stack {config.stack_name('async')} is not deployed$"):
        async_input_location(clients("cloudformation"), config, "async")


def test_async_input_prefix_without_the_stateful_export_names_the_stateful_stack(
    clients: AwsClients, config: EnvironmentConfig
) -> None:
    create_stack(clients, config.stack_name("async"), {"InputPrefix": "async/input/"})
    with pytest.raises(NotDeployedError) as raised:
        async_input_location(clients("cloudformation"), config, "async")
    assert str(raised.value) == (
        f"stack {config.stack_name('stateful')} is not deployed "
        f"(no export {config.stateful_exports.bucket_name} of the environment's bucket)"
    )


def test_a_stack_without_input_outputs_says_so(clients: AwsClients, config: EnvironmentConfig) -> None:
    create_stack(clients, config.stack_name("async"), {"EndpointName": "x"})
    with pytest.raises(StackOutputMissingError, match="publishes no InputPath or InputPrefix output"):
        async_input_location(clients("cloudformation"), config, "async")


def test_the_async_wait_times_out_cleanly_with_a_tiny_timeout(clients: AwsClients) -> None:
    # GIVEN a request whose result has not appeared yet
    clients("s3").create_bucket(Bucket="results")
    started = time.monotonic()
    # WHEN the wait is bounded to 0.1 s
    with pytest.raises(ResultTimeoutError) as raised:
        wait_for_async_result(
            clients("s3"),
            "s3://results/output/1.out",
            "s3://results/failure/1-error.out",
            timeout_seconds=0.1,
            poll=FAST,
            invocation_timeout_seconds=600,
        )
    # THEN it gives up on time, naming both locations and how to wait longer
    assert time.monotonic() - started < 1
    assert str(raised.value) == (
        "no result after 0.1 s at s3://results/output/1.out or s3://results/failure/1-error.out; the "
        "request may still be queued or running (an endpoint scaled to zero first starts an instance, "
        "which takes minutes) (the endpoint allows it 600 s): look there later, or wait longer with "
        "--timeout 600"
    )


def test_the_poll_schedule_backs_off_to_its_longest_wait() -> None:
    delays = PollSchedule(first_seconds=1, factor=2, longest_seconds=5).delays()
    assert [next(delays) for _ in range(5)] == [1, 2, 4, 5, 5]


def test_a_kind_that_runs_as_a_job_is_not_invoked(
    clients: AwsClients, config: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a registry in which the real-time kind runs as a job (no job kind exists yet)
    job = dataclasses.replace(WORKLOAD_KINDS["realtime"], invocation=Invocation.JOB)
    monkeypatch.setitem(WORKLOAD_KINDS, "realtime", job)
    # WHEN it is invoked THEN nothing is called, and the message says it runs as a job
    with pytest.raises(NotInvocableError, match=r"^realtime runs as a job .*: there is nothing to invoke$"):
        invoke_workload(clients, config, "realtime", REQUEST, "application/json")
