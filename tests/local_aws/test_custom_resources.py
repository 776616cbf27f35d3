"""``Custom::NeoCompilationJob`` in moto's CloudFormation, its handler run in-process
(``cloudformation-custom-resources``): create, wait, fail and roll back, update, delete; and the
same through the local AWS server, whose handlers call the server itself."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation import parsing
from moto.cloudformation.custom_model import CustomModel
from moto.sagemaker.models import sagemaker_backends

from local_aws.custom_resources import LocalCustomResource, run_custom_resources_locally
from local_aws.moto_fixes import install
from local_aws.state import ServerState
from sagemaker_constructs.neo_compilation_handler.index import job_name
from tests.local_aws.conftest import ACCOUNT_ID, CREDENTIALS, REGION, local_client
from tests.sagemaker_constructs.test_neo_compilation_handler import archive

BUCKET = "neo-artifacts"
POLL_SECONDS = 0.02
TIMEOUT_SECONDS = 3.0


MODEL = archive({"model.pt": b"weights", "code/inference.py": b"def model_fn(d): ...\n"})


def properties(service_token: str, input_key: str = "models/minilm.tar.gz") -> dict[str, str]:
    """The resource's properties, as strings, as CloudFormation hands them on."""
    return {
        "ServiceToken": service_token,
        "JobNamePrefix": "minilm-neo",
        "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/compile",
        "InputS3Uri": f"s3://{BUCKET}/{input_key}",
        "Framework": "PYTORCH",
        "TargetDevice": "ml_c5",
        "OutputS3Prefix": f"s3://{BUCKET}/neo/",
        "MaxRuntimeInSeconds": "900",
    }


def template(job_properties: dict[str, str], *, reader: bool = True) -> str:
    """The custom resource, outputs of its attributes, and (``reader``) a parameter that reads its
    artifact, as the SageMaker model of a stack does."""
    resources: dict[str, Any] = {"Job": {"Type": "Custom::NeoCompilationJob", "Properties": job_properties}}
    if reader:
        resources["ServedArtifact"] = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": "/neo/served-artifact",
                "Type": "String",
                "Value": {"Fn::GetAtt": ["Job", "ModelArtifact"]},
            },
        }
    outputs = {
        "ModelArtifact": {"Value": {"Fn::GetAtt": ["Job", "ModelArtifact"]}},
        "JobName": {"Value": {"Ref": "Job"}},
    }
    return json.dumps({"Resources": resources, "Outputs": outputs})


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(
            "index.py", "def on_event(event, context):\n    raise RuntimeError('never invoked')\n"
        )
    return buffer.getvalue()


def provider_function(clients: dict[str, Any]) -> str:
    """GIVEN the Provider framework's entry function (which the local runner never invokes); its ARN."""
    role = clients["iam"].create_role(
        RoleName="provider",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    arn: str = clients["lambda"].create_function(
        FunctionName="provider-framework-onEvent",
        Runtime="python3.12",
        Role=role,
        Handler="index.on_event",
        Code={"ZipFile": _function_zip()},
    )["FunctionArn"]
    return arn


@pytest.fixture(scope="module")
def service_clients() -> Iterator[dict[str, Any]]:
    """boto3 clients made once, under fake credentials (moto intercepts them under ``mock_aws``)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        install()
        services = ("cloudformation", "s3", "sagemaker", "ssm", "iam", "lambda")
        yield {service: boto3.client(service, region_name=REGION) for service in services}


@pytest.fixture
def fast_polls() -> Iterator[None]:
    run_custom_resources_locally(None, poll_interval_seconds=POLL_SECONDS, timeout_seconds=TIMEOUT_SECONDS)
    yield
    run_custom_resources_locally(None)


@pytest.fixture
def aws(service_clients: dict[str, Any], fast_polls: None) -> Iterator[dict[str, Any]]:
    """GIVEN a fresh moto with every fix, the input archive in S3, and the provider's function."""
    with mock_aws():
        service_clients["s3"].create_bucket(Bucket=BUCKET)
        service_clients["s3"].put_object(Bucket=BUCKET, Key="models/minilm.tar.gz", Body=MODEL)
        yield service_clients | {"token": provider_function(service_clients)}


def stack(cloudformation: Any, name: str = "neo") -> dict[str, Any]:
    described: dict[str, Any] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return described


def outputs(cloudformation: Any, name: str = "neo") -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack(cloudformation, name).get("Outputs", [])}


def wait_for(cloudformation: Any, status: str, name: str = "neo") -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_SECONDS + 2
    while (current := stack(cloudformation, name))["StackStatus"] != status and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    assert current["StackStatus"] == status
    return current


def resource_events(cloudformation: Any, name: str = "neo") -> list[tuple[str, str]]:
    """(status, reason) of the events of the resource ``Job``, oldest first."""
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    return [
        (e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in reversed(events)
        if e["LogicalResourceId"] == "Job"
    ]


def job(name: str) -> Any:
    return sagemaker_backends[ACCOUNT_ID][REGION].compilation_jobs[name]


def running_job(clients: dict[str, Any], job_properties: dict[str, str]) -> str:
    """GIVEN the job of these inputs already running (a deployment that was interrupted); its name."""
    name = job_name(job_properties)
    clients["sagemaker"].create_compilation_job(
        CompilationJobName=name,
        RoleArn=job_properties["RoleArn"],
        InputConfig={"S3Uri": job_properties["InputS3Uri"], "Framework": "PYTORCH"},
        OutputConfig={"S3OutputLocation": f"s3://{BUCKET}/neo/{name}/", "TargetDevice": "ml_c5"},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )
    job(name).compilation_job_status = "INPROGRESS"
    return name


def test_fix_cloudformation_custom_resources_create_completes_the_stack_with_the_handlers_data(
    aws: dict[str, Any],
) -> None:
    job_properties = properties(aws["token"])
    name = job_name(job_properties)

    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties))

    serving = f"s3://{BUCKET}/neo/{name}/serving/model.tar.gz"
    assert stack(aws["cloudformation"])["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(aws["cloudformation"]) == {"ModelArtifact": serving, "JobName": name}
    # a resource created after it read the artifact's URI
    parameter = aws["ssm"].get_parameter(Name="/neo/served-artifact")["Parameter"]
    assert parameter["Value"] == serving
    (resource,) = [
        r
        for r in aws["cloudformation"].describe_stack_resources(StackName="neo")["StackResources"]
        if r["LogicalResourceId"] == "Job"
    ]
    assert (resource["PhysicalResourceId"], resource["ResourceType"]) == (name, "Custom::NeoCompilationJob")
    assert aws["s3"].head_object(Bucket=BUCKET, Key=f"neo/{name}/serving/model.tar.gz")["ContentLength"] > 0


def test_a_failing_handler_rolls_the_stack_back_with_its_message_in_the_resources_event(
    aws: dict[str, Any],
) -> None:
    # GIVEN an input that does not exist, so Neo fails the job
    job_properties = properties(aws["token"], input_key="models/missing.tar.gz")
    name = job_name(job_properties)
    # WHEN the stack is created
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties))
    # THEN the resource failed with the handler's message, and the stack rolled back
    described = stack(aws["cloudformation"])
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    assert described["StackStatusReason"] == "The following resource(s) failed to create: [Job]."
    assert "Outputs" not in described
    ((status, reason),) = resource_events(aws["cloudformation"])
    assert status == "CREATE_FAILED"
    assert reason.startswith("Received response status [FAILED] from custom resource. Message returned: ")
    assert f"Neo compilation job {name} failed: " in reason
    assert f"s3://{BUCKET}/models/missing.tar.gz" in reason
    assert aws["ssm"].describe_parameters()["Parameters"] == []  # rolled back
    assert (
        aws["sagemaker"].describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"] == "FAILED"
    )


def later(seconds: float, change: Any) -> None:
    timer = threading.Timer(seconds, change)
    timer.daemon = True
    timer.start()


def test_a_job_that_completes_while_the_stack_waits_completes_the_stack(aws: dict[str, Any]) -> None:
    job_properties = properties(aws["token"])
    name = running_job(aws, job_properties)
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties, reader=False))
    assert stack(aws["cloudformation"])["StackStatus"] == "CREATE_IN_PROGRESS"
    assert outputs(aws["cloudformation"])["JobName"] == name

    job(name).compilation_job_status = "COMPLETED"

    wait_for(aws["cloudformation"], "CREATE_COMPLETE")
    assert outputs(aws["cloudformation"])["ModelArtifact"] == f"s3://{BUCKET}/neo/{name}/serving/model.tar.gz"


def test_a_resource_reading_a_running_jobs_artifact_is_created_once_the_job_completes(
    aws: dict[str, Any],
) -> None:
    job_properties = properties(aws["token"])
    name = running_job(aws, job_properties)
    later(0.2, lambda: setattr(job(name), "compilation_job_status", "COMPLETED"))

    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties))

    assert stack(aws["cloudformation"])["StackStatus"] == "CREATE_COMPLETE"
    parameter = aws["ssm"].get_parameter(Name="/neo/served-artifact")["Parameter"]
    assert parameter["Value"] == f"s3://{BUCKET}/neo/{name}/serving/model.tar.gz"


@pytest.mark.parametrize("reader", [False, True], ids=["nothing-reads-it", "a-resource-reads-it"])
def test_a_job_that_fails_while_the_stack_waits_fails_the_stack(aws: dict[str, Any], reader: bool) -> None:
    # GIVEN a stack waiting for its running job
    job_properties = properties(aws["token"])
    name = running_job(aws, job_properties)

    def fail() -> None:
        job(name).failure_reason = "ClientError: unsupported operator aten::foo"
        job(name).compilation_job_status = "FAILED"

    # WHEN the job fails
    later(0.1, fail)
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties, reader=reader))
    # THEN the stack rolls back with the job's reason in the resource's event, and nothing read it
    wait_for(aws["cloudformation"], "ROLLBACK_COMPLETE")
    ((status, reason),) = resource_events(aws["cloudformation"])
    assert status == "CREATE_FAILED"
    assert f"Neo compilation job {name} failed: ClientError: unsupported operator aten::foo" in reason
    assert aws["ssm"].describe_parameters()["Parameters"] == []


def test_a_job_that_never_completes_fails_the_stack_after_the_timeout(aws: dict[str, Any]) -> None:
    # GIVEN a job that stays in progress WHEN the timeout passes THEN the stack fails, saying so
    run_custom_resources_locally(None, poll_interval_seconds=POLL_SECONDS, timeout_seconds=0.3)
    job_properties = properties(aws["token"])
    running_job(aws, job_properties)
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties, reader=False))
    wait_for(aws["cloudformation"], "ROLLBACK_COMPLETE")
    ((_, reason),) = resource_events(aws["cloudformation"])
    assert "Operation timed out: Job was not complete after 0.3 s" in reason


def test_an_update_with_a_changed_input_runs_a_new_job(aws: dict[str, Any]) -> None:
    first = properties(aws["token"])
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(first))
    aws["s3"].put_object(Bucket=BUCKET, Key="models/minilm-v2.tar.gz", Body=MODEL)
    second = properties(aws["token"], input_key="models/minilm-v2.tar.gz")

    aws["cloudformation"].update_stack(StackName="neo", TemplateBody=template(second))

    assert stack(aws["cloudformation"])["StackStatus"] == "UPDATE_COMPLETE"
    new_name = job_name(second)
    assert new_name != job_name(first)
    assert outputs(aws["cloudformation"]) == {
        "ModelArtifact": f"s3://{BUCKET}/neo/{new_name}/serving/model.tar.gz",
        "JobName": new_name,
    }
    jobs = aws["sagemaker"].list_compilation_jobs()["CompilationJobSummaries"]
    assert {(j["CompilationJobName"], j["CompilationJobStatus"]) for j in jobs} == {
        (job_name(first), "COMPLETED"),  # replaced, left for the same inputs to reuse
        (new_name, "COMPLETED"),
    }


def test_an_update_whose_job_fails_rolls_the_update_back(aws: dict[str, Any]) -> None:
    # GIVEN a deployed stack
    first = properties(aws["token"])
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(first))
    # WHEN it is updated to an input that does not exist
    broken = properties(aws["token"], input_key="models/missing.tar.gz")
    aws["cloudformation"].update_stack(StackName="neo", TemplateBody=template(broken))
    # THEN the update is rolled back, the resource's event says why, and the outputs are the old ones
    described = stack(aws["cloudformation"])
    assert described["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    (status, reason) = resource_events(aws["cloudformation"])[-1]
    assert status == "UPDATE_FAILED"
    assert f"Neo compilation job {job_name(broken)} failed" in reason
    assert outputs(aws["cloudformation"])["JobName"] == job_name(first)


def test_deleting_the_stack_while_its_job_runs_stops_the_job(aws: dict[str, Any]) -> None:
    job_properties = properties(aws["token"])
    name = running_job(aws, job_properties)
    aws["cloudformation"].create_stack(StackName="neo", TemplateBody=template(job_properties, reader=False))

    aws["cloudformation"].delete_stack(StackName="neo")

    status = aws["sagemaker"].describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"]
    assert status in ("STOPPING", "STOPPED")
    time.sleep(POLL_SECONDS * 5)  # the wait for the job ended: it reports no failure
    summaries = aws["cloudformation"].list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries] == ["DELETE_COMPLETE"]
    assert resource_events(aws["cloudformation"], summaries[0]["StackId"]) == []


def test_only_registered_custom_types_run_in_process() -> None:
    install()

    assert parsing.resource_class_from_type("Custom::NeoCompilationJob") is LocalCustomResource
    assert parsing.resource_class_from_type("Custom::SomethingElse") is CustomModel


def test_in_the_local_aws_server_the_handler_calls_the_server_itself(local_aws: ServerState) -> None:
    run_custom_resources_locally(
        local_aws.port, poll_interval_seconds=POLL_SECONDS, timeout_seconds=TIMEOUT_SECONDS
    )
    try:
        s3 = local_client("s3", local_aws)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="models/minilm.tar.gz", Body=MODEL)
        cloudformation = local_client("cloudformation", local_aws)
        token = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:provider-framework-onEvent"
        job_properties = properties(token)

        cloudformation.create_stack(StackName="neo", TemplateBody=template(job_properties))

        name = job_name(job_properties)
        assert stack(cloudformation)["StackStatus"] == "CREATE_COMPLETE"
        assert outputs(cloudformation)["ModelArtifact"] == f"s3://{BUCKET}/neo/{name}/serving/model.tar.gz"
        assert s3.head_object(Bucket=BUCKET, Key=f"neo/{name}/serving/model.tar.gz")["ContentLength"] > 0
    finally:
        run_custom_resources_locally(None)
