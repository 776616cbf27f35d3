"""ModelData: each artifact location becomes the right model data and the narrowest read grant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import cdk_json_context
from sagemaker_constructs.model_data import ArtifactLocation, ModelData


@pytest.fixture(scope="module")
def stack() -> cdk.Stack:
    app = cdk.App(context=cdk_json_context())
    return cdk.Stack(app, "ModelDataCheck", env=cdk.Environment(account="123456789012", region="eu-west-1"))


def _statements(stack: cdk.Stack, data: ModelData) -> list[Any]:
    return [stack.resolve(s.to_statement_json()) for s in data.read_statements]


def test_s3_object_is_read_as_model_data_url_with_a_grant_on_that_object(stack: cdk.Stack) -> None:
    data = ModelData(stack, "Object", location=ArtifactLocation(s3_uri="s3://models-b/minilm/model.tar.gz"))
    assert data.model_data_url == "s3://models-b/minilm/model.tar.gz"
    assert data.model_data_source is None
    assert _statements(stack, data) == [
        {"Action": "s3:GetObject", "Effect": "Allow", "Resource": "arn:aws:s3:::models-b/minilm/model.tar.gz"}
    ]
    assert data.wildcard_resources == []


def test_local_archive_becomes_a_file_asset_read_from_the_bootstrap_bucket(
    stack: cdk.Stack, tmp_path: Path
) -> None:
    archive = tmp_path / "model-0123456789abcdef.tar.gz"
    archive.write_bytes(b"not really gzip, the asset only hashes it")
    data = ModelData(stack, "Local", location=ArtifactLocation(local_archive=archive))
    url = stack.resolve(data.model_data_url)
    assert url.startswith("s3://cdk-hnb659fds-assets-123456789012-eu-west-1/")
    assert url.endswith(".gz")
    object_key = url.removeprefix("s3://")
    assert _statements(stack, data) == [
        {"Action": "s3:GetObject", "Effect": "Allow", "Resource": f"arn:aws:s3:::{object_key}"}
    ]


def test_empty_location_is_a_programming_error(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match="needs s3_uri, s3_prefix or local_archive"):
        ModelData(stack, "Nothing", location=ArtifactLocation())
