"""NeoCompilation on a bare stack: an artifact already in S3 is compiled in place (no staging), the
wait follows the job's limit within the Provider's two hours, the construct is cdk-nag clean, and
bad props are refused before anything is synthesized."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from sagemaker_constructs.compilation import RESOURCE_TYPE, CompilationJobSpec, NeoCompilation, NeoTarget
from sagemaker_constructs.compliance import RULE_PACKS
from sagemaker_constructs.model_data import ArtifactLocation
from tests.sagemaker_constructs.support import bare_stack, nag_findings

SOURCE = "s3://models-bucket/minilm/model.tar.gz"
JOB = CompilationJobSpec(framework="PYTORCH", framework_version="2.0", target=NeoTarget(device="ml_c5"))


def _compilation(
    stack: cdk.Stack,
    construct_id: str = "Compilation",
    *,
    source: ArtifactLocation | None = None,
    job: CompilationJobSpec = JOB,
    job_name_prefix: str = "proj-dev-realtime-neo",
    output_prefix: str = "neo/realtime/",
) -> NeoCompilation:
    key = kms.Key.from_key_arn(
        stack,
        f"{construct_id}Key",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    bucket = s3.Bucket.from_bucket_name(stack, f"{construct_id}Bucket", "env-bucket")
    return NeoCompilation(
        stack,
        construct_id,
        source=source or ArtifactLocation(s3_uri=SOURCE),
        job=job,
        job_name_prefix=job_name_prefix,
        bucket=bucket,
        output_prefix=output_prefix,
        key=key,
    )


@pytest.fixture(scope="module")
def compiled() -> NeoCompilation:
    return _compilation(bare_stack())


def _template(compilation: NeoCompilation) -> dict[str, Any]:
    return dict(cdk.assertions.Template.from_stack(cdk.Stack.of(compilation)).to_json())


def test_an_artifact_in_s3_is_compiled_where_it_is_and_the_compile_role_reads_only_it(
    compiled: NeoCompilation,
) -> None:
    resources = _template(compiled)["Resources"]
    (job,) = [r for r in resources.values() if r["Type"] == RESOURCE_TYPE]
    assert job["Properties"]["InputS3Uri"] == SOURCE
    assert "StagedInputS3Uri" not in job["Properties"]
    compile_policy = next(r for k, r in resources.items() if k.startswith("CompilationCompilePolicy"))[
        "Properties"
    ]["PolicyDocument"]["Statement"]
    reads = [s["Resource"] for s in compile_policy if s["Action"] == "s3:GetObject"]
    assert reads == ["arn:aws:s3:::models-bucket/minilm/model.tar.gz"]


def test_the_served_location_is_the_resources_model_artifact_readable_under_the_output_prefix(
    compiled: NeoCompilation,
) -> None:
    stack = cdk.Stack.of(compiled)
    assert stack.resolve(compiled.compiled.s3_uri) == {
        "Fn::GetAtt": [stack.get_logical_id(compiled.resource.node.default_child), "ModelArtifact"]  # type: ignore[arg-type]
    }
    assert stack.resolve(compiled.compiled.readable_objects_arn) == "arn:aws:s3:::env-bucket/neo/realtime/*"


@pytest.mark.parametrize(("max_runtime", "attempts"), [(900, 50), (6600, 240)])
def test_the_provider_waits_for_the_jobs_limit_plus_margin_within_two_hours(
    max_runtime: int, attempts: int
) -> None:
    job = CompilationJobSpec(
        framework="PYTORCH",
        framework_version="2.0",
        target=NeoTarget(device="ml_c5"),
        max_runtime_seconds=max_runtime,
    )
    compilation = _compilation(bare_stack(), job=job)
    resources = _template(compilation)["Resources"]
    (waiter,) = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    # polled every 30 s: (runtime + 600 s margin) / 30, at most 7200 s / 30
    assert f'"MaxAttempts":{attempts}' in str(waiter["Properties"]["DefinitionString"])


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
def test_cdk_nag_finds_nothing_unacknowledged(compiled: NeoCompilation, pack: type[cdk_nag.NagPack]) -> None:
    assert nag_findings(compiled, pack) == []


def test_a_platform_target_is_sent_as_its_three_properties() -> None:
    job = CompilationJobSpec(
        framework="PYTORCH",
        framework_version="2.0",
        target=NeoTarget(platform_os="LINUX", platform_arch="X86_64", platform_accelerator="NVIDIA"),
        compiler_options='{"gpu-code":"sm_75","trt-ver":"7.1.3","cuda-ver":"10.2"}',
    )
    resources = _template(_compilation(bare_stack(), job=job))["Resources"]
    (resource,) = [r for r in resources.values() if r["Type"] == RESOURCE_TYPE]
    properties = resource["Properties"]
    assert (properties["TargetPlatformOs"], properties["TargetPlatformArch"]) == ("LINUX", "X86_64")
    assert properties["TargetPlatformAccelerator"] == "NVIDIA"
    assert "TargetDevice" not in properties


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"job_name_prefix": "p" * 51}, "job_name_prefix must be at most 50 characters"),
        ({"output_prefix": "neo/realtime"}, "output_prefix must end with '/'"),
        ({"source": ArtifactLocation(s3_prefix="s3://models-bucket/minilm/")}, "Neo reads one model.tar.gz"),
    ],
    ids=["long-prefix", "output-prefix", "uncompressed-source"],
)
def test_bad_props_are_refused(props: dict[str, Any], message: str) -> None:
    # GIVEN a bare stack, WHEN the construct gets a bad prop, THEN it refuses with the reason
    with pytest.raises(ValueError, match=message):
        _compilation(bare_stack(), **props)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: NeoTarget(), "NeoTarget needs a device, or platform_os with platform_arch"),
        (lambda: NeoTarget(device="ml_c5", platform_os="LINUX", platform_arch="X86_64"), "not both"),
        (
            lambda: CompilationJobSpec("PYTORCH", "2.0", NeoTarget(device="ml_c5"), max_runtime_seconds=7200),
            "max_runtime_seconds must be 60-6600",
        ),
    ],
    ids=["no-target", "two-targets", "runtime"],
)
def test_bad_job_settings_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
