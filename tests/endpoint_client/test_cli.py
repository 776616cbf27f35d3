"""python -m endpoint_client invoke: answers on stdout, and every failure one line on stderr with exit
status 1, no traceback (GIVEN/WHEN/THEN through ``main``)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoRegionError

from endpoint_client import AwsClients
from endpoint_client.__main__ import explain, main
from endpoint_configs import EnvironmentConfig
from local_aws.state import ServerState, read_state
from stacks.registry import WORKLOAD_KINDS, Invocation
from tests.conftest import REPO
from tests.endpoint_client.conftest import (
    ACCOUNT_ID,
    ENVIRONMENT_BUCKET,
    REGION,
    create_endpoint,
    deploy_async,
    moto_clients,
)

BODY = '{"inputs": ["hello"]}'
REALTIME = ["invoke", "--env", "dev", "--endpoint-type", "realtime", "--body", BODY]
ASYNC = ["invoke", "--env", "dev", "--endpoint-type", "async", "--body", BODY, "--timeout", "5"]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The only line on stderr, which must be an error and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


# -- answers --------------------------------------------------------------------------------------


def test_a_synchronous_answer_is_pretty_json_on_stdout_and_the_variant_on_stderr(
    aws: None, embeds: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the real-time endpoint, deployed
    create_endpoint(moto_clients, config.endpoint_name("realtime"))
    # WHEN it is invoked from the command line
    status = main(REALTIME)
    # THEN the answer, indented, and the variant that served it
    out, err = capsys.readouterr()
    assert status == 0
    assert out == json.dumps({"embeddings": [[0.125, -0.5]], "request_bytes": len(BODY)}, indent=2) + "\n"
    assert (
        err == f"{config.endpoint_name('realtime')} (realtime): answered by production variant AllTraffic\n"
    )


def test_an_async_answer_is_printed_with_where_it_was(
    aws: None, embeds: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint_name = deploy_async(moto_clients, config)
    status = main(ASYNC)
    out, err = capsys.readouterr()
    assert status == 0
    assert json.loads(out)["embeddings"] == [[0.125, -0.5]]
    uploaded, accepted, result = err.splitlines()
    assert uploaded.startswith(f"request uploaded to s3://{ENVIRONMENT_BUCKET}/async/input/endpoint-client-")
    assert accepted.startswith(f"{endpoint_name} accepted it (inference id ")
    assert " waiting up to 5.0 s for " in accepted
    assert result.startswith(f"{endpoint_name} (async): result at s3://{ENVIRONMENT_BUCKET}/async/output/")


def test_an_async_failure_object_exits_1_naming_it(
    aws: None, fails: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint_name = deploy_async(moto_clients, config)
    status = main(ASYNC)
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert re.fullmatch(
        rf"error: {endpoint_name} \(async\) failed the request after \d+\.\d s; its failure object "
        rf"s3://{ENVIRONMENT_BUCKET}/async/failure/[0-9a-f-]+-error\.out says: boom",
        err.splitlines()[-1],
    )


def test_a_file_request_goes_as_it_is_and_json_is_not_checked_for_other_types(
    aws: None, embeds: None, config: EnvironmentConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_endpoint(moto_clients, config.endpoint_name("realtime"))
    request = tmp_path / "request.csv"
    request.write_bytes(b"hello,world\n")
    status = main(["invoke", "--file", str(request), "--content-type", "text/csv"])
    assert status == 0
    assert json.loads(capsys.readouterr().out)["request_bytes"] == len(b"hello,world\n")


def test_the_local_aws_is_called_with_its_url_and_dummy_keys(
    moto_server: ServerState,
    embeds: None,
    config: EnvironmentConfig,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a running local AWS with the async workload, and a profile that does not exist
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    local = AwsClients.local(moto_server.url, REGION)
    endpoint_name = deploy_async(local, config)
    # WHEN the async kind is invoked with --local-aws
    status = main([*ASYNC, "--local-aws"], local_aws_state=lambda: moto_server)
    # THEN the round trip went through the local AWS's S3 (path-style) and SageMaker
    out, err = capsys.readouterr()
    assert status == 0, err
    assert json.loads(out)["embeddings"] == [[0.125, -0.5]]
    assert f"{endpoint_name} (async): result at s3://{ENVIRONMENT_BUCKET}/async/output/" in err


# -- one line for each failure ----------------------------------------------------------------------


def test_no_credentials_says_how_to_configure_them_or_use_the_local_aws(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no credentials anywhere in the chain (and so no request leaves this machine)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # WHEN the endpoint is invoked
    status = main(REALTIME)
    # THEN one line: what is missing, how to configure it, and the local alternative
    assert status == 1
    assert one_error_line(capsys) == (
        "Unable to locate credentials: configure credentials for the AWS account (aws configure, aws sso "
        "login, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or add --local-aws (make "
        "invoke LOCAL=1) to call the local AWS"
    )


def test_no_local_aws_running_says_how_to_start_one(
    fake_credentials: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([*REALTIME, "--local-aws"], local_aws_state=lambda: read_state(tmp_path))
    assert status == 1
    assert one_error_line(capsys) == (
        "no local AWS is running: start it and deploy with make deploy-local ENV=dev ENDPOINT_TYPE=realtime "
        "(or start only the local AWS with make local-aws), then call again"
    )


def test_a_local_aws_that_does_not_answer_is_one_line(
    fake_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a local AWS whose port nothing listens on any more
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    gone = ServerState(pid=os.getpid(), port=port)
    status = main([*REALTIME, "--local-aws"], local_aws_state=lambda: gone)
    assert status == 1
    assert one_error_line(capsys) == (
        f"the local AWS does not answer at http://127.0.0.1:{port}: stop it with make local-aws-stop, then "
        "start it and deploy again with make deploy-local ENV=dev ENDPOINT_TYPE=realtime"
    )


def test_an_unreachable_aws_endpoint_url_is_one_line() -> None:
    error = EndpointConnectionError(
        endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/x"
    )
    line = explain(
        error, clients=AwsClients.real(REGION), deploy="make deploy ENV=dev ENDPOINT_TYPE=realtime"
    )
    assert line == (
        "cannot reach https://runtime.sagemaker.us-east-1.amazonaws.com: check the network connection, the "
        "region and AWS_ENDPOINT_URL if set"
    )


def test_no_region_is_one_line() -> None:
    line = explain(NoRegionError(), clients=None, deploy="make deploy ENV=dev ENDPOINT_TYPE=realtime")
    assert (
        line == "You must specify a region.: set region in the environment's YAML file or AWS_DEFAULT_REGION"
    )


def test_a_stack_that_is_not_deployed_says_how_to_deploy_it(
    aws: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(ASYNC)
    assert status == 1
    assert one_error_line(capsys) == (
        f"stack {config.stack_name('async')} is not deployed in region us-east-1: deploy it first with "
        "make deploy ENV=dev ENDPOINT_TYPE=async"
    )


def test_an_endpoint_that_is_not_deployed_says_how_to_deploy_it(
    aws: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(REALTIME)
    assert status == 1
    assert one_error_line(capsys) == (
        f"endpoint {config.endpoint_name('realtime')} is not deployed in region us-east-1: deploy it first "
        "with make deploy ENV=dev ENDPOINT_TYPE=realtime"
    )


def test_a_model_error_gives_the_models_status_and_message(
    aws: None, fails: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an endpoint whose model answers 500 with a two-line message
    name = config.endpoint_name("realtime")
    create_endpoint(moto_clients, name)
    status = main(REALTIME)
    # THEN its status and message on one line, and where its logs are
    assert status == 1
    assert one_error_line(capsys) == (
        f"the model of endpoint {name} answered status 500: model_fn failed: out of memory (logs: "
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name})"
    )


def test_a_bad_file_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "request.json"
    status = main(["invoke", "--file", str(missing)])
    assert status == 1
    assert one_error_line(capsys) == f"cannot read --file {missing}: No such file or directory"


def test_a_body_that_is_not_json_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["invoke", "--body", "{inputs: [hello]}"])
    assert status == 1
    assert one_error_line(capsys).startswith(
        "--body is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)), but the content type is application/json: quote it for the shell"
    )


def test_an_unknown_environment_is_the_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["invoke", "--env", "qa", "--body", BODY])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    assert err.startswith("error: endpoint_configs/qa.yaml: 1 problem\n")
    assert "env = 'qa': no such environment file; allowed: dev, llm, llm-large, neo, prod, staging" in err


def test_an_unknown_endpoint_type_is_the_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["invoke", "--endpoint-type", "stream", "--body", BODY])
    err = capsys.readouterr().err
    assert status == 1
    assert (
        "endpoint_type = 'stream': unknown endpoint type; allowed: realtime, serverless, async, batch" in err
    )


def test_a_kind_that_runs_as_a_job_says_so(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a registry in which the real-time kind runs as a job (no job kind exists yet)
    monkeypatch.setitem(
        WORKLOAD_KINDS, "realtime", dataclasses.replace(WORKLOAD_KINDS["realtime"], invocation=Invocation.JOB)
    )
    status = main(REALTIME)
    assert status == 1
    assert one_error_line(capsys) == (
        f"realtime runs as a job ({Invocation.JOB.value}), not as an endpoint: there is nothing to invoke"
    )


def test_a_timeout_that_is_not_positive_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["invoke", "--body", BODY, "--timeout", "0"])
    assert raised.value.code == 2
    assert "--timeout: must be more than 0 seconds: '0'" in capsys.readouterr().err


def test_clients_reach_moto_through_boto3_as_the_real_account_would(aws: None) -> None:
    """The real-account clients use the normal chain (here: moto under fake keys) in the config's region."""
    clients = AwsClients.real(REGION)
    assert clients("s3").meta.region_name == REGION
    assert not clients.is_local
    assert clients("s3") is clients("s3")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="seen")
    assert [b["Name"] for b in clients("s3").list_buckets()["Buckets"]] == ["seen"]


def test_an_empty_request_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN make invoke without BODY or FILE, which passes --body ""
    status = main(["invoke", "--body", ""])
    assert status == 1
    assert one_error_line(capsys).startswith("the request is empty: give it with --body")


def test_help_and_input_errors_do_not_start_the_cdk() -> None:
    """The registry (and with it aws_cdk's jsii runtime, about 1 s) is imported only to call."""
    heavy = "{'aws_cdk', 'stacks', 'moto'}"
    code = f"import sys, endpoint_client.__main__; print(sorted({heavy} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert loaded.stdout == "[]\n"
