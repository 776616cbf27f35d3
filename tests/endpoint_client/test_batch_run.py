"""python -m endpoint_client batch-run and its API (``endpoint_client.batch``): a real run of a state
machine shaped like the batch stack's, on moto with Step Functions executing and the transform job
answered by a stub model (GIVEN/WHEN/THEN through ``main``)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.core.config import DefaultConfig, default_user_config

from endpoint_client import AwsClients, NotDeployedError, StackOutputMissingError
from endpoint_client import batch as batch_module
from endpoint_client.__main__ import main
from endpoint_client.batch import (
    BatchRunResult,
    batch_locations,
    job_kind,
    start_batch_run,
    wait_for_batch_run,
)
from endpoint_client.errors import BatchRunTimeoutError, JobKindError, NotAJobError
from endpoint_client.invoke import PollSchedule, async_input_location
from endpoint_configs import BatchTransform, EnvironmentConfig
from local_aws.moto_fixes import execute_state_machines, install, use_model_router
from local_aws.state import ServerState, read_state
from stacks.registry import WORKLOAD_KINDS, Invocation
from tests.endpoint_client.conftest import (
    ACCOUNT_ID,
    ENVIRONMENT_BUCKET,
    IMAGE,
    REGION,
    ROLE_ARN,
    create_stack,
    deploy_stateful,
    moto_clients,
)
from tests.local_aws.stub_models import LineModel, json_lines

KIND = "batch"
MODEL = "batch-model"
MACHINE = "batch-runs"
EXECUTING: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}
FAST = PollSchedule(first_seconds=0.02, factor=1.5, longest_seconds=0.1)
ARN = re.compile(
    rf"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{MACHINE}:manual-\d{{8}}T\d{{6}}Z-[0-9a-f]{{12}}"
)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look at running executions every few hundredths of a second (the default starts at 2 s)."""
    monkeypatch.setattr(batch_module, "BATCH_POLL", FAST)


@pytest.fixture
def executing(fake_credentials: None) -> Iterator[None]:
    """moto with every fix of the local AWS and Step Functions executing, fresh for each test."""
    install()
    with mock_aws(config=EXECUTING):
        yield


@pytest.fixture
def model() -> Iterator[LineModel]:
    """GIVEN deployed models answered by :class:`LineModel`."""
    runner = LineModel(answer_content_type="application/json")
    use_model_router(runner)
    try:
        yield runner
    finally:
        use_model_router(None)


def _definition(config: EnvironmentConfig, topic_arn: str) -> str:
    """The batch stack's state machine: the .sync transform task over the default prefixes of the
    environment's bucket (DescribeTransformJob's answer at $.job), an SNS publish of $.job on success,
    and a Catch of every error at $.error to an SNS publish of it and a Fail state."""
    prefix = job_prefix(config)
    publish = {"Type": "Task", "Resource": "arn:aws:states:::sns:publish"}
    transform = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
        "Parameters": {
            "TransformJobName.$": f"States.Format('{prefix}-{{}}', States.UUID())",
            "ModelName": MODEL,
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{ENVIRONMENT_BUCKET}/batch/input/",
                    }
                },
                "ContentType": "application/json",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath": f"s3://{ENVIRONMENT_BUCKET}/batch/output/",
                "Accept": "application/json",
                "AssembleWith": "Line",
            },
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "BatchStrategy": "SingleRecord",
        },
        "ResultPath": "$.job",
        "Next": "NotifySuccess",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}],
    }
    return json.dumps(
        {
            "StartAt": "RunTransformJob",
            "States": {
                "RunTransformJob": transform,
                "NotifySuccess": {
                    **publish,
                    "Parameters": {"TopicArn": topic_arn, "Message.$": "$.job"},
                    "ResultPath": None,
                    "End": True,
                },
                "NotifyFailure": {
                    **publish,
                    "Parameters": {"TopicArn": topic_arn, "Message.$": "$.error"},
                    "ResultPath": None,
                    "Next": "Failed",
                },
                "Failed": {"Type": "Fail", "Error": "TransformJobFailed", "Cause": "See the notification"},
            },
        }
    )


def job_prefix(config: EnvironmentConfig) -> str:
    block = config.workload(KIND)
    assert isinstance(block, BatchTransform)
    return block.job_prefix(config.project, config.environment)


def job_name(config: EnvironmentConfig) -> str:
    """A pattern of the names of the jobs the state machine starts."""
    return rf"{re.escape(job_prefix(config))}-[0-9a-f-]{{36}}"


def deploy_batch(clients: Any, config: EnvironmentConfig, *, inputs: dict[str, bytes] | None = None) -> str:
    """What the batch stack leaves with default paths: the stateful bucket, the model, the state
    machine and the stack's outputs; ``inputs`` (key below the input prefix: body) uploaded. Returns
    the state machine's ARN."""
    deploy_stateful(clients, config)
    clients("sagemaker").create_model(
        ModelName=MODEL,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{ENVIRONMENT_BUCKET}/model.tar.gz"},
    )
    topic_arn = clients("sns").create_topic(Name="batch-notifications")["TopicArn"]
    machine_arn: str = clients("stepfunctions").create_state_machine(
        name=MACHINE, definition=_definition(config, topic_arn), roleArn=ROLE_ARN
    )["stateMachineArn"]
    create_stack(
        clients,
        config.stack_name(KIND),
        {
            "StateMachineArn": machine_arn,
            "JobNamePrefix": "unused",
            "InputPrefix": "batch/input/",
            "OutputPrefix": "batch/output/",
        },
    )
    for key, body in (inputs or {}).items():
        clients("s3").put_object(Bucket=ENVIRONMENT_BUCKET, Key=f"batch/input/{key}", Body=body)
    return machine_arn


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert err.splitlines()[-1] == lines[0], err
    return lines[0].removeprefix("error: ")


# -- starting and waiting ----------------------------------------------------------------------------


def test_a_started_run_prints_its_execution_arn_and_runs_with_the_manual_trigger(
    executing: None, model: LineModel, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the batch workload deployed, with one input object
    deploy_batch(moto_clients, config, inputs={"a.jsonl": json_lines("one")})
    # WHEN a run is started without --wait (and without --endpoint-type: dev's default is realtime)
    status = main(["batch-run", "--env", "dev"])
    # THEN only the execution ARN is on stdout, and where it reads and writes on stderr
    out, err = capsys.readouterr()
    assert status == 0, err
    assert ARN.fullmatch(out.strip()), out
    assert err == (
        f"{config.stack_name(KIND)} ({KIND}): run started; reads s3://{ENVIRONMENT_BUCKET}/batch/input/, "
        f"writes s3://{ENVIRONMENT_BUCKET}/batch/output/\n"
    )
    execution = moto_clients("stepfunctions").describe_execution(executionArn=out.strip())
    assert json.loads(execution["input"]) == {"trigger": "manual"}
    assert wait_for_batch_run(AwsClients.real(REGION), out.strip(), timeout_seconds=30).succeeded


def test_waiting_prints_the_jobs_name_status_duration_and_output(
    executing: None, model: LineModel, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_batch(moto_clients, config, inputs={"a.jsonl": json_lines("one", "two")})
    status = main(["batch-run", "--wait", "--timeout", "30"])
    out, err = capsys.readouterr()
    assert status == 0, err
    arn, job, job_status, took, output = out.splitlines()
    assert ARN.fullmatch(arn)
    assert re.fullmatch(rf"job: {job_name(config)}", job), job
    assert job_status == "status: Completed"
    assert re.fullmatch(r"duration: \d+\.\d s", took), took
    assert output == f"output: s3://{ENVIRONMENT_BUCKET}/batch/output/"
    assert err.splitlines()[-1] == "waiting up to 30 s for it to end"
    # AND the job's output is where it says
    written = moto_clients("s3").get_object(Bucket=ENVIRONMENT_BUCKET, Key="batch/output/a.jsonl.out")
    assert written["Body"].read().decode().splitlines() == ['{"echo": "one"}', '{"echo": "two"}']
    assert len(model.requests) == 2


def test_a_failing_record_exits_1_with_the_jobs_failure_reason(
    executing: None, model: LineModel, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN input with a line the model rejects
    deploy_batch(moto_clients, config, inputs={"bad.jsonl": json_lines("fine", "fail")})
    # WHEN a run is started and waited for
    status = main(["batch-run", "--wait"])
    # THEN exit 1, with the ARN on stdout and the job's FailureReason in one line on stderr
    out, err = capsys.readouterr()
    assert status == 1
    assert ARN.fullmatch(out.strip())
    assert re.fullmatch(
        rf"batch run {re.escape(out.strip())} FAILED: transform job {job_name(config)} Failed after "
        r"\d+\.\d s: ClientError: the model answered 400 to record 2 of "
        rf"s3://{ENVIRONMENT_BUCKET}/batch/input/bad\.jsonl: the stub model refuses 'fail'",
        one_error_line(err),
    )


def test_a_run_that_outlasts_the_timeout_says_it_goes_on_and_how_to_look_later(
    fake_credentials: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Step Functions that does not execute: every execution stays RUNNING
    install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        deploy_batch(moto_clients, config)
        status = main(["batch-run", "--wait", "--timeout", "0.3"])
    out, err = capsys.readouterr()
    arn = out.strip()
    assert status == 1
    assert ARN.fullmatch(arn)
    assert re.fullmatch(
        rf"batch run {re.escape(arn)} is still RUNNING after 0\.\d s: it keeps running; wait longer "
        r"with --timeout, or look later with aws stepfunctions describe-execution --execution-arn "
        rf"{re.escape(arn)} \(or in the Step Functions console\)",
        one_error_line(err),
    )


def test_the_api_gives_the_run_and_where_it_reads_and_writes(
    executing: None, model: LineModel, config: EnvironmentConfig
) -> None:
    deploy_batch(moto_clients, config, inputs={"a.jsonl": json_lines("one")})
    clients = AwsClients.real(REGION)

    assert batch_locations(clients("cloudformation"), config, KIND) == (
        ENVIRONMENT_BUCKET,
        "batch/input/",
        ENVIRONMENT_BUCKET,
        "batch/output/",
    )
    arn = start_batch_run(clients, config, KIND)
    result = wait_for_batch_run(clients, arn, timeout_seconds=30, poll=FAST)

    assert isinstance(result, BatchRunResult)
    assert (result.execution_arn, result.status, result.succeeded) == (arn, "SUCCEEDED", True)
    assert result.job_status == "Completed"
    assert re.fullmatch(job_name(config), result.job_name or "")
    assert result.started is not None
    assert result.ended is not None
    assert result.started.tzinfo is not None
    assert result.duration_seconds == (result.ended - result.started).total_seconds() >= 0
    assert (result.output_location, result.failure_reason) == (
        f"s3://{ENVIRONMENT_BUCKET}/batch/output/",
        None,
    )


def test_a_run_with_no_input_fails_with_the_reason_through_the_api(
    executing: None, model: LineModel, config: EnvironmentConfig
) -> None:
    deploy_batch(moto_clients, config)
    clients = AwsClients.real(REGION)
    result = wait_for_batch_run(
        clients, start_batch_run(clients, config, KIND), timeout_seconds=30, poll=FAST
    )
    assert (result.status, result.job_status, result.succeeded) == ("FAILED", "Failed", False)
    assert result.failure_reason is not None
    assert (
        f'No S3 objects found under S3 URL "s3://{ENVIRONMENT_BUCKET}/batch/input/"' in result.failure_reason
    )
    assert "\n" not in result.failure_reason


def test_a_run_sagemaker_refuses_fails_with_the_tasks_error(
    executing: None, config: EnvironmentConfig
) -> None:
    # GIVEN the state machine, but its model was deleted
    deploy_batch(moto_clients, config, inputs={"a.jsonl": json_lines("one")})
    moto_clients("sagemaker").delete_model(ModelName=MODEL)
    clients = AwsClients.real(REGION)
    result = wait_for_batch_run(
        clients, start_batch_run(clients, config, KIND), timeout_seconds=30, poll=FAST
    )
    # THEN no job ran, and the reason is the task's error and cause
    assert (result.status, result.job_name) == ("FAILED", None)
    assert result.failure_reason is not None
    assert result.failure_reason.startswith(
        f'SageMaker.AmazonSageMakerException: Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:'
        f'model/{MODEL}".'
    )


def test_batch_locations_read_configured_paths_as_async_input_location_does(
    executing: None, config: EnvironmentConfig
) -> None:
    # GIVEN stacks that publish configured s3:// paths (one without a trailing slash)
    cloudformation = moto_clients("cloudformation")
    create_stack(
        moto_clients,
        config.stack_name(KIND),
        {"StateMachineArn": "arn", "InputPath": "s3://in-bucket/jobs/in", "OutputPath": "s3://out-bucket/"},
    )
    create_stack(moto_clients, config.stack_name("async"), {"InputPath": "s3://in-bucket/requests"})
    # THEN both read them the same way, and need no stateful stack
    assert batch_locations(cloudformation, config, KIND) == ("in-bucket", "jobs/in/", "out-bucket", "")
    assert async_input_location(cloudformation, config, "async") == ("in-bucket", "requests/")


def test_a_stack_without_its_state_machine_output_says_so(executing: None, config: EnvironmentConfig) -> None:
    create_stack(moto_clients, config.stack_name(KIND), {"InputPrefix": "batch/input/"})
    with pytest.raises(
        StackOutputMissingError, match=r"publishes no StateMachineArn output: deploy it again"
    ):
        start_batch_run(AwsClients.real(REGION), config, KIND)
    with pytest.raises(StackOutputMissingError, match=r"publishes no OutputPath or OutputPrefix output"):
        batch_locations(moto_clients("cloudformation"), config, KIND)


def test_waiting_on_the_api_times_out_with_the_execution_arn(
    fake_credentials: None, config: EnvironmentConfig
) -> None:
    install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        deploy_batch(moto_clients, config)
        clients = AwsClients.real(REGION)
        arn = start_batch_run(clients, config, KIND)
        with pytest.raises(BatchRunTimeoutError) as raised:
            wait_for_batch_run(clients, arn, timeout_seconds=0.1, poll=FAST)
    assert (raised.value.execution_arn, raised.value.status) == (arn, "RUNNING")
    assert 0.1 <= raised.value.waited_seconds < 1


# -- which kind ----------------------------------------------------------------------------------------


def test_the_default_kind_is_the_one_that_runs_as_a_job_whatever_its_name(
    config: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert job_kind(config) == KIND
    # GIVEN a registry in which async runs as a job and batch is called as an endpoint
    monkeypatch.setitem(
        WORKLOAD_KINDS, "async", dataclasses.replace(WORKLOAD_KINDS["async"], invocation=Invocation.JOB)
    )
    monkeypatch.setitem(
        WORKLOAD_KINDS, KIND, dataclasses.replace(WORKLOAD_KINDS[KIND], invocation=Invocation.ASYNCHRONOUS)
    )
    # THEN the default is async
    assert job_kind(config) == "async"


def test_several_or_no_job_kinds_are_an_error_listing_them(
    config: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        WORKLOAD_KINDS,
        "serverless",
        dataclasses.replace(WORKLOAD_KINDS["serverless"], invocation=Invocation.JOB),
    )
    with pytest.raises(JobKindError) as several:
        job_kind(config)
    assert str(several.value) == (
        "environment dev offers several workloads that run as a job (serverless, batch): choose one with "
        "--endpoint-type (make batch-run ENDPOINT_TYPE=...)"
    )
    no_batch = config.model_copy(update={"endpoints": [b for b in config.endpoints if b.kind() != KIND]})
    monkeypatch.setitem(
        WORKLOAD_KINDS,
        "serverless",
        dataclasses.replace(WORKLOAD_KINDS["serverless"], invocation=Invocation.SYNCHRONOUS),
    )
    with pytest.raises(JobKindError) as none:
        job_kind(no_batch)
    assert str(none.value) == (
        "environment dev offers no workload that runs as a job (it offers realtime, serverless, async; kinds "
        "that run as a job: batch): add one to its endpoints"
    )


def test_a_kind_called_as_an_endpoint_is_not_started(
    fake_credentials: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["batch-run", "--endpoint-type", "realtime"])
    assert status == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"realtime is called as an endpoint ({Invocation.SYNCHRONOUS.value}), not run as a job: call it with "
        "make invoke ENDPOINT_TYPE=realtime"
    )
    with pytest.raises(NotAJobError):
        start_batch_run(AwsClients.real(REGION), config, "async")


# -- one line for each failure -----------------------------------------------------------------------


def test_a_stack_that_is_not_deployed_says_how_to_deploy_it(
    executing: None, config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["batch-run", "--wait"])
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert one_error_line(err) == (
        f"stack {config.stack_name(KIND)} is not deployed in region {REGION}: deploy it first with "
        "make deploy ENV=dev ENDPOINT_TYPE=batch"
    )
    with pytest.raises(NotDeployedError):
        start_batch_run(AwsClients.real(REGION), config, KIND)


def test_no_credentials_says_how_to_configure_them_or_use_the_local_aws(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    status = main(["batch-run"])
    assert status == 1
    assert one_error_line(capsys.readouterr().err) == (
        "Unable to locate credentials: configure credentials for the AWS account (aws configure, aws sso "
        "login, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or add --local-aws (make "
        "batch-run LOCAL=1) to call the local AWS"
    )


def test_no_local_aws_running_says_how_to_start_one(
    fake_credentials: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["batch-run", "--local-aws"], local_aws_state=lambda: read_state(tmp_path))
    assert status == 1
    assert one_error_line(capsys.readouterr().err) == (
        "no local AWS is running: start it and deploy with make deploy-local ENV=dev ENDPOINT_TYPE=batch "
        "(or start only the local AWS with make local-aws), then call again"
    )


def test_a_timeout_without_wait_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["batch-run", "--timeout", "60"])
    assert raised.value.code == 2
    assert "batch-run: --timeout applies only with --wait" in capsys.readouterr().err


# -- on the local AWS --------------------------------------------------------------------------------


def test_the_local_aws_runs_it_through_its_server(
    moto_server: ServerState,
    model: LineModel,
    config: EnvironmentConfig,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a running local AWS that executes state machines, with the batch workload deployed
    monkeypatch.setitem(default_user_config, "stepfunctions", default_user_config["stepfunctions"])
    monkeypatch.setenv("MOTO_PORT", "0")
    execute_state_machines(server_port=moto_server.port)
    deploy_batch(AwsClients.local(moto_server.url, REGION), config, inputs={"a.jsonl": json_lines("one")})
    # WHEN a run is started with --local-aws and waited for
    status = main(["batch-run", "--local-aws", "--wait"], local_aws_state=lambda: moto_server)
    # THEN it completed there
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.splitlines()[2::2] == ["status: Completed", f"output: s3://{ENVIRONMENT_BUCKET}/batch/output/"]
    assert [body for body, _, _ in model.requests] == [json_lines("one").rstrip(b"\n")]
