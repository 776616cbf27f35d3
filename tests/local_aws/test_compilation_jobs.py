"""SageMaker Neo compilation jobs on the local AWS: the stand-in for Neo's compiler
(``sagemaker-compilation-jobs``), StopCompilationJob (``sagemaker-stop-compilation-job``) and the
deletion rule (``sagemaker-compilation-job-deletion``), as boto3 sees them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from local_aws.compilation_jobs import STAND_IN_TAG, stood_in_compilation_jobs
from local_aws.moto_fixes import install
from tests.local_aws.conftest import ACCOUNT_ID, CREDENTIALS, REGION

BUCKET = "neo-artifacts"
INPUT = f"s3://{BUCKET}/models/minilm.tar.gz"
ARCHIVE = b"\x1f\x8b not really a model, copied byte for byte"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/compile"


@pytest.fixture(scope="module")
def service_clients() -> Iterator[dict[str, Any]]:
    """boto3 clients made once, under fake credentials; the SageMaker one skips botocore's own
    parameter checks, so requests reach the local AWS's validation as they would reach SageMaker's."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        install()
        yield {
            "sagemaker": boto3.client(
                "sagemaker", region_name=REGION, config=Config(parameter_validation=False)
            ),
            "s3": boto3.client("s3", region_name=REGION),
            "kms": boto3.client("kms", region_name=REGION),
        }


@pytest.fixture
def aws(service_clients: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """GIVEN a fresh moto with every fix, and the input archive in S3."""
    with mock_aws():
        service_clients["s3"].create_bucket(Bucket=BUCKET)
        service_clients["s3"].put_object(Bucket=BUCKET, Key="models/minilm.tar.gz", Body=ARCHIVE)
        yield service_clients


def create(sagemaker: Any, name: str = "minilm-neo", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "CompilationJobName": name,
        "RoleArn": ROLE_ARN,
        "InputConfig": {"S3Uri": INPUT, "Framework": "PYTORCH", "FrameworkVersion": "2.0"},
        "OutputConfig": {"S3OutputLocation": f"s3://{BUCKET}/neo/{name}/", "TargetDevice": "ml_c5"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        **overrides,
    }
    sagemaker.create_compilation_job(**request)
    described: dict[str, Any] = sagemaker.describe_compilation_job(CompilationJobName=name)
    return described


def set_status(name: str, status: str) -> None:
    sagemaker_backends[ACCOUNT_ID][REGION].compilation_jobs[name].compilation_job_status = status


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# -- sagemaker-compilation-jobs ------------------------------------------------------------------------


def test_fix_sagemaker_compilation_jobs_stand_in_copies_the_input_where_neo_writes_and_marks_the_job(
    aws: dict[str, Any],
) -> None:
    key_arn = aws["kms"].create_key()["KeyMetadata"]["Arn"]
    output = {"S3OutputLocation": f"s3://{BUCKET}/neo/job/", "TargetDevice": "ml_c5", "KmsKeyId": key_arn}

    job = create(aws["sagemaker"], OutputConfig=output)

    assert job["CompilationJobStatus"] == "COMPLETED"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/neo/job/minilm-ml_c5.tar.gz"
    written = aws["s3"].get_object(Bucket=BUCKET, Key="neo/job/minilm-ml_c5.tar.gz")
    assert written["Body"].read() == ARCHIVE
    assert (written["ServerSideEncryption"], written["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    tags = aws["sagemaker"].list_tags(ResourceArn=job["CompilationJobArn"])["Tags"]
    assert [tag["Key"] for tag in tags] == [STAND_IN_TAG]
    assert stood_in_compilation_jobs(ACCOUNT_ID, REGION) == ["minilm-neo"]


def test_a_target_platform_names_the_output_after_the_platform(aws: dict[str, Any]) -> None:
    platform = {"Os": "LINUX", "Arch": "X86_64", "Accelerator": "NVIDIA"}
    output = {"S3OutputLocation": f"s3://{BUCKET}/neo/gpu", "TargetPlatform": platform}

    job = create(aws["sagemaker"], OutputConfig=output)

    assert (
        job["ModelArtifacts"]["S3ModelArtifacts"]
        == f"s3://{BUCKET}/neo/gpu/minilm-LINUX_X86_64_NVIDIA.tar.gz"
    )


def test_a_job_whose_input_is_missing_fails_with_a_reason_naming_it(aws: dict[str, Any]) -> None:
    # GIVEN an input URI with no object behind it
    missing = f"s3://{BUCKET}/models/missing.tar.gz"
    # WHEN the job is created (SageMaker accepts the call)
    job = create(aws["sagemaker"], InputConfig={"S3Uri": missing, "Framework": "PYTORCH"})
    # THEN the job failed, saying which object it could not read, and wrote nothing
    assert job["CompilationJobStatus"] == "FAILED"
    assert missing in job["FailureReason"]
    assert "ModelArtifacts" not in job
    assert stood_in_compilation_jobs(ACCOUNT_ID, REGION) == []
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix="neo/")
    assert listed["KeyCount"] == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"CompilationJobName": "minilm_neo"},
            "1 validation error detected: Value 'minilm_neo' at 'compilationJobName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        ),
        (
            {"CompilationJobName": "a" * 64},
            f"2 validation errors detected: Value '{'a' * 64}' at 'compilationJobName' failed to satisfy "
            "constraint: Member must have length less than or equal to 63; "
            f"Value '{'a' * 64}' at 'compilationJobName' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        ),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 0}},
            "1 validation error detected: Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1",
        ),
    ],
)
def test_a_request_sagemaker_would_reject_is_a_validation_exception(
    aws: dict[str, Any], overrides: dict[str, Any], message: str
) -> None:
    # GIVEN a request breaking botocore's model WHEN sent THEN SageMaker's ValidationException
    with pytest.raises(ClientError) as raised:
        create(aws["sagemaker"], **overrides)
    assert error_of(raised) == ("ValidationException", message, 400)
    assert aws["sagemaker"].list_compilation_jobs()["CompilationJobSummaries"] == []


# -- sagemaker-stop-compilation-job -----------------------------------------------------------------------


def _status_after_stop(sagemaker: Any, name: str, timeout: float = 5) -> list[str]:
    """The statuses seen until the job is no longer STOPPING."""
    seen = [sagemaker.describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"]]
    deadline = time.monotonic() + timeout
    while seen[-1] == "STOPPING" and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(sagemaker.describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"])
    return list(dict.fromkeys(seen))


@pytest.mark.parametrize("running", ["STARTING", "INPROGRESS"])
def test_fix_sagemaker_stop_compilation_job_stops_a_running_job(aws: dict[str, Any], running: str) -> None:
    create(aws["sagemaker"])
    set_status("minilm-neo", running)

    aws["sagemaker"].stop_compilation_job(CompilationJobName="minilm-neo")

    assert _status_after_stop(aws["sagemaker"], "minilm-neo") == ["STOPPING", "STOPPED"]


def test_stopping_a_missing_job_is_resource_not_found(aws: dict[str, Any]) -> None:
    # GIVEN no job WHEN stopped THEN ResourceNotFound, as DescribeCompilationJob says it
    with pytest.raises(ClientError) as raised:
        aws["sagemaker"].stop_compilation_job(CompilationJobName="no-such-job")
    assert error_of(raised) == ("ResourceNotFound", "Could not find compilation job 'no-such-job'.", 400)


def test_stopping_a_finished_job_is_a_validation_exception(aws: dict[str, Any]) -> None:
    # GIVEN a COMPLETED job WHEN stopped THEN refused, naming its status, and it stays COMPLETED
    create(aws["sagemaker"])
    with pytest.raises(ClientError) as raised:
        aws["sagemaker"].stop_compilation_job(CompilationJobName="minilm-neo")
    code, message, status = error_of(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "minilm-neo is COMPLETED" in message
    described = aws["sagemaker"].describe_compilation_job(CompilationJobName="minilm-neo")
    assert described["CompilationJobStatus"] == "COMPLETED"


# -- sagemaker-compilation-job-deletion ----------------------------------------------------------------


@pytest.mark.parametrize("unfinished", ["STARTING", "INPROGRESS", "STOPPING"])
def test_fix_sagemaker_compilation_job_deletion_refuses_an_unfinished_job(
    aws: dict[str, Any], unfinished: str
) -> None:
    # GIVEN a job that has not finished
    create(aws["sagemaker"])
    set_status("minilm-neo", unfinished)
    # WHEN it is deleted
    with pytest.raises(ClientError) as raised:
        aws["sagemaker"].delete_compilation_job(CompilationJobName="minilm-neo")
    # THEN SageMaker's rule, and the job is still there
    code, message, status = error_of(raised)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "You can delete a compilation job only if its current status is COMPLETED, FAILED, or STOPPED"
    )
    assert aws["sagemaker"].describe_compilation_job(CompilationJobName="minilm-neo")


def test_a_stopped_job_can_be_deleted(aws: dict[str, Any]) -> None:
    create(aws["sagemaker"])
    set_status("minilm-neo", "INPROGRESS")
    aws["sagemaker"].stop_compilation_job(CompilationJobName="minilm-neo")
    assert _status_after_stop(aws["sagemaker"], "minilm-neo")[-1] == "STOPPED"

    aws["sagemaker"].delete_compilation_job(CompilationJobName="minilm-neo")

    assert aws["sagemaker"].list_compilation_jobs()["CompilationJobSummaries"] == []
