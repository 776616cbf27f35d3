"""Upload a built artifact to S3 under a key named by its hash, once, and verify what S3 stored.

- ``model.tar.gz`` goes to ``<prefix>/<sha256>/model.tar.gz`` with managed multipart transfers and
  an S3-computed SHA-256 checksum, which is compared with the one expected from the local file.
- An uncompressed folder goes to ``<prefix>/<sha256>/`` file by file; its manifest goes last,
  as ``<prefix>/<sha256>.manifest.json``, and marks the upload complete.
- An artifact whose hash is already there is not uploaded again.
- A failed upload leaves nothing under the final key: multipart uploads are aborted, a checksum
  mismatch deletes the object, and a folder upload that fails deletes the files it wrote.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from model_packaging.errors import PackagingError
from model_packaging.manifest import Manifest
from model_packaging.progress import ByteProgress

PART_SIZE = 64 * 1024**2
MIN_PART_SIZE = 5 * 1024**2
MAX_PARTS = 10_000
SHA256_METADATA_KEY = "sha256"


@dataclass(frozen=True)
class UploadResult:
    """Where the artifact is in S3, and whether this call uploaded it or found it there."""

    uri: str
    uploaded: bool


def upload_artifact(
    artifact: Path,
    *,
    bucket: str,
    prefix: str = "models",
    s3_client: Any = None,
    part_size: int | None = None,
    show_progress: bool = True,
) -> UploadResult:
    """Upload ``artifact`` (a built ``model-*.tar.gz`` or ``model-*/`` with its manifest beside it).

    ``part_size`` (at least 5 MiB, the S3 minimum) defaults to ``part_size_for`` the file.
    """
    manifest = _read_manifest(artifact)
    client = s3_client or boto3.client("s3")
    prefix = prefix.strip("/")
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        raise PackagingError(_bucket_problem(bucket, error)) from None
    except BotoCoreError as error:
        raise PackagingError(f"cannot reach S3 to upload to {bucket}: {error}") from None
    if part_size is not None and part_size < MIN_PART_SIZE:
        raise PackagingError(f"part size {part_size} is below the S3 minimum of {MIN_PART_SIZE} bytes")
    if manifest.format == "tar.gz":
        return _upload_archive(client, artifact, manifest, bucket, prefix, part_size, show_progress)
    return _upload_directory(client, artifact, manifest, bucket, prefix, part_size, show_progress)


def _upload_archive(
    client: Any,
    artifact: Path,
    manifest: Manifest,
    bucket: str,
    prefix: str,
    part_size: int | None,
    show_progress: bool,
) -> UploadResult:
    key = f"{prefix}/{manifest.sha256}/model.tar.gz"
    uri = f"s3://{bucket}/{key}"
    existing = _head(client, bucket, key)
    if existing is not None and existing.get("Metadata", {}).get(SHA256_METADATA_KEY) == manifest.sha256:
        return UploadResult(uri=uri, uploaded=False)
    part_size = part_size or part_size_for(manifest.size)
    config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
    with ByteProgress(manifest.size, f"uploading {artifact.name}", enabled=show_progress) as progress:
        try:
            client.upload_file(
                str(artifact),
                bucket,
                key,
                ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {SHA256_METADATA_KEY: manifest.sha256}},
                Config=config,
                Callback=progress.advance,
            )
        except (ClientError, BotoCoreError) as error:
            raise PackagingError(f"upload of {artifact} to {uri} failed: {error}") from None
    stored = _head(client, bucket, key, checksum=True) or {}
    expected = s3_sha256_checksum(artifact, part_size)
    if not same_checksum(stored.get("ChecksumSHA256"), expected):
        client.delete_object(Bucket=bucket, Key=key)
        raise PackagingError(
            f"S3 stored checksum {stored.get('ChecksumSHA256')} for {uri}, expected {expected}; "
            "the object was deleted, upload again"
        )
    return UploadResult(uri=uri, uploaded=True)


def _upload_directory(
    client: Any,
    artifact: Path,
    manifest: Manifest,
    bucket: str,
    prefix: str,
    part_size: int | None,
    show_progress: bool,
) -> UploadResult:
    root = f"{prefix}/{manifest.sha256}/"
    marker = f"{prefix}/{manifest.sha256}.manifest.json"
    uri = f"s3://{bucket}/{root}"
    if _head(client, bucket, marker) is not None:
        return UploadResult(uri=uri, uploaded=False)
    written: list[str] = []
    try:
        with ByteProgress(
            manifest.total_file_bytes, f"uploading {artifact.name}/", enabled=show_progress
        ) as bar:
            for entry in manifest.files:
                key = root + entry.path
                size = part_size or part_size_for(entry.size)
                written.append(key)
                client.upload_file(
                    str(artifact / entry.path),
                    bucket,
                    key,
                    ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                    Config=TransferConfig(multipart_threshold=size, multipart_chunksize=size),
                    Callback=bar.advance,
                )
                stored = (_head(client, bucket, key, checksum=True) or {}).get("ChecksumSHA256")
                expected = s3_sha256_checksum(artifact / entry.path, size)
                if not same_checksum(stored, expected):
                    raise PackagingError(f"S3 stored checksum {stored} for {key}, expected {expected}")
        client.put_object(
            Bucket=bucket, Key=marker, Body=manifest.to_json().encode(), ContentType="application/json"
        )
    except (ClientError, BotoCoreError, OSError, PackagingError) as error:
        for key in written:
            client.delete_object(Bucket=bucket, Key=key)  # deleting a key never written is a no-op
        raise PackagingError(f"upload of {artifact} to {uri} failed and was removed: {error}") from None
    return UploadResult(uri=uri, uploaded=True)


def part_size_for(size: int) -> int:
    """The multipart part size: 64 MiB, larger where 10,000 parts would not hold the file."""
    return max(PART_SIZE, math.ceil(size / MAX_PARTS / 1024**2) * 1024**2)


def s3_sha256_checksum(path: Path, part_size: int) -> str:
    """What S3 reports as ChecksumSHA256: the object's hash, or for multipart uploads the hash of
    the parts' hashes followed by ``-<parts>``.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html"""
    size = path.stat().st_size
    part_digests: list[bytes] = []
    with path.open("rb") as handle:
        whole = hashlib.sha256()
        while chunk := handle.read(part_size):
            whole.update(chunk)
            part_digests.append(hashlib.sha256(chunk).digest())
    if size < part_size:
        return base64.b64encode(whole.digest()).decode()
    combined = hashlib.sha256(b"".join(part_digests)).digest()
    return f"{base64.b64encode(combined).decode()}-{len(part_digests)}"


def same_checksum(stored: str | None, expected: str) -> bool:
    """Compare checksums; a composite one may come without its ``-<parts>`` suffix (moto's S3)."""
    if stored is None:
        return False
    return stored == expected or ("-" not in stored and stored == expected.split("-", 1)[0])


def _read_manifest(artifact: Path) -> Manifest:
    artifact = Path(artifact)
    if not artifact.exists():
        raise PackagingError(f"{artifact} does not exist; build it with 'python -m model_packaging build'")
    manifest_path = artifact.parent / f"{artifact.name.removesuffix('.tar.gz')}.manifest.json"
    if not manifest_path.is_file():
        raise PackagingError(f"{manifest_path} is missing: upload only artifacts built by model_packaging")
    return Manifest.from_json(manifest_path.read_text(encoding="utf-8"))


def _head(client: Any, bucket: str, key: str, *, checksum: bool = False) -> dict[str, Any] | None:
    extra = {"ChecksumMode": "ENABLED"} if checksum else {}
    try:
        response: dict[str, Any] = client.head_object(Bucket=bucket, Key=key, **extra)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise PackagingError(f"cannot read s3://{bucket}/{key}: {error}") from None
    return response


def _bucket_problem(bucket: str, error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code")
    if code in ("404", "NoSuchBucket", "NotFound"):
        return f"bucket {bucket} does not exist (deploy the stateful stack first, or check --bucket)"
    if code in ("403", "AccessDenied"):
        return f"no access to bucket {bucket} with the current AWS credentials"
    return f"cannot use bucket {bucket}: {error}"
