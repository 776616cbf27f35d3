"""SageMaker Neo compilation jobs on the local AWS: a stand-in for Neo's compiler, StopCompilationJob,
and SageMaker's rule on deleting jobs.

moto 5.2 stores a compilation job ``COMPLETED`` at once, with ``S3ModelArtifacts`` set to the output
prefix and nothing written; it has no StopCompilationJob and deletes running jobs. Here, as SageMaker
does (https://docs.aws.amazon.com/sagemaker/latest/dg/neo-job-compilation.html):

- CreateCompilationJob checks the job name and ``StoppingCondition`` as botocore's model states them
  (ValidationException). A job whose input cannot be read ends ``FAILED`` with a ``FailureReason``
  naming the S3 URI (SageMaker accepts the call and fails the job). Otherwise the stand-in writes
  ``<S3OutputLocation><input stem>-<target>.tar.gz``, where Neo writes its compiled archive, and the
  job is ``COMPLETED`` with ``ModelArtifacts.S3ModelArtifacts`` naming it. The local AWS cannot run
  Neo's compiler: that archive is the input, copied unchanged (encrypted with ``OutputConfig.KmsKeyId``
  when given). Such jobs carry the tag :data:`STAND_IN_TAG` (ListTags shows it), and
  :func:`stood_in_compilation_jobs` lists them;
- StopCompilationJob of a ``STARTING`` or ``INPROGRESS`` job makes it ``STOPPING``, then ``STOPPED``
  after :data:`STOPPING_SECONDS`; a missing job is ResourceNotFound, any other status a
  ValidationException;
- DeleteCompilationJob of a ``STARTING``, ``INPROGRESS`` or ``STOPPING`` job is a ValidationException.

The fixes ``sagemaker-compilation-jobs``, ``sagemaker-stop-compilation-job`` and
``sagemaker-compilation-job-deletion`` in :mod:`local_aws.moto_fixes` install them.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any, Final

import botocore.session
from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ResourceNotFound, ValidationError
from moto.sagemaker.models import CompilationJob, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.utils import get_partition

from local_aws.state import NEO_STAND_IN_TAG

__all__ = [
    "STAND_IN_TAG",
    "STOPPING_SECONDS",
    "add_stop_compilation_job",
    "refuse_deleting_unfinished_jobs",
    "stand_in_for_neo",
    "stood_in_compilation_jobs",
    "target_label",
]

logger = logging.getLogger(__name__)

STAND_IN_TAG: Final = NEO_STAND_IN_TAG
"""Tag key of jobs the stand-in completed (``local-aws:neo-stand-in``); its value says what the output is."""
STAND_IN_NOTE: Final = "input copied unchanged, not compiled by Neo"
STOPPING_SECONDS: Final = 0.2
"""How long a stopped job stays STOPPING before it is STOPPED."""
RUNNING: Final = frozenset({"STARTING", "INPROGRESS"})
UNFINISHED: Final = RUNNING | {"STOPPING"}


def _request_shape() -> Any:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateCompilationJob").input_shape


@functools.cache
def _name_rule() -> tuple[re.Pattern[str], int]:
    shape = _request_shape().members["CompilationJobName"]
    return re.compile(f"^{shape.metadata['pattern']}$"), int(shape.metadata["max"])


@functools.cache
def _runtime_range() -> tuple[int | None, int | None]:
    metadata = _request_shape().members["StoppingCondition"].members["MaxRuntimeInSeconds"].metadata
    return metadata.get("min"), metadata.get("max")


def validation_errors(name: str, stopping_condition: dict[str, Any] | None) -> list[str]:
    """What SageMaker's request validation says about ``name`` and ``stopping_condition``."""
    pattern, longest = _name_rule()
    errors = []
    if len(name) > longest:
        errors.append(
            f"Value '{name}' at 'compilationJobName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {longest}"
        )
    if not pattern.match(name):
        errors.append(
            f"Value '{name}' at 'compilationJobName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern.pattern}"
        )
    runtime = (stopping_condition or {}).get("MaxRuntimeInSeconds")
    low, high = _runtime_range()
    if runtime is not None and low is not None and int(runtime) < low:
        errors.append(
            f"Value '{runtime}' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if runtime is not None and high is not None and int(runtime) > high:
        errors.append(
            f"Value '{runtime}' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    return errors


def target_label(output_config: dict[str, Any]) -> str:
    """``TargetDevice`` (``ml_c5``), or the platform as ``OS_ARCH[_ACCELERATOR]`` (``LINUX_X86_64``)."""
    if output_config.get("TargetDevice"):
        return str(output_config["TargetDevice"])
    platform = output_config.get("TargetPlatform") or {}
    parts = [platform.get("Os"), platform.get("Arch"), platform.get("Accelerator")]
    return "_".join(str(part) for part in parts if part)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _fail(job: CompilationJob, reason: str) -> None:
    job.compilation_job_status = "FAILED"
    job.failure_reason = reason
    job.model_artifacts = None  # type: ignore[assignment]  # a failed job has none
    job.model_digests = None  # type: ignore[assignment]
    logger.info("compilation job %s failed: %s", job.compilation_job_name, reason)


def _compile(job: CompilationJob, account_id: str, region_name: str) -> None:
    """Write the stand-in's output of ``job``, or fail it as Neo would."""
    source = str((job.input_config or {}).get("S3Uri", ""))
    if not source.endswith(".tar.gz"):
        _fail(
            job,
            f"ClientError: InputConfiguration: {source} is not a .tar.gz archive: Neo reads one "
            "gzip compressed tar archive",
        )
        return
    storage = s3_backends[account_id][get_partition(region_name)]
    bucket, key = _split(source)
    try:
        stored = storage.get_object(bucket, key)
    except Exception:  # moto raises its own S3 errors for a missing bucket
        stored = None
    if stored is None:
        _fail(
            job,
            f"ClientError: InputConfiguration: Unable to download the model artifact {source}: "
            "the object does not exist or the role cannot read it",
        )
        return
    stem = key.rsplit("/", 1)[-1].removesuffix(".tar.gz")
    output_config = job.output_config
    output = (
        f"{str(output_config['S3OutputLocation']).rstrip('/')}/{stem}-{target_label(output_config)}.tar.gz"
    )
    out_bucket, out_key = _split(output)
    kms_key = output_config.get("KmsKeyId")
    try:
        storage.put_object(
            out_bucket,
            out_key,
            stored.value,
            encryption="aws:kms" if kms_key else None,
            kms_key_id=kms_key or None,
        )
    except Exception:  # moto raises its own S3 errors for a missing bucket
        _fail(job, f"ClientError: OutputConfiguration: Unable to upload the compiled model to {output}")
        return
    job.model_artifacts = {"S3ModelArtifacts": output}
    job.tags = [*(job.tags or []), {"Key": STAND_IN_TAG, "Value": STAND_IN_NOTE}]
    logger.info(
        "compilation job %s stood in for Neo: copied %s unchanged to %s",
        job.compilation_job_name,
        source,
        output,
    )


def stand_in_for_neo() -> None:
    """Wrap moto's CreateCompilationJob: validate, then complete the job with the stand-in's output."""
    original = SageMakerModelBackend.create_compilation_job

    @functools.wraps(original)
    def create_compilation_job(
        self: SageMakerModelBackend, compilation_job_name: str, *args: Any, **kwargs: Any
    ) -> str:
        errors = validation_errors(compilation_job_name, kwargs.get("stopping_condition"))
        if errors:
            detected = "1 validation error" if len(errors) == 1 else f"{len(errors)} validation errors"
            raise ValidationError(message=f"{detected} detected: {'; '.join(errors)}")
        arn: str = original(self, compilation_job_name, *args, **kwargs)
        job = self.compilation_jobs[compilation_job_name]
        if job.input_config:
            _compile(job, self.account_id, self.region_name)
        return arn

    SageMakerModelBackend.create_compilation_job = create_compilation_job  # type: ignore[method-assign]


def stood_in_compilation_jobs(account_id: str, region_name: str) -> list[str]:
    """Names of the jobs whose output the stand-in wrote (the input, not a compiled model)."""
    jobs = sagemaker_backends[account_id][region_name].compilation_jobs
    return [
        name for name, job in jobs.items() if any(tag.get("Key") == STAND_IN_TAG for tag in (job.tags or []))
    ]


def _require_job(backend: SageMakerModelBackend, name: str) -> CompilationJob:
    job: CompilationJob | None = backend.compilation_jobs.get(name)
    if job is None:
        raise ResourceNotFound(message=f"Could not find compilation job '{name}'.")
    return job


def _stopped(job: CompilationJob) -> None:
    if job.compilation_job_status == "STOPPING":
        job.compilation_job_status = "STOPPED"
        job.compilation_end_time = job.last_modified_time = utcnow()


def stop_compilation_job(backend: SageMakerModelBackend, name: str) -> None:
    """SageMaker's StopCompilationJob: STOPPING now, STOPPED shortly after."""
    job = _require_job(backend, name)
    if job.compilation_job_status not in RUNNING:
        raise ValidationError(
            message=f"The compilation job {name} is {job.compilation_job_status}: "
            "only a STARTING or INPROGRESS job can be stopped."
        )
    job.compilation_job_status = "STOPPING"
    job.last_modified_time = utcnow()
    timer = threading.Timer(STOPPING_SECONDS, _stopped, args=(job,))
    timer.daemon = True
    timer.start()


def add_stop_compilation_job() -> None:
    """Add StopCompilationJob to moto's SageMaker API and backend."""

    def backend_stop(self: SageMakerModelBackend, compilation_job_name: str) -> None:
        stop_compilation_job(self, compilation_job_name)

    def respond(self: SageMakerResponse) -> EmptyResult:
        stop_compilation_job(self.sagemaker_backend, self._get_param("CompilationJobName"))
        return EmptyResult()

    SageMakerModelBackend.stop_compilation_job = backend_stop  # type: ignore[attr-defined]
    SageMakerResponse.stop_compilation_job = respond  # type: ignore[attr-defined]


def refuse_deleting_unfinished_jobs() -> None:
    """Wrap moto's DeleteCompilationJob: a job not yet finished is SageMaker's ValidationException."""
    original = SageMakerModelBackend.delete_compilation_job

    @functools.wraps(original)
    def delete_compilation_job(self: SageMakerModelBackend, compilation_job_name: str) -> None:
        job = self.compilation_jobs.get(compilation_job_name)
        if job is not None and job.compilation_job_status in UNFINISHED:
            # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteCompilationJob.html
            raise ValidationError(
                message="You can delete a compilation job only if its current status is COMPLETED, "
                f"FAILED, or STOPPED; {compilation_job_name} is {job.compilation_job_status}."
            )
        original(self, compilation_job_name)

    SageMakerModelBackend.delete_compilation_job = delete_compilation_job  # type: ignore[method-assign]
