"""The local AWS fails the way AWS fails, and its command line fails in one line.

- a model's error answer reaches boto3, over HTTP as ``make deploy-local`` calls it, as SageMaker's
  ModelError (424) with the handler's status and message;
- a busy port names the port and the make variable that changes it;
- stopping the local AWS forgets the model artifacts it unpacked;
- an unreachable local AWS and a missing stack are one line on stderr, exit status 1, no traceback.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from endpoint_configs import load_environment_config
from local_aws import __main__ as cli
from local_aws import deploy
from local_aws.moto_fixes import RoutedInvocation, use_model_router
from local_aws.server import stop_running
from local_aws.state import ARTIFACTS, ServerState
from tests.local_aws.conftest import IMAGE, ROLE_ARN, local_client

HANDLER_400 = b'{"error": "inputs must be a non-empty list"}'


class AnswersBadRequest:
    """A model router whose model answers every request as a handler does to ``{"inputs": []}``."""

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None,
    ) -> RoutedInvocation | None:
        return RoutedInvocation("AllTraffic", 400, HANDLER_400, "application/json", "Bad Request")


@pytest.fixture
def routed_to_a_failing_model(local_aws: ServerState) -> Iterator[ServerState]:
    """GIVEN the local AWS with an endpoint whose model answers 400."""
    sagemaker = local_client("sagemaker", local_aws)
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="embeddings", EndpointConfigName="c")
    use_model_router(AnswersBadRequest())
    try:
        yield local_aws
    finally:
        use_model_router(None)


def test_a_400_from_the_handler_reaches_boto3_as_a_model_error_over_http(
    routed_to_a_failing_model: ServerState,
) -> None:
    runtime = local_client("sagemaker-runtime", routed_to_a_failing_model)
    # WHEN the endpoint is invoked with a request its handler rejects
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName="embeddings", Body=b'{"inputs": []}', ContentType="application/json"
        )
    # THEN SageMaker's ModelError: 424, the handler's status and body, the endpoint's log group
    response = raised.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert json.loads(response["OriginalMessage"]) == json.loads(HANDLER_400)
    assert response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/embeddings")
    assert response["Error"]["Message"].startswith(
        f'Received client error (400) from primary with message "{HANDLER_400.decode()}"'
    )


# -- ports -----------------------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """GIVEN a loopback port something else listens on."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield int(busy.getsockname()[1])


def test_a_busy_port_names_the_port_and_the_make_variable(
    busy_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "read_state", lambda: None)  # whatever runs for this checkout
    # WHEN the local AWS is started on it in the background, as make deploy-local does
    status = cli.main(["start", "--detach", "--port", str(busy_port)])
    # THEN one line: the port, the make variable that changes it, and a port to try
    error = capsys.readouterr().err
    assert status == 1
    assert error.count("\n") == 1
    assert error.startswith(f"error: port {busy_port} on 127.0.0.1 is in use: stop what holds it or choose")
    assert re.search(
        r"with make deploy-local LOCAL_AWS_PORT=(\d+) \(python -m local_aws start --port \1\)$", error
    )


# -- stop ------------------------------------------------------------------------------------------


def test_stop_forgets_the_model_artifacts_the_run_unpacked(tmp_path: Path) -> None:
    # GIVEN a running launcher (a stand-in process) that unpacked a model artifact
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    threading.Thread(target=process.wait, daemon=True).start()  # reap it, as init would the server
    (tmp_path / "server.json").write_text(json.dumps({"pid": process.pid, "port": 1}))
    (tmp_path / ARTIFACTS).mkdir()
    (tmp_path / ARTIFACTS / "model.tar.gz").write_bytes(b"80 MB, in real life")
    # WHEN it is stopped
    assert stop_running(tmp_path, timeout=10) is True
    # THEN the process is gone, and so is everything of its run
    assert process.wait(timeout=10) == -signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- one line, no traceback -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_local_aws_is_one_line_saying_how_to_restart_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a local AWS that was running but no longer answers
    gone = ServerState(pid=1, port=_closed_port())
    monkeypatch.setattr(deploy, "require_running", lambda: gone)
    # WHEN dev is deployed
    status = cli.main(["deploy", "--env", "dev"])
    # THEN one line, no traceback
    assert status == 1
    assert capsys.readouterr().err == (
        f"error: the local AWS does not answer at {gone.url}: stop it with make local-aws-stop and start it "
        "again with make deploy-local\n"
    )


def test_a_missing_stack_is_one_line_saying_to_deploy_it_first(
    local_aws: ServerState, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the local AWS without dev's async stack, and a deploy that looks up where to send requests
    config = load_environment_config("dev")

    def look_up_async_input(env: str, endpoint_type: str) -> None:
        deploy._invoke(local_aws, config, "async")

    monkeypatch.setattr(deploy, "deploy", look_up_async_input)
    # WHEN the deploy runs
    status = cli.main(["deploy", "--env", "dev", "--endpoint-type", "async"])
    # THEN one line naming the stack and what to do
    assert status == 1
    assert capsys.readouterr().err == (
        "error: stack minilm-embeddings-dev-async is not deployed on the local AWS: deploy it first "
        "with make deploy-local ENV=dev\n"
    )
