"""The ``Custom::NeoCompilationJob`` handler for the CDK Provider framework: ``on_event`` starts a
SageMaker Neo compilation job (or reuses the finished job of the same inputs), ``is_complete`` waits
for it and builds the serving archive. boto3 and the standard library only (Lambda runtime).

ResourceProperties (strings, as CloudFormation sends them): ``JobNamePrefix`` (at most 50
characters), ``RoleArn``, ``InputS3Uri``, optional ``StagedInputS3Uri`` (a ``.tar.gz`` key that
``InputS3Uri`` is copied to first, for inputs whose key Neo does not take), ``Framework``, optional
``FrameworkVersion``, ``DataInputConfig`` and ``CompilerOptions``, ``TargetDevice`` or
``TargetPlatformOs`` + ``TargetPlatformArch`` (+ optional ``TargetPlatformAccelerator``),
``OutputS3Prefix`` (``s3://bucket/prefix/``), optional ``KmsKeyId``, ``MaxRuntimeInSeconds``.

The physical id is the job name, ``<JobNamePrefix>-<12 hex of sha256 of the inputs>``; ``RoleArn``
and ``MaxRuntimeInSeconds`` are not inputs (they do not change the compiled model). Data:
``ModelArtifact`` (the serving archive), ``CompiledArtifact`` (Neo's archive),
``CompilationJobName``, ``CompilationJobArn``.
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateCompilationJob.html
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
JOB_NAME_MAX = 63
HASH_CHARS = 12
NOT_INPUTS = frozenset({"ServiceToken", "RoleArn", "MaxRuntimeInSeconds"})
"""Properties that do not change the compiled model, so not part of the job name."""
REQUIRED = ("JobNamePrefix", "RoleArn", "InputS3Uri", "Framework", "OutputS3Prefix")
DEFAULT_MAX_RUNTIME_SECONDS = 900
RUNNING = frozenset({"STARTING", "INPROGRESS"})
RETRIED = frozenset({"FAILED", "STOPPED"})
SERVING_KEY = "serving/model.tar.gz"
COMPRESS_LEVEL = 1
"""gzip level of the serving archive: weights barely compress. Measured on the traced MiniLM (92 MB):
level 1 takes 2.0 s against 2.7 s at level 6, for an archive 0.5 % larger."""
RECREATE_ATTEMPTS = 10
RECREATE_WAIT_SECONDS = 2.0


class Clients:
    """The boto3 clients the handler uses (``sagemaker``, ``s3``), created when first used."""

    def __init__(self, sagemaker: Any = None, s3: Any = None) -> None:
        self._sagemaker = sagemaker
        self._s3 = s3

    @property
    def sagemaker(self) -> Any:
        if self._sagemaker is None:
            self._sagemaker = boto3.client("sagemaker")
        return self._sagemaker

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.client("s3")
        return self._s3


_DEFAULT_CLIENTS = Clients()


# -- names and requests ----------------------------------------------------------------------------


def job_name(properties: Mapping[str, Any]) -> str:
    """``<JobNamePrefix>-<hash>``: the hash covers every property that determines the compiled output."""
    inputs = {key: value for key, value in properties.items() if key not in NOT_INPUTS}
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:HASH_CHARS]
    name = f"{properties['JobNamePrefix']}-{digest}"
    if len(name) > JOB_NAME_MAX or not JOB_NAME_PATTERN.match(name):
        raise ValueError(
            f"JobNamePrefix {properties['JobNamePrefix']!r} makes the job name {name!r}, which SageMaker "
            f"rejects: at most {JOB_NAME_MAX - HASH_CHARS - 1} letters, digits and hyphens, starting "
            "and ending with a letter or digit"
        )
    return name


def _check(properties: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED if not properties.get(name)]
    if missing:
        raise ValueError(f"missing properties: {', '.join(missing)}")
    if not (properties["OutputS3Prefix"].startswith("s3://") and properties["OutputS3Prefix"].endswith("/")):
        raise ValueError(f"OutputS3Prefix must be s3://bucket/prefix/, got {properties['OutputS3Prefix']!r}")
    device = properties.get("TargetDevice")
    platform = properties.get("TargetPlatformOs") or properties.get("TargetPlatformArch")
    if bool(device) == bool(platform):
        raise ValueError("give TargetDevice, or TargetPlatformOs with TargetPlatformArch (not both)")
    if platform and not (properties.get("TargetPlatformOs") and properties.get("TargetPlatformArch")):
        raise ValueError("TargetPlatformOs and TargetPlatformArch go together")


def neo_input(properties: Mapping[str, Any]) -> str:
    """The archive Neo reads: the staged copy when there is one."""
    return str(properties.get("StagedInputS3Uri") or properties["InputS3Uri"])


def output_location(properties: Mapping[str, Any], name: str) -> str:
    return f"{properties['OutputS3Prefix']}{name}/"


def serving_location(properties: Mapping[str, Any], name: str) -> str:
    return f"{output_location(properties, name)}{SERVING_KEY}"


def create_request(properties: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateCompilationJob's parameters for ``properties``."""
    input_config = {"S3Uri": neo_input(properties), "Framework": properties["Framework"]}
    for key in ("FrameworkVersion", "DataInputConfig"):
        if properties.get(key):
            input_config[key] = properties[key]
    output_config: dict[str, Any] = {"S3OutputLocation": output_location(properties, name)}
    if properties.get("TargetDevice"):
        output_config["TargetDevice"] = properties["TargetDevice"]
    else:
        platform = {"Os": properties["TargetPlatformOs"], "Arch": properties["TargetPlatformArch"]}
        if properties.get("TargetPlatformAccelerator"):
            platform["Accelerator"] = properties["TargetPlatformAccelerator"]
        output_config["TargetPlatform"] = platform
    for key in ("CompilerOptions", "KmsKeyId"):
        if properties.get(key):
            output_config[key] = properties[key]
    runtime = int(properties.get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME_SECONDS)
    return {
        "CompilationJobName": name,
        "RoleArn": properties["RoleArn"],
        "InputConfig": input_config,
        "OutputConfig": output_config,
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
    }


# -- AWS calls ---------------------------------------------------------------------------------------


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _encryption(properties: Mapping[str, Any]) -> dict[str, str]:
    key = properties.get("KmsKeyId")
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key} if key else {}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe(clients: Clients, name: str) -> dict[str, Any] | None:
    """DescribeCompilationJob's answer, or None when there is no such job."""
    if not JOB_NAME_PATTERN.match(name) or len(name) > JOB_NAME_MAX:
        return None  # a physical id the framework made up after a failed create: no job has it
    try:
        described: dict[str, Any] = clients.sagemaker.describe_compilation_job(CompilationJobName=name)
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if _error_code(error) == "ResourceNotFound" or "Could not find" in message:
            return None
        raise
    return described


def _stage_input(clients: Clients, properties: Mapping[str, Any]) -> None:
    """Copy ``InputS3Uri`` to ``StagedInputS3Uri`` (a managed copy: multipart beyond 5 GB)."""
    source_bucket, source_key = _split(properties["InputS3Uri"])
    bucket, key = _split(properties["StagedInputS3Uri"])
    clients.s3.copy(
        {"Bucket": source_bucket, "Key": source_key}, bucket, key, ExtraArgs=_encryption(properties) or None
    )


def _create(clients: Clients, properties: Mapping[str, Any], name: str, *, after_delete: bool) -> str:
    request = create_request(properties, name)
    attempts = RECREATE_ATTEMPTS if after_delete else 1
    for attempt in range(1, attempts + 1):
        try:
            created: dict[str, Any] = clients.sagemaker.create_compilation_job(**request)
            return str(created["CompilationJobArn"])
        except ClientError as error:
            # the name of a job just deleted may stay taken for a moment
            if _error_code(error) != "ResourceInUse" or attempt == attempts:
                raise
            time.sleep(RECREATE_WAIT_SECONDS)
    raise AssertionError("unreachable")


# -- the serving archive -------------------------------------------------------------------------------


UNCOMPILED_MODEL_SUFFIXES = (
    ".pth",
    ".pt",
    ".safetensors",
    ".bin",
    ".onnx",
    ".h5",
    ".pb",
    ".params",
    ".tflite",
)
"""The input's model files: the compiled archive replaces them, so the serving archive leaves them out
(whatever name Neo gives its output, the endpoint must not load the uncompiled model)."""


def _member_key(name: str) -> str:
    return name.removeprefix("./").rstrip("/")


def _stream(clients: Clients, uri: str) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """The members of the ``.tar.gz`` at ``uri``, read as a stream, each with its data."""
    bucket, key = _split(uri)
    body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                yield member, archive.extractfile(member) if member.isfile() else None
    finally:
        body.close()


def build_serving_archive(clients: Clients, compiled: str, source: str, destination: Path) -> list[str]:
    """Write Neo's archive ``compiled`` plus every member of ``source`` it lacks to ``destination``
    (compiled members first, each archive in its own order; gzip without a timestamp), as the
    SageMaker Python SDK's repack does, leaving out the source's model files
    (``UNCOMPILED_MODEL_SUFFIXES``). Returns the names added from ``source``."""
    present: set[str] = set()
    added: list[str] = []
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as out,
    ):
        for member, data in _stream(clients, compiled):
            present.add(_member_key(member.name))
            out.addfile(member, data)
        for member, data in _stream(clients, source):
            key = _member_key(member.name)
            if key not in present and not key.endswith(UNCOMPILED_MODEL_SUFFIXES):
                present.add(_member_key(member.name))
                out.addfile(member, data)
                added.append(member.name)
    return added


def _exists(clients: Clients, uri: str) -> bool:
    bucket, key = _split(uri)
    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        # The role may list the output prefix, so a missing object is a 404 (without s3:ListBucket
        # it would be a 403): https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
        if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def repack(clients: Clients, properties: Mapping[str, Any], name: str, compiled: str) -> str:
    """The serving archive of job ``name`` (built and uploaded unless it exists); its S3 URI."""
    serving = serving_location(properties, name)
    if _exists(clients, serving):
        logger.info("reused serving archive %s of compilation job %s", serving, name)
        return serving
    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "model.tar.gz"
        added = build_serving_archive(clients, compiled, neo_input(properties), archive)
        bucket, key = _split(serving)
        clients.s3.upload_file(str(archive), bucket, key, ExtraArgs=_encryption(properties) or None)
    logger.info(
        "repacked compilation job %s: %s + %d member(s) of the input (%s) -> %s",
        name,
        compiled,
        len(added),
        ", ".join(added[:10]) + (" ..." if len(added) > 10 else ""),
        serving,
    )
    return serving


# -- the Provider framework's handlers ---------------------------------------------------------------


def on_event(event: Mapping[str, Any], context: Any, clients: Clients | None = None) -> dict[str, Any]:
    """Create/Update: start the job of these inputs unless it exists (a FAILED or STOPPED one is
    deleted and started again); Delete: stop the job if it still runs."""
    clients = clients or _DEFAULT_CLIENTS
    request_type = event["RequestType"]
    if request_type == "Delete":
        return _delete(clients, str(event["PhysicalResourceId"]))
    properties = event["ResourceProperties"]
    _check(properties)
    name = job_name(properties)
    job = describe(clients, name)
    status = job["CompilationJobStatus"] if job else None
    if status == "COMPLETED":
        logger.info("reused compilation job %s (COMPLETED)", name)
    elif status in RUNNING:
        logger.info("waiting for compilation job %s (%s)", name, status)
    elif status == "STOPPING":
        raise RuntimeError(f"Neo compilation job {name} is STOPPING: retry the deployment once it is STOPPED")
    else:
        if status in RETRIED:
            clients.sagemaker.delete_compilation_job(CompilationJobName=name)
            logger.info("deleted compilation job %s (%s) to start it again", name, status)
        if properties.get("StagedInputS3Uri"):
            _stage_input(clients, properties)
        arn = _create(clients, properties, name, after_delete=status in RETRIED)
        logger.info("created compilation job %s (%s)", name, arn)
        return {"PhysicalResourceId": name, "Data": {"CompilationJobName": name, "CompilationJobArn": arn}}
    assert job is not None
    return {
        "PhysicalResourceId": name,
        "Data": {"CompilationJobName": name, "CompilationJobArn": job["CompilationJobArn"]},
    }


def _delete(clients: Clients, name: str) -> dict[str, Any]:
    job = describe(clients, name)
    if job is None:
        logger.info("no compilation job %s to delete", name)
    elif job["CompilationJobStatus"] in RUNNING:
        clients.sagemaker.stop_compilation_job(CompilationJobName=name)
        logger.info("stopped compilation job %s (%s)", name, job["CompilationJobStatus"])
    else:
        # a finished job costs nothing and lets the same inputs reuse it
        logger.info("left compilation job %s (%s)", name, job["CompilationJobStatus"])
    return {"PhysicalResourceId": name}


def is_complete(event: Mapping[str, Any], context: Any, clients: Clients | None = None) -> dict[str, Any]:
    """Done when the job is COMPLETED and its serving archive exists; raises when it failed or stopped."""
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    clients = clients or _DEFAULT_CLIENTS
    name = str(event["PhysicalResourceId"])
    properties = event["ResourceProperties"]
    job = describe(clients, name)
    if job is None:
        raise RuntimeError(f"Neo compilation job {name} does not exist")
    status = job["CompilationJobStatus"]
    if status == "FAILED":
        raise RuntimeError(
            f"Neo compilation job {name} failed: {job.get('FailureReason') or 'no reason given'}"
        )
    if status in ("STOPPING", "STOPPED"):
        raise RuntimeError(f"Neo compilation job {name} was stopped ({status}) before it completed")
    if status != "COMPLETED":
        logger.info("waiting for compilation job %s (%s)", name, status)
        return {"IsComplete": False}
    compiled = str(job["ModelArtifacts"]["S3ModelArtifacts"])
    serving = repack(clients, properties, name, compiled)
    return {
        "IsComplete": True,
        "Data": {
            "ModelArtifact": serving,
            "CompiledArtifact": compiled,
            "CompilationJobName": name,
            "CompilationJobArn": job["CompilationJobArn"],
        },
    }
