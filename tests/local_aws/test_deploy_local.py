"""The whole local flow once, with the real cdk CLI: start the local AWS, deploy, call the real
model (and a request it rejects: SageMaker's ModelError), deploy again (no changes), deploy async
(result in the output prefix), destroy every stack, stop (the unpacked artifacts go too).
Plus the launcher's bad input: a second launcher, a busy port, deploying with none running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_aws.state import ARTIFACTS, STATE_DIR, read_state
from sagemaker_constructs.idle_guard_handler.index import handler as idle_guard_handler
from tests.conftest import REPO

pytestmark = pytest.mark.slow
DEPLOY_TIMEOUT = 300


def _local_aws(*args: str, timeout: float = DEPLOY_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_aws", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "COLUMNS": "200", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def local_aws() -> Iterator[int]:
    """GIVEN a local AWS started in the background on a free loopback port."""
    assert read_state() is None, "a local AWS is already running for this checkout"
    port = _free_port()
    started = _local_aws("start", "--detach", "--port", str(port), timeout=90)
    assert started.returncode == 0, started.stderr
    try:
        yield port
    finally:
        _local_aws("stop", timeout=60)


def test_a_second_launcher_is_refused(local_aws: int) -> None:
    second = _local_aws("start", "--port", str(_free_port()), timeout=60)
    assert second.returncode == 1
    assert second.stderr.startswith("error: a local AWS is already running for this project (pid ")


def test_deploy_calls_the_real_model_and_shows_what_exists(local_aws: int) -> None:
    deployed = _local_aws("deploy", "--env", "dev")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert "minilm-embeddings-dev-realtime answered: 1 embedding(s) of 384 dimensions" in deployed.stdout
    for row in ("minilm-embeddings-dev-stateful", "CREATE_COMPLETE", "DesiredInstanceCount 1-2", "alarm"):
        assert row in deployed.stdout
    # what it would cost on AWS at dev's traffic: profile: one ml.m5.large, $0.115 x 730 h
    estimate = " ".join(deployed.stdout.split("On AWS, cost estimate: ", 1)[1].split())
    assert estimate.startswith("dev realtime (real-time ml.m5.large x1): about $83.95/month")


def test_a_request_the_handler_rejects_is_sagemakers_model_error(local_aws: int) -> None:
    runtime = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{local_aws}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName="minilm-embeddings-dev-realtime",
            Body=b'{"inputs": []}',
            ContentType="application/json",
        )
    response = raised.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"]
    assert "Received client error (400) from primary" in response["Error"]["Message"]


def test_second_deploy_reports_no_changes_and_brings_back_what_the_idle_guard_deleted(
    local_aws: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dev's idle guard (action: delete) has fired: its handler deletes the endpoint
    endpoint = "minilm-embeddings-dev-realtime"
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{local_aws}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ENDPOINT_NAME": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    fired = {"alarmData": {"state": {"value": "ALARM"}}}
    assert idle_guard_handler(fired, None)["action"] == "deleted"
    # WHEN deploy-local runs again
    again = _local_aws("deploy", "--env", "dev")
    assert again.returncode == 0, again.stderr[-3000:]
    output = again.stdout + again.stderr
    # THEN the endpoint is back from its kept config, and it answers
    assert f"{endpoint} was deleted (the idle guard?); restoring it from endpoint config" in output
    assert f"{endpoint} answered: 1 embedding(s) of 384 dimensions" in output
    assert "minilm-embeddings-dev-stateful (no changes)" in output
    assert "minilm-embeddings-dev-realtime (no changes)" in output


def test_async_result_lands_in_the_configured_output_prefix(local_aws: int) -> None:
    deployed = _local_aws("deploy", "--env", "dev", "--endpoint-type", "async")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    answer = deployed.stdout.split("answered: ", 1)[1]
    assert answer.startswith("1 embedding(s) of 384 dimensions")
    assert "/async/output/" in answer


def test_a_batch_run_embeds_a_file_and_sentences_that_mean_the_same_come_out_closer(local_aws: int) -> None:
    # GIVEN the batch kind deployed: a state machine whose transform job runs the packaged model
    deployed = _local_aws("deploy", "--env", "dev", "--endpoint-type", "batch")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    # THEN the sample file went through a real transform job, one output line per input line,
    # and the two pairs of paraphrases are closer to each other than to the unrelated sentences
    answer = " ".join(deployed.stdout.split("ran: ", 1)[1].split("On AWS, ", 1)[0].split())
    assert answer.startswith("4 sentences embedded (384 dimensions)")
    same = float(answer.split("cosine >= ", 1)[1].split(",", 1)[0])
    unrelated = float(answer.split("unrelated: <= ", 1)[1])
    assert same > unrelated + 0.2
    assert "Completed" in deployed.stdout
    assert "/batch/output/deploy-local-sample.jsonl.out" in deployed.stdout


def _states_of_a_new_objects_check(port: int) -> list[str]:
    """Start the batch state machine as its new-objects schedule does, wait, and list its states."""
    clients = {
        service: boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        for service in ("cloudformation", "stepfunctions")
    }
    (stack,) = clients["cloudformation"].describe_stacks(StackName="minilm-embeddings-dev-batch")["Stacks"]
    machine = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "StateMachineArn")
    stepfunctions = clients["stepfunctions"]
    execution = stepfunctions.start_execution(stateMachineArn=machine, input='{"trigger": "new-objects"}')
    for _ in range(120):
        if stepfunctions.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING":
            break
        time.sleep(0.5)
    history = stepfunctions.get_execution_history(executionArn=execution["executionArn"])["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def test_new_input_starts_one_job_at_the_next_check_and_none_after(local_aws: int) -> None:
    # GIVEN the batch deploy above uploaded one object under the input prefix (one queued event)
    # WHEN the new-objects check runs twice
    first = _states_of_a_new_objects_check(local_aws)
    second = _states_of_a_new_objects_check(local_aws)
    # THEN the first clears the queue and runs one job; the second finds nothing new
    assert first == [
        "StartedByCheck",
        "CountNewInput",
        "HasNewInput",
        "ClearNewInput",
        "RunTransformJob",
        "NotifySuccess",
    ]
    assert second == ["StartedByCheck", "CountNewInput", "HasNewInput", "NothingNew"]


def _local_client(service: str, port: int) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_neo_compiled_model_deploys_and_answers_with_the_stand_in_said_plainly(local_aws: int) -> None:
    # GIVEN neo.yaml: the model traced at synth, compiled for ml_c5 by a custom resource
    deployed = _local_aws("deploy", "--env", "neo")
    # THEN the handler ran in-process, the job exists, and the endpoint serves the traced model
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    output = " ".join(deployed.stdout.split())
    assert "minilm-embeddings-neo-realtime answered: 1 embedding(s) of 384 dimensions" in output
    assert "COMPLETED, PYTORCH 2.0 for ml_c5; stood in by the local AWS" in output
    assert "Neo's compiler runs only in AWS" in output
    assert "minilm-embeddings-neo-realtime-neo-" in output
    # AND the model serves the archive the compilation resource wrote into the environment's bucket
    sagemaker = _local_client("sagemaker", local_aws)
    urls = [
        sagemaker.describe_model(ModelName=m["ModelName"])["PrimaryContainer"].get("ModelDataUrl", "")
        for m in sagemaker.list_models()["Models"]
    ]
    (compiled,) = [url for url in urls if "/neo/realtime/" in url]
    assert compiled.endswith("/serving/model.tar.gz")


def test_a_large_language_model_deploys_and_says_plainly_it_is_not_served_locally(local_aws: int) -> None:
    # GIVEN llm.yaml: Llama-3-8B on a GPU instance with the TGI container, weights in S3
    deployed = _local_aws("deploy", "--env", "llm")
    # THEN the stacks deploy, and instead of failing late on a call it says why it does not call
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    output = " ".join(deployed.stdout.split())
    assert "llm-chat-llm-stateful" in output
    assert (
        "llm-chat-llm-realtime is deployed on the local AWS, but its invocations are not served locally: "
        "the TGI container needs an NVIDIA GPU" in output
    )
    assert "answered" not in output
    assert "On AWS, cost estimate: llm realtime (real-time ml.g5.2xlarge x1)" in output
    # AND the model reads the uncompressed weights' prefix in the TGI container
    sagemaker = _local_client("sagemaker", local_aws)
    containers = [
        sagemaker.describe_model(ModelName=m["ModelName"])["PrimaryContainer"]
        for m in sagemaker.list_models()["Models"]
    ]
    (tgi,) = [c for c in containers if "huggingface-pytorch-tgi-inference" in c["Image"]]
    assert tgi["ModelDataSource"]["S3DataSource"] == {
        "S3Uri": "s3://llm-chat-models-example/meta-llama-3-8b-instruct/",
        "S3DataType": "S3Prefix",
        "CompressionType": "None",
    }
    # AND a call fails as the model's error saying why, not with a canned answer
    runtime = _local_client("sagemaker-runtime", local_aws)
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="llm-chat-llm-realtime", Body=b'{"inputs": "Hi"}')
    response = raised.value.response
    assert (response["Error"]["Code"], response["OriginalStatusCode"]) == ("ModelError", 501)
    assert "the local AWS cannot run the Hugging Face TGI container" in response["OriginalMessage"]


def test_destroy_removes_every_stack_of_the_environment(local_aws: int) -> None:
    # GIVEN dev deployed as realtime, as async and as batch (the tests above)
    destroyed = _local_aws("destroy", "--env", "dev")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    lines = destroyed.stdout.splitlines()
    gone = [line.removesuffix(": destroyed") for line in lines if line.endswith(": destroyed")]
    assert sorted(gone[:-1]) == [
        "minilm-embeddings-dev-async",
        "minilm-embeddings-dev-batch",
        "minilm-embeddings-dev-realtime",
    ]
    assert gone[-1] == "minilm-embeddings-dev-stateful"


def test_busy_port_is_reported(local_aws: int) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # stop the module's launcher first: the lock would be reported before the port
        assert _local_aws("stop", timeout=60).returncode == 0
        assert not (STATE_DIR / ARTIFACTS).exists()  # stopping forgets the unpacked model artifacts
        refused = _local_aws("start", "--port", str(port), timeout=60)
    assert refused.returncode == 1
    assert re.fullmatch(
        rf"error: port {port} on 127\.0\.0\.1 is in use: stop what holds it or choose another with "
        r"make deploy-local LOCAL_AWS_PORT=(\d+) \(python -m local_aws start --port \1\)\n",
        refused.stderr,
    ), refused.stderr
    assert not (STATE_DIR / "server.json").exists()


def test_deploy_without_a_running_local_aws_says_how_to_start_it(local_aws: int) -> None:
    assert read_state() is None
    refused = _local_aws("deploy", "--env", "dev", timeout=60)
    assert refused.returncode == 1
    assert "error: the local AWS is not running: start it with 'make local-aws'" in refused.stderr
