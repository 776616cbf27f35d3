"""The model artifact as SageMaker reads it: an S3 object, an S3 prefix, or a local archive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from model_packaging.manifest import Manifest


@dataclass(frozen=True)
class ArtifactLocation:
    """Exactly one of: ``s3_uri`` (model.tar.gz), ``s3_prefix`` (uncompressed), ``local_archive``.

    ``manifest`` is known for artifacts built by ``model_packaging``. ``readable_objects_arn`` is
    what to grant reads on when ``s3_uri`` is known only at deploy time (a token, such as a
    compilation job's output): an object ARN or an ARN pattern ending in ``*``.
    """

    s3_uri: str | None = None
    s3_prefix: str | None = None
    local_archive: Path | None = None
    manifest: Manifest | None = None
    readable_objects_arn: str | None = None


class ModelData(Construct):
    """Makes an ``ArtifactLocation`` usable by a SageMaker model.

    A local archive becomes a CDK file asset (uploaded by ``cdk deploy`` to the bootstrap bucket).
    An S3 prefix is read uncompressed through ``ModelDataSource`` (``CompressionType: None``), which
    skips the download-and-untar step for large models.
    https://docs.aws.amazon.com/sagemaker/latest/dg/large-model-inference-uncompressed.html
    Exposes ``model_data_url``, ``model_data_source`` (one of them is set), ``read_statements``,
    ``wildcard_resources`` (what in them ends in ``*``, for the policy owner to acknowledge) and
    ``asset`` (the CDK asset of a local archive, else None).
    """

    def __init__(self, scope: Construct, construct_id: str, *, location: ArtifactLocation) -> None:
        super().__init__(scope, construct_id)
        partition = cdk.Stack.of(self).partition
        self.location = location
        self.model_data_url: str | None = None
        self.asset: s3_assets.Asset | None = None
        self.model_data_source: sagemaker.CfnModel.ModelDataSourceProperty | None = None
        self.wildcard_resources: list[str] = []
        if location.local_archive is not None:
            asset = self.asset = s3_assets.Asset(self, "Archive", path=str(location.local_archive))
            self.model_data_url = asset.s3_object_url
            archive = asset.bucket.arn_for_objects(asset.s3_object_key)
            self.read_statements = [iam.PolicyStatement(actions=["s3:GetObject"], resources=[archive])]
        elif location.s3_prefix is not None:
            bucket, _, prefix = location.s3_prefix.removeprefix("s3://").partition("/")
            self.model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
                s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                    s3_uri=location.s3_prefix, s3_data_type="S3Prefix", compression_type="None"
                )
            )
            objects = f"arn:{partition}:s3:::{bucket}/{prefix}*"
            self.wildcard_resources = [objects]
            self.read_statements = [
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[f"arn:{partition}:s3:::{bucket}"],
                    conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
                ),
            ]
        elif location.s3_uri is not None:
            self.model_data_url = location.s3_uri
            if location.readable_objects_arn is not None:
                key_arn = location.readable_objects_arn
                if key_arn.endswith("*"):
                    self.wildcard_resources = [key_arn]
            elif cdk.Token.is_unresolved(location.s3_uri):
                raise ValueError("an s3_uri known only at deploy time needs readable_objects_arn")
            else:
                key_arn = f"arn:{partition}:s3:::{location.s3_uri.removeprefix('s3://')}"
            self.read_statements = [iam.PolicyStatement(actions=["s3:GetObject"], resources=[key_arn])]
        else:
            raise ValueError("ArtifactLocation needs s3_uri, s3_prefix or local_archive")
