"""The ``Custom::NeoCompilationJob`` handler against moto's SageMaker and S3 (with the local AWS's
fixes: the Neo stand-in, StopCompilationJob): job requests, reuse by inputs, waiting, failures,
the serving archive, and deletion."""

from __future__ import annotations

import io
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from local_aws.moto_fixes import install
from sagemaker_constructs.neo_compilation_handler import index
from sagemaker_constructs.neo_compilation_handler.index import Clients, is_complete, job_name, on_event

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
BUCKET = "artifacts"
INPUT = f"s3://{BUCKET}/models/minilm.tar.gz"
INPUT_MEMBERS = {
    "model.pt": b"uncompiled weights",
    "code/inference.py": b"def model_fn(model_dir): ...\n",
    "tokenizer.json": b"{}",
}
COMPILED_MEMBERS = {"compiled.pt": b"compiled weights", "compiled_model.json": b"{}"}


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpacked(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def service_clients() -> Iterator[dict[str, Any]]:
    """boto3 clients made once (they take 0.1 s each), under fake credentials; moto intercepts them
    whenever ``mock_aws`` is active."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        install()
        yield {service: boto3.client(service, region_name=REGION) for service in ("sagemaker", "s3", "kms")}


@pytest.fixture
def aws(service_clients: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A fresh moto with every fix of the local AWS."""
    with mock_aws():
        yield service_clients


@pytest.fixture
def clients(aws: dict[str, Any]) -> Clients:
    """GIVEN a bucket holding the input archive, and the handler's clients."""
    s3 = aws["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="models/minilm.tar.gz", Body=archive(INPUT_MEMBERS))
    return Clients(sagemaker=aws["sagemaker"], s3=s3)


@pytest.fixture
def key_arn(aws: dict[str, Any]) -> str:
    arn: str = aws["kms"].create_key()["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture
def properties(key_arn: str) -> dict[str, str]:
    return {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:provider-framework-onEvent",
        "JobNamePrefix": "minilm-neo",
        "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/compile",
        "InputS3Uri": INPUT,
        "Framework": "PYTORCH",
        "FrameworkVersion": "2.0",
        "DataInputConfig": '{"input_ids":[1,128],"attention_mask":[1,128]}',
        "CompilerOptions": '{"dtype":"int64"}',
        "TargetDevice": "ml_c5",
        "OutputS3Prefix": f"s3://{BUCKET}/neo/",
        "KmsKeyId": key_arn,
        "MaxRuntimeInSeconds": "900",
    }


@pytest.fixture
def creations(clients: Clients) -> Iterator[list[str]]:
    """The names of the jobs the handler asks SageMaker to create."""
    created: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        created.append(params["CompilationJobName"])

    events = clients.sagemaker.meta.events
    events.register("provide-client-params.sagemaker.CreateCompilationJob", record)
    yield created
    events.unregister("provide-client-params.sagemaker.CreateCompilationJob", record)


def event(request_type: str, properties: dict[str, str], physical_id: str | None = None) -> dict[str, Any]:
    built: dict[str, Any] = {
        "RequestType": request_type,
        "ResourceType": "Custom::NeoCompilationJob",
        "LogicalResourceId": "Job",
        "RequestId": "request-1",
        "ResourceProperties": properties,
    }
    if physical_id is not None:
        built["PhysicalResourceId"] = physical_id
    return built


def job(name: str) -> Any:
    """moto's record of the job ``name``."""
    return sagemaker_backends[ACCOUNT_ID][REGION].compilation_jobs[name]


def describe(clients: Clients, name: str) -> dict[str, Any]:
    described: dict[str, Any] = clients.sagemaker.describe_compilation_job(CompilationJobName=name)
    return described


def start(clients: Clients, properties: dict[str, str]) -> str:
    return str(on_event(event("Create", properties), None, clients)["PhysicalResourceId"])


def test_create_starts_a_job_named_by_the_inputs_with_exactly_the_requested_fields(
    clients: Clients, properties: dict[str, str], key_arn: str
) -> None:
    response = on_event(event("Create", properties), None, clients)

    name = response["PhysicalResourceId"]
    assert name == job_name(properties)
    assert name.startswith("minilm-neo-")
    assert len(name) == len("minilm-neo-") + 12
    described = describe(clients, name)
    assert response["Data"] == {
        "CompilationJobName": name,
        "CompilationJobArn": described["CompilationJobArn"],
    }
    assert described["RoleArn"] == properties["RoleArn"]
    assert described["InputConfig"] == {
        "S3Uri": INPUT,
        "Framework": "PYTORCH",
        "FrameworkVersion": "2.0",
        "DataInputConfig": '{"input_ids":[1,128],"attention_mask":[1,128]}',
    }
    assert described["OutputConfig"] == {
        "S3OutputLocation": f"s3://{BUCKET}/neo/{name}/",
        "TargetDevice": "ml_c5",
        "CompilerOptions": '{"dtype":"int64"}',
        "KmsKeyId": key_arn,
    }
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}


def test_a_target_platform_is_requested_instead_of_a_device(
    clients: Clients, properties: dict[str, str]
) -> None:
    del properties["TargetDevice"], properties["CompilerOptions"], properties["KmsKeyId"]
    properties |= {
        "TargetPlatformOs": "LINUX",
        "TargetPlatformArch": "X86_64",
        "TargetPlatformAccelerator": "NVIDIA",
    }

    name = start(clients, properties)

    assert describe(clients, name)["OutputConfig"] == {
        "S3OutputLocation": f"s3://{BUCKET}/neo/{name}/",
        "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64", "Accelerator": "NVIDIA"},
    }


def test_a_staged_input_is_copied_first_and_is_what_neo_reads(
    clients: Clients, properties: dict[str, str]
) -> None:
    staged = f"s3://{BUCKET}/neo/input/abc123.tar.gz"
    properties["StagedInputS3Uri"] = staged

    name = start(clients, properties)

    assert describe(clients, name)["InputConfig"]["S3Uri"] == staged
    copied = clients.s3.get_object(Bucket=BUCKET, Key="neo/input/abc123.tar.gz")
    assert unpacked(copied["Body"].read()) == list(INPUT_MEMBERS.items())
    assert copied["ServerSideEncryption"] == "aws:kms"


def test_is_complete_is_false_while_the_job_is_in_progress(
    clients: Clients, properties: dict[str, str]
) -> None:
    name = start(clients, properties)
    job(name).compilation_job_status = "INPROGRESS"

    assert is_complete(event("Create", properties, name), None, clients) == {"IsComplete": False}


def _compiled_by_neo(clients: Clients, name: str) -> str:
    """Replace the stand-in's output of job ``name`` by an archive Neo could have written."""
    key = f"neo/{name}/minilm-ml_c5.tar.gz"
    clients.s3.put_object(Bucket=BUCKET, Key=key, Body=archive(COMPILED_MEMBERS))
    job(name).model_artifacts = {"S3ModelArtifacts": f"s3://{BUCKET}/{key}"}
    return f"s3://{BUCKET}/{key}"


def test_completed_job_serves_the_compiled_archive_with_the_inputs_other_files_but_not_its_model(
    clients: Clients, properties: dict[str, str]
) -> None:
    name = start(clients, properties)
    compiled = _compiled_by_neo(clients, name)

    response = is_complete(event("Create", properties, name), None, clients)

    serving = f"s3://{BUCKET}/neo/{name}/serving/model.tar.gz"
    assert response == {
        "IsComplete": True,
        "Data": {
            "ModelArtifact": serving,
            "CompiledArtifact": compiled,
            "CompilationJobName": name,
            "CompilationJobArn": describe(clients, name)["CompilationJobArn"],
        },
    }
    stored = clients.s3.get_object(Bucket=BUCKET, Key=f"neo/{name}/serving/model.tar.gz")
    # the uncompiled model.pt stays out: the endpoint must load what Neo compiled
    others = [(name, data) for name, data in INPUT_MEMBERS.items() if name != "model.pt"]
    assert unpacked(stored["Body"].read()) == [*COMPILED_MEMBERS.items(), *others]
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"] == properties["KmsKeyId"]


def test_members_the_compiled_archive_has_are_not_added_again(
    clients: Clients, properties: dict[str, str], tmp_path: Path
) -> None:
    clients.s3.put_object(
        Bucket=BUCKET,
        Key="neo/compiled.tar.gz",
        Body=archive({"./code/inference.py": b"neo's", "compiled.pt": b"c"}),
    )

    added = index.build_serving_archive(
        clients, f"s3://{BUCKET}/neo/compiled.tar.gz", INPUT, tmp_path / "a.tar.gz"
    )
    index.build_serving_archive(clients, f"s3://{BUCKET}/neo/compiled.tar.gz", INPUT, tmp_path / "b.tar.gz")

    assert added == ["tokenizer.json"]  # not model.pt (uncompiled), not code/ (Neo's kept)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()  # reproducible


def test_an_existing_serving_archive_is_kept(clients: Clients, properties: dict[str, str]) -> None:
    name = start(clients, properties)
    key = f"neo/{name}/serving/model.tar.gz"
    clients.s3.put_object(Bucket=BUCKET, Key=key, Body=b"built before")

    response = is_complete(event("Update", properties, name), None, clients)

    assert response["Data"]["ModelArtifact"] == f"s3://{BUCKET}/{key}"
    assert clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"built before"


def test_failed_job_fails_the_resource_with_its_failure_reason(
    clients: Clients, properties: dict[str, str]
) -> None:
    # GIVEN a job whose input does not exist (Neo fails it)
    properties["InputS3Uri"] = f"s3://{BUCKET}/models/missing.tar.gz"
    name = start(clients, properties)
    reason = describe(clients, name)["FailureReason"]
    # WHEN the framework asks whether it is complete
    with pytest.raises(RuntimeError) as raised:
        is_complete(event("Create", properties, name), None, clients)
    # THEN the error carries the job's name and its FailureReason
    assert str(raised.value) == f"Neo compilation job {name} failed: {reason}"
    assert "s3://artifacts/models/missing.tar.gz" in str(raised.value)


def test_stopped_job_fails_the_resource(clients: Clients, properties: dict[str, str]) -> None:
    # GIVEN a job stopped before it completed
    name = start(clients, properties)
    job(name).compilation_job_status = "STOPPED"
    # WHEN / THEN
    with pytest.raises(RuntimeError, match=rf"Neo compilation job {name} was stopped \(STOPPED\)"):
        is_complete(event("Create", properties, name), None, clients)


def test_delete_stops_a_running_job(clients: Clients, properties: dict[str, str]) -> None:
    name = start(clients, properties)
    job(name).compilation_job_status = "INPROGRESS"

    response = on_event(event("Delete", properties, name), None, clients)

    assert response == {"PhysicalResourceId": name}
    assert describe(clients, name)["CompilationJobStatus"] in ("STOPPING", "STOPPED")
    assert is_complete(event("Delete", properties, name), None, clients) == {"IsComplete": True}


def test_delete_leaves_a_finished_job_for_the_same_inputs_to_reuse(
    clients: Clients, properties: dict[str, str]
) -> None:
    name = start(clients, properties)

    on_event(event("Delete", properties, name), None, clients)

    assert describe(clients, name)["CompilationJobStatus"] == "COMPLETED"


@pytest.mark.parametrize("physical_id", ["minilm-neo-000000000000", "2026/11/30/[$LATEST]0123abcd"])
def test_delete_without_a_job_succeeds(
    clients: Clients, properties: dict[str, str], physical_id: str
) -> None:
    assert on_event(event("Delete", properties, physical_id), None, clients) == {
        "PhysicalResourceId": physical_id
    }


def test_same_inputs_reuse_the_finished_job_and_create_none_even_with_another_role(
    clients: Clients, properties: dict[str, str], creations: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    name = start(clients, properties)
    changed = properties | {
        "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/compile-recreated",
        "MaxRuntimeInSeconds": "1200",
    }

    with caplog.at_level(logging.INFO, logger=index.__name__):
        response = on_event(event("Update", changed, name), None, clients)

    assert response["PhysicalResourceId"] == name
    assert creations == [name]
    assert f"reused compilation job {name} (COMPLETED)" in caplog.messages


def test_a_running_job_of_the_same_inputs_is_waited_for(
    clients: Clients, properties: dict[str, str], creations: list[str]
) -> None:
    name = start(clients, properties)
    job(name).compilation_job_status = "STARTING"

    assert start(clients, properties) == name
    assert creations == [name]


def test_a_failed_job_of_the_same_inputs_is_deleted_and_started_again(
    clients: Clients, properties: dict[str, str], creations: list[str]
) -> None:
    # GIVEN a job that failed (its input was missing), and the input uploaded since
    properties["InputS3Uri"] = f"s3://{BUCKET}/models/late.tar.gz"
    name = start(clients, properties)
    assert describe(clients, name)["CompilationJobStatus"] == "FAILED"
    clients.s3.put_object(Bucket=BUCKET, Key="models/late.tar.gz", Body=archive(INPUT_MEMBERS))
    # WHEN the deployment is retried with the same inputs
    assert start(clients, properties) == name
    # THEN the job ran again under the same name
    assert creations == [name, name]
    assert describe(clients, name)["CompilationJobStatus"] == "COMPLETED"


def test_a_stopping_job_of_the_same_inputs_asks_for_a_retry_later(
    clients: Clients, properties: dict[str, str]
) -> None:
    # GIVEN a job of these inputs still stopping
    name = start(clients, properties)
    job(name).compilation_job_status = "STOPPING"
    # WHEN / THEN the deployment fails and says what to do
    with pytest.raises(RuntimeError, match=f"{name} is STOPPING: retry the deployment once it is STOPPED"):
        start(clients, properties)


@pytest.mark.parametrize(
    ("changed", "value"),
    [
        ("TargetDevice", "ml_inf2"),
        ("InputS3Uri", f"s3://{BUCKET}/models/other.tar.gz"),
        ("CompilerOptions", "{}"),
    ],
)
def test_different_inputs_make_a_different_job(properties: dict[str, str], changed: str, value: str) -> None:
    assert job_name(properties | {changed: value}) != job_name(properties)


def test_a_prefix_sagemaker_would_reject_fails_before_any_call(
    clients: Clients, properties: dict[str, str]
) -> None:
    # GIVEN a prefix with an underscore WHEN the resource is created THEN the message says why
    properties["JobNamePrefix"] = "minilm_neo"
    with pytest.raises(ValueError, match="JobNamePrefix 'minilm_neo' makes the job name"):
        start(clients, properties)


def test_properties_without_a_target_are_refused(clients: Clients, properties: dict[str, str]) -> None:
    # GIVEN neither TargetDevice nor a platform WHEN created THEN refused, naming both choices
    del properties["TargetDevice"]
    with pytest.raises(ValueError, match="give TargetDevice, or TargetPlatformOs with TargetPlatformArch"):
        start(clients, properties)
