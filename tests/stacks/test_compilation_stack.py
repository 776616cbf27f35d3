"""Neo compilation in a workload stack (``neo.yaml``, real-time): the custom resource and its
properties, the least-privilege roles of the job and of the handler, and the wiring of the
compiled artifact into the served model."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import assertions

from sagemaker_constructs.compilation import RESOURCE_TYPE
from tests.conftest import SynthesizedEnvironment, synthesize

PREFIX = "minilm-embeddings-neo-realtime-neo"
BUCKET_ARN = {"Fn::ImportValue": "minilm-embeddings-neo-stateful-bucket-arn"}
BUCKET_NAME = {"Fn::ImportValue": "minilm-embeddings-neo-stateful-bucket-name"}
KEY_ARN = {"Fn::ImportValue": "minilm-embeddings-neo-stateful-key-arn"}
OUTPUTS = {"Fn::Join": ["", [BUCKET_ARN, "/neo/realtime/*"]]}
NEO_IMAGE = "785573368785.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:2.0-cpu-py3"


@pytest.fixture(scope="module")
def neo(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("neo", tmp_path_factory.mktemp("neo-realtime"), "realtime")


def _resources(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("realtime").find_resources(type_name))


def _job(env: SynthesizedEnvironment) -> tuple[str, dict[str, Any]]:
    ((logical_id, job),) = _resources(env, RESOURCE_TYPE).items()
    return logical_id, job


def _policy_of(env: SynthesizedEnvironment, role_prefix: str) -> list[dict[str, Any]]:
    """The statements of the one managed policy attached to the role whose id starts with ``role_prefix``."""
    (role_id,) = [k for k in _resources(env, "AWS::IAM::Role") if k.startswith(role_prefix)]
    (policy,) = [
        p
        for p in _resources(env, "AWS::IAM::ManagedPolicy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """Each action with the resources granted to it."""
    granted: dict[str, Any] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            granted[action] = statement["Resource"]
    return granted


def test_the_job_is_an_explicitly_typed_custom_resource_with_the_configured_settings(
    neo: SynthesizedEnvironment,
) -> None:
    _, job = _job(neo)
    properties = job["Properties"]
    assert properties["JobNamePrefix"] == PREFIX
    assert properties["Framework"] == "PYTORCH"
    assert properties["FrameworkVersion"] == "2.0"
    assert properties["DataInputConfig"] == '{"input_ids": [1, 128], "attention_mask": [1, 128]}'
    assert properties["CompilerOptions"] == '{"dtype":"int64"}'
    assert properties["TargetDevice"] == "ml_c5"
    assert properties["MaxRuntimeInSeconds"] == "900"
    assert properties["KmsKeyId"] == KEY_ARN
    assert properties["OutputS3Prefix"] == {"Fn::Join": ["", ["s3://", BUCKET_NAME, "/neo/realtime/"]]}
    # The CDK asset (key <hash>.gz) is copied to a .tar.gz key in the bucket, which Neo reads.
    asset_key = properties["InputS3Uri"]["Fn::Sub"].rsplit("/", 1)[1]
    assert asset_key.endswith(".gz")
    staged = properties["StagedInputS3Uri"]["Fn::Join"][1]
    assert staged == ["s3://", BUCKET_NAME, f"/neo/realtime/input/{asset_key.removesuffix('.gz')}.tar.gz"]
    assert "TargetPlatformOs" not in properties


def test_the_served_model_reads_the_compiled_artifact_and_runs_neos_image(
    neo: SynthesizedEnvironment,
) -> None:
    job_id, _ = _job(neo)
    (model,) = _resources(neo, "AWS::SageMaker::Model").values()
    container = model["Properties"]["PrimaryContainer"]
    assert container["ModelDataUrl"] == {"Fn::GetAtt": [job_id, "ModelArtifact"]}
    assert container["Image"] == NEO_IMAGE
    assert model["Properties"]["EnableNetworkIsolation"] is True


def test_the_model_role_reads_only_compiled_output_never_the_uncompiled_input(
    neo: SynthesizedEnvironment,
) -> None:
    granted = _actions(_policy_of(neo, "ServedExecutionRole"))
    assert granted["s3:GetObject"] == OUTPUTS
    assert "s3:PutObject" not in granted


def test_the_compile_role_reads_the_input_object_and_writes_only_under_the_output_prefix(
    neo: SynthesizedEnvironment,
) -> None:
    statements = _policy_of(neo, "CompilationCompileRole")
    granted = _actions(statements)
    (staged_key,) = granted["s3:GetObject"]["Fn::Join"][1][1:]
    assert staged_key.startswith("/neo/realtime/input/")  # the one staged input object, no wildcard
    assert staged_key.endswith(".tar.gz")
    assert granted["s3:PutObject"] == OUTPUTS
    assert granted["kms:GenerateDataKey"] == KEY_ARN
    assert {"sagemaker:CreateCompilationJob", "iam:PassRole"}.isdisjoint(granted)
    role = next(
        r for k, r in _resources(neo, "AWS::IAM::Role").items() if k.startswith("CompilationCompileRole")
    )
    (principal,) = [
        s["Principal"]["Service"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]
    assert principal == "sagemaker.amazonaws.com"


def test_the_start_handler_touches_only_its_jobs_and_passes_only_the_compile_role(
    neo: SynthesizedEnvironment,
) -> None:
    statements = _policy_of(neo, "CompilationStartRole")
    granted = _actions(statements)
    jobs = {
        "Fn::Join": [
            "",
            [
                "arn:aws:sagemaker:us-east-1:",
                {"Ref": "AWS::AccountId"},
                f":compilation-job/{PREFIX}-*",
            ],
        ]
    }
    for action in (
        "sagemaker:CreateCompilationJob",
        "sagemaker:DescribeCompilationJob",
        "sagemaker:StopCompilationJob",
        "sagemaker:DeleteCompilationJob",
    ):
        assert granted[action] == jobs
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    (compile_role_id,) = [
        k for k in _resources(neo, "AWS::IAM::Role") if k.startswith("CompilationCompileRole")
    ]
    assert pass_role["Resource"] == {"Fn::GetAtt": [compile_role_id, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    # It copies the asset to the staged key and may touch no other object.
    assert granted["s3:GetObject"]["Fn::Join"][1][-1].endswith(".gz")
    assert granted["s3:PutObject"]["Fn::Join"][1][-1].startswith("/neo/realtime/input/")


def test_the_wait_handler_describes_jobs_and_writes_only_the_serving_archive_prefix(
    neo: SynthesizedEnvironment,
) -> None:
    granted = _actions(_policy_of(neo, "CompilationWaitRole"))
    assert "sagemaker:CreateCompilationJob" not in granted
    assert granted["s3:PutObject"] == OUTPUTS


def test_the_provider_waits_for_the_job_within_its_limit_and_the_handlers_run_python(
    neo: SynthesizedEnvironment,
) -> None:
    template = neo.template("realtime")
    for handler in ("index.on_event", "index.is_complete"):
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {"Handler": handler, "Runtime": assertions.Match.string_like_regexp("python3")},
        )
    (waiter,) = _resources(neo, "AWS::StepFunctions::StateMachine").values()
    definition = waiter["Properties"]["DefinitionString"]
    # 900 s of job plus 600 s of margin, polled every 30 s: 50 attempts.
    assert '"MaxAttempts":50' in str(definition)


def test_the_stack_outputs_the_compilation_job_name(neo: SynthesizedEnvironment) -> None:
    job_id, _ = _job(neo)
    outputs = neo.template_json("realtime")["Outputs"]
    assert outputs["CompilationJobName"]["Value"] == {"Ref": job_id}
