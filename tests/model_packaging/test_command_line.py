"""``python -m model_packaging``: mistakes and missing AWS access answer in one line, exit 1,
with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

NO_AWS_ACCESS = {
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _packaging(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_packaging", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env if env is not None else dict(os.environ),
    )


def test_upload_to_an_environment_without_credentials_says_how_to_get_them() -> None:
    # GIVEN no AWS credentials anywhere
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | NO_AWS_ACCESS
    # WHEN uploading to dev's deployed bucket
    result = _packaging("upload", "build/artifacts/model-0.tar.gz", "--env", "dev", env=env)
    # THEN one line names the missing credentials and what to set
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert (
        "no AWS credentials while looking up export minilm-embeddings-dev-stateful-bucket-name"
        in result.stderr
    )
    assert "AWS_PROFILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_refuses_env_together_with_folders() -> None:
    # GIVEN --env and --model-dir, which used to build the env's folders and ignore --model-dir
    result = _packaging("build", "--env", "dev", "--model-dir", "somewhere/else")
    # THEN neither is guessed
    assert result.returncode == 1
    assert "give --env, or --model-dir with --code-dir (and --exclude, --requirements, --input-shapes), " in (
        result.stderr
    )
