"""Deploy synthesized templates into moto's CloudFormation, with the local AWS's fixes applied."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_aws.moto_fixes import install
from tests.conftest import SynthesizedEnvironment

REGION = "us-east-1"
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
ACCOUNT_ID = "123456789012"


def _zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def publish_file_assets(outdir: Path, stack_name: str) -> None:
    """Upload the stack's file assets to the bootstrap bucket, as ``cdk deploy`` does (folders
    zipped): what a custom resource or a Lambda function reads at deploy time must exist."""
    s3 = boto3.client("s3", region_name=REGION)
    manifest = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    for asset in manifest.get("files", {}).values():
        source = outdir / asset["source"]["path"]
        body = _zipped(source) if asset["source"]["packaging"] == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = destination["bucketName"].replace("${AWS::AccountId}", ACCOUNT_ID)
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)


@dataclass
class Deployed:
    env: str
    endpoint_type: str
    stacks: dict[str, dict[str, Any]]
    clients: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.clients.setdefault(service, boto3.client(service, region_name=REGION))


def deploy_to_moto(synth: SynthesizedEnvironment) -> Iterator[Deployed]:
    """GIVEN the synthesized templates of one environment, WHEN deployed to moto in stack order."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        with mock_aws():
            install()
            boto3.client("ssm", region_name=REGION).put_parameter(
                Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String"
            )
            cloudformation = boto3.client("cloudformation", region_name=REGION)
            stacks = {}
            for purpose in ("stateful", synth.endpoint_type):
                name = synth.stack(purpose).stack_name
                publish_file_assets(synth.outdir, name)
                cloudformation.create_stack(
                    StackName=name,
                    TemplateBody=(synth.outdir / f"{name}.template.json").read_text(),
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                )
                stacks[purpose] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
            yield Deployed(env=synth.env, endpoint_type=synth.endpoint_type, stacks=stacks, clients={})
